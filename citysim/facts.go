package citysim

import "time"

// cst is Shenzhen's local time. China Standard Time has been UTC+8 without
// daylight saving since 1991, so a fixed zone is exact for every date the
// simulator produces and needs no zoneinfo lookup (which would be I/O). The
// Shenzhen rule pack interprets dates in Asia/Shanghai, which is the same
// offset.
var cst = time.FixedZone("CST", 8*60*60)

// district is one of Shenzhen's ten districts with a plausible centre and
// how construction sites scatter around it.
//
// Centres (facts, rounded to about 100 m):
//   - Futian 22.5225 N 114.0558 E, Bao'an 22.5534 N 113.8840 E, Longhua
//     22.6574 N 114.0162 E: the coordinates of the districts' Wikipedia
//     articles ("Futian District", "Bao'an, Shenzhen", "Longhua New
//     District").
//   - Guangming 22.7761 N 113.9122 E: Guangming District government,
//     www.szgm.gov.cn/english ("22°46'34"N 113°54'44"E").
//   - Pingshan 22.6936 N 114.3414 E: the centre quoted in the Pingshan New
//     District introduction ("22°41'36.86"N 114°20'29.04"E").
//   - Dapeng 22.5998 N 114.4703 E: Dapeng subdistrict, seat of the new
//     district's administration (Wikipedia "Dapeng Subdistrict").
//   - Luohu 22.5482 N 114.1313 E, Nanshan 22.5333 N 113.9305 E, Yantian
//     22.5570 N 114.2370 E, Longgang 22.7200 N 114.2460 E: the coordinates
//     of the districts' Wikipedia articles (district government seats).
//
// The southern and western limits keep sites off the Shenzhen River, Shenzhen
// Bay and the Pearl River estuary; they are rough, not surveyed coastlines.
type district struct {
	name     string
	lat, lon float64
	spreadKm float64    // standard deviation of a project's distance from the centre
	southLat float64    // sites stay north of this latitude
	westLon  float64    // and east of this longitude (0: no limit)
	terrain  [3]float64 // probabilities of terrain D, C, B (GB 50009 categories)
	weight   float64    // relative share of the city's projects
	dust     float64    // background PM10 multiplier (industry, traffic)
	areas    []string   // subdistricts and neighbourhoods, for names and addresses
}

var districts = []district{
	{"Futian", 22.5225, 114.0558, 1.5, 22.515, 0, [3]float64{0.6, 0.4, 0}, 8, 1.0,
		[]string{"Chegongmiao", "Xiangmihu", "Huaqiangbei", "Meilin", "Shatou", "Lianhua"}},
	{"Luohu", 22.5482, 114.1313, 1.5, 22.535, 0, [3]float64{0.5, 0.5, 0}, 6, 1.0,
		[]string{"Dongmen", "Cuizhu", "Sungang", "Qingshuihe", "Liantang", "Huangbei"}},
	{"Nanshan", 22.5333, 113.9305, 2.5, 22.480, 113.880, [3]float64{0.5, 0.5, 0}, 10, 0.95,
		[]string{"Qianhai", "Shekou", "Houhai", "Xili", "Taoyuan", "Nantou", "Shahe"}},
	{"Yantian", 22.5570, 114.2370, 1.5, 22.550, 0, [3]float64{0, 0.5, 0.5}, 3, 0.9,
		[]string{"Shatoujiao", "Meisha", "Haishan", "Yantian Port"}},
	{"Bao'an", 22.5534, 113.8840, 3.0, 22.540, 113.800, [3]float64{0, 0.8, 0.2}, 16, 1.1,
		[]string{"Xixiang", "Xin'an", "Fuyong", "Shajing", "Songgang", "Hangcheng"}},
	{"Longgang", 22.7200, 114.2460, 3.0, 22.600, 0, [3]float64{0, 0.8, 0.2}, 16, 1.1,
		[]string{"Buji", "Bantian", "Henggang", "Longcheng", "Pingdi", "Pinghu"}},
	{"Longhua", 22.6574, 114.0162, 2.5, 22.600, 0, [3]float64{0, 0.8, 0.2}, 13, 1.05,
		[]string{"Minzhi", "Dalang", "Guanlan", "Guanhu", "Fucheng", "Longhua"}},
	{"Pingshan", 22.6936, 114.3414, 2.5, 22.620, 0, [3]float64{0, 0.4, 0.6}, 6, 1.0,
		[]string{"Kengzi", "Biling", "Shijing", "Longtian", "Pingshan"}},
	{"Guangming", 22.7761, 113.9122, 2.5, 22.700, 0, [3]float64{0, 0.5, 0.5}, 7, 1.05,
		[]string{"Fenghuang", "Gongming", "Matian", "Yutang", "Xinhu"}},
	{"Dapeng", 22.5998, 114.4703, 2.0, 22.550, 0, [3]float64{0, 0.3, 0.7}, 3, 0.75,
		[]string{"Kuichong", "Nan'ao", "Dapeng"}},
}

// terrainAlpha is the wind-profile power-law exponent per terrain category,
// GB 50009-2012 Load code for the design of building structures, §8.2.1 (the
// same values as the Shenzhen rule pack).
var terrainAlpha = map[string]float64{"A": 0.12, "B": 0.15, "C": 0.22, "D": 0.30}

// Monthly climate of Shenzhen, January first. Temperatures are the mean
// daily maximum and minimum, rainfall the monthly total, humidity the mean
// relative humidity: rounded from the 1991-2020 normals of the Shenzhen
// meteorological station (China Meteorological Administration, as tabulated
// in the climate box of Wikipedia's "Shenzhen" article); the annual total,
// about 1,935 mm, matches the Shenzhen government's figure. Wind is the
// typical mean 10 m wind of the city (about 2-3 m/s all year, a little more
// in the north-east monsoon of autumn and winter).
var (
	climateTmax  = [12]float64{20.2, 21.3, 23.7, 27.2, 30.4, 31.8, 32.8, 32.6, 31.6, 29.4, 25.9, 21.9}
	climateTmin  = [12]float64{12.5, 14.0, 16.8, 20.5, 23.9, 25.8, 26.3, 26.0, 25.0, 22.4, 18.3, 13.9}
	climateRain  = [12]float64{30, 45, 70, 160, 250, 370, 330, 370, 250, 50, 35, 30}
	climateRH    = [12]float64{70, 76, 80, 82, 82, 83, 81, 82, 78, 72, 69, 66}
	climateWind  = [12]float64{2.6, 2.5, 2.4, 2.3, 2.3, 2.4, 2.4, 2.2, 2.4, 2.7, 2.7, 2.7}
	climateDust  = [12]float64{1.15, 1.1, 1.0, 0.92, 0.86, 0.85, 0.85, 0.86, 0.92, 1.0, 1.1, 1.15}
	rainEpisodes = [12]float64{0.15, 0.2, 0.3, 0.4, 0.55, 0.7, 0.6, 0.65, 0.5, 0.2, 0.12, 0.1}         // rain episodes per day
	gustSpells   = [12]float64{0.12, 0.12, 0.15, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.15, 0.12, 0.12} // gusty spells per day
)

// Shenzhen rainstorm warning signal criteria (Shenzhen Meteorological
// Bureau): yellow when 50 mm is expected in 6 h, orange 50 mm in 3 h, red
// 100 mm in 3 h.
const (
	rainYellow6h = 50.0
	rainOrange3h = 50.0
	rainRed3h    = 100.0
)
