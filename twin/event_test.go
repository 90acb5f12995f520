package twin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// baseEnvelope is a valid sensor.reading as a JSON object, for cases that
// change one attribute.
func baseEnvelope() map[string]any {
	return map[string]any{
		"specversion": "1.0", "id": "gw-1-20260612T0318", "type": "sensor.reading",
		"source": "iot-gateway/S1", "time": "2026-06-12T03:18:00Z",
		"project": "P1", "site": "S1",
		"data": map[string]any{"kind": "pm10", "value": 168, "unit": "µg/m³"},
	}
}

func marshalEnvelope(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeEnvelope(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(m map[string]any)
		field string // "" for a valid event
	}{
		{"valid", func(m map[string]any) {}, ""},
		{"datacontenttype with charset", func(m map[string]any) { m["datacontenttype"] = "application/json; charset=utf-8" }, ""},
		{"unknown extension attribute is ignored", func(m map[string]any) { m["traceparent"] = "00-abc-def-01" }, ""},
		{"missing specversion", func(m map[string]any) { delete(m, "specversion") }, "specversion"},
		{"specversion 0.3", func(m map[string]any) { m["specversion"] = "0.3" }, "specversion"},
		{"specversion as number", func(m map[string]any) { m["specversion"] = 1.0 }, "specversion"},
		{"missing id", func(m map[string]any) { delete(m, "id") }, "id"},
		{"id with space", func(m map[string]any) { m["id"] = "gw 1" }, "id"},
		{"id too long", func(m map[string]any) { m["id"] = strings.Repeat("x", maxIDLen+1) }, "id"},
		{"missing type", func(m map[string]any) { delete(m, "type") }, "type"},
		{"unknown type", func(m map[string]any) { m["type"] = "sensor.readings" }, "type"},
		{"missing source", func(m map[string]any) { delete(m, "source") }, "source"},
		{"source too long", func(m map[string]any) { m["source"] = strings.Repeat("s", maxTextLen+1) }, "source"},
		{"missing time", func(m map[string]any) { delete(m, "time") }, "time"},
		{"time not RFC 3339", func(m map[string]any) { m["time"] = "2026-06-12 03:18:00" }, "time"},
		{"time date only", func(m map[string]any) { m["time"] = "2026-06-12" }, "time"},
		{"time as number", func(m map[string]any) { m["time"] = 1781234280 }, "time"},
		{"time before 1970", func(m map[string]any) { m["time"] = "1969-12-31T23:59:59Z" }, "time"},
		{"time after 2200", func(m map[string]any) { m["time"] = "2201-01-01T00:00:00Z" }, "time"},
		{"time 1970 local but 1969 UTC", func(m map[string]any) { m["time"] = "1970-01-01T07:00:00+08:00" }, "time"},
		{"time 2200 local but 2201 UTC", func(m map[string]any) { m["time"] = "2200-12-31T23:00:00-05:00" }, "time"},
		{"time with offset", func(m map[string]any) { m["time"] = "2026-06-12T11:18:00+08:00" }, ""},
		{"datacontenttype xml", func(m map[string]any) { m["datacontenttype"] = "application/xml" }, "datacontenttype"},
		{"missing project", func(m map[string]any) { delete(m, "project") }, "project"},
		{"project city-wide for a sensor", func(m map[string]any) { m["project"] = "*" }, "project"},
		{"project with slash-free bad char", func(m map[string]any) { m["project"] = "P1;drop" }, "project"},
		{"sensor reading without site", func(m map[string]any) { delete(m, "site") }, "site"},
		{"site with unicode", func(m map[string]any) { m["site"] = "工地1" }, "site"},
		{"drill with space", func(m map[string]any) { m["drill"] = "typhoon drill" }, "drill"},
		{"drill id", func(m map[string]any) { m["drill"] = "drill-2026-08" }, ""},
		{"missing data", func(m map[string]any) { delete(m, "data") }, "data"},
		{"data null", func(m map[string]any) { m["data"] = nil }, "data"},
		{"data a string", func(m map[string]any) { m["data"] = "pm10=168" }, "data"},
		{"data an array", func(m map[string]any) { m["data"] = []any{1, 2} }, "data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := baseEnvelope()
			tt.edit(m)
			e, err := Decode(marshalEnvelope(t, m))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if !e.Time.Equal(ts("2026-06-12T03:18:00Z")) {
					t.Errorf("time %v", e.Time)
				}
				return
			}
			if got := validationField(err); got != tt.field {
				t.Fatalf("Decode error %v: field %q, want %q", err, got, tt.field)
			}
			if errors.Is(err, ErrMalformed) {
				t.Errorf("a bad field must not be reported as malformed: %v", err)
			}
			if e != nil {
				t.Errorf("Decode returned an event with an error")
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	valid := string(marshalEnvelope(t, baseEnvelope()))
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"white space", " \n\t"},
		{"null", "null"},
		{"array", "[]"},
		{"string", `"sensor.reading"`},
		{"number", "42"},
		{"true", "true"},
		{"unterminated", `{"specversion":"1.0"`},
		{"two objects", valid + " " + valid},
		{"trailing garbage", valid + " x"},
		{"trailing brace", valid + "}"},
		{"trailing bracket", valid + "]"},
		{"not JSON", "specversion=1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.in))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%q) = %v, %v; want ErrMalformed", tt.in, e, err)
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		m := baseEnvelope()
		m["source"] = strings.Repeat("x", maxEventLen)
		_, err := Decode(marshalEnvelope(t, m))
		if got := validationField(err); got != "event" {
			t.Fatalf("field %q (%v), want event", got, err)
		}
	})
}

// decodeData decodes an event of type typ with the given data object.
func decodeData(typ, data string) (*Event, error) {
	project := "P1"
	if StreamOf(typ) == StreamWeather {
		project = "*"
	}
	b := fmt.Sprintf(`{"specversion":"1.0","id":"e-1","type":%q,"source":"test","time":"2026-06-12T03:18:00Z","project":%q,"site":"S1","data":%s}`, typ, project, data)
	return Decode([]byte(b))
}

func TestDecodeData(t *testing.T) {
	const (
		reg     = `"name":"Qianhai Talent Housing","district":"Nanshan","kind":"housing","owner":"o1","contractor":"c1","supervisor":"s1","budget_cny":8.6e8,"planned_start":"2026-03-01","planned_finish":"2027-12-31"`
		m1      = `{"id":"M1","optimistic_days":8,"likely_days":10,"pessimistic_days":14,"budget_share":0.4}`
		m2      = `{"id":"M2","optimistic_days":15,"likely_days":20,"pessimistic_days":30,"depends_on":["M1"],"budget_share":0.6}`
		trackPt = `{"time":"2026-08-14T00:00:00Z","lat":19.8,"lon":117.9,"pressure_hpa":955,"max_wind_ms":42,"wind_avg_minutes":2}`
	)
	tests := []struct {
		name  string
		typ   string
		data  string
		field string // "" for valid
	}{
		// project.registered
		{"registered valid", TypeProjectRegistered, `{` + reg + `}`, ""},
		{"registered missing name", TypeProjectRegistered, `{` + strings.Replace(reg, `"name":"Qianhai Talent Housing"`, `"name":" "`, 1) + `}`, "data.name"},
		{"registered missing district", TypeProjectRegistered, `{` + strings.Replace(reg, `"Nanshan"`, `""`, 1) + `}`, "data.district"},
		{"registered bad kind", TypeProjectRegistered, `{` + strings.Replace(reg, `"housing"`, `"villa"`, 1) + `}`, "data.kind"},
		{"registered bad owner id", TypeProjectRegistered, `{` + strings.Replace(reg, `"o1"`, `"owner one"`, 1) + `}`, "data.owner"},
		{"registered missing contractor", TypeProjectRegistered, `{` + strings.Replace(reg, `"c1"`, `""`, 1) + `}`, "data.contractor"},
		{"registered missing supervisor", TypeProjectRegistered, `{` + strings.Replace(reg, `"s1"`, `""`, 1) + `}`, "data.supervisor"},
		{"registered zero budget", TypeProjectRegistered, `{` + strings.Replace(reg, `8.6e8`, `0`, 1) + `}`, "data.budget_cny"},
		{"registered negative budget", TypeProjectRegistered, `{` + strings.Replace(reg, `8.6e8`, `-5`, 1) + `}`, "data.budget_cny"},
		{"registered absurd budget", TypeProjectRegistered, `{` + strings.Replace(reg, `8.6e8`, `1e300`, 1) + `}`, "data.budget_cny"},
		{"registered budget as string", TypeProjectRegistered, `{` + strings.Replace(reg, `8.6e8`, `"8.6e8"`, 1) + `}`, "data.budget_cny"},
		{"registered missing planned_start", TypeProjectRegistered, `{` + strings.Replace(reg, `"2026-03-01"`, `""`, 1) + `}`, "data.planned_start"},
		{"registered bad planned_finish", TypeProjectRegistered, `{` + strings.Replace(reg, `"2027-12-31"`, `"end of 2027"`, 1) + `}`, "data.planned_finish"},
		{"registered finish before start", TypeProjectRegistered, `{` + strings.Replace(reg, `"2027-12-31"`, `"2026-02-01"`, 1) + `}`, "data.planned_finish"},
		{"registered deadline as number", TypeProjectRegistered, `{` + reg + `,"deadline":20280229}`, "data.deadline"},
		{"registered deadline year 9999", TypeProjectRegistered, `{` + reg + `,"deadline":"9999-12-31"}`, "data.deadline"},
		{"registered deadline timestamp", TypeProjectRegistered, `{` + reg + `,"deadline":"2028-02-29T16:00:00Z"}`, ""},
		{"registered address too long", TypeProjectRegistered, `{` + reg + `,"address":"` + strings.Repeat("a", maxTextLen+1) + `"}`, "data.address"},

		// site.added
		{"site valid", TypeSiteAdded, `{"name":"Plot 07-02","lat":22.52,"lon":113.90}`, ""},
		{"site missing name", TypeSiteAdded, `{"lat":22.52,"lon":113.90}`, "data.name"},
		{"site lat 91", TypeSiteAdded, `{"name":"x","lat":91,"lon":113.90}`, "data.lat"},
		{"site lon -181", TypeSiteAdded, `{"name":"x","lat":22.5,"lon":-181}`, "data.lon"},
		{"site terrain E", TypeSiteAdded, `{"name":"x","lat":22.5,"lon":113.9,"terrain":"E"}`, "data.terrain"},

		// equipment.installed
		{"crane valid", TypeEquipmentInstalled, `{"equipment":"TC1","kind":"tower_crane","height_m":60,"jib_length_m":55}`, ""},
		{"pit valid", TypeEquipmentInstalled, `{"equipment":"PIT1","kind":"foundation_pit","depth_m":18,"alarm_cumulative_mm":35,"alarm_rate_mm_per_day":3}`, ""},
		{"equipment missing id", TypeEquipmentInstalled, `{"kind":"tower_crane","height_m":60,"jib_length_m":55}`, "data.equipment"},
		{"equipment bad kind", TypeEquipmentInstalled, `{"equipment":"EX1","kind":"excavator"}`, "data.kind"},
		{"crane zero height", TypeEquipmentInstalled, `{"equipment":"TC1","kind":"tower_crane","jib_length_m":55}`, "data.height_m"},
		{"crane 500 m", TypeEquipmentInstalled, `{"equipment":"TC1","kind":"tower_crane","height_m":500,"jib_length_m":55}`, "data.height_m"},
		{"crane zero jib", TypeEquipmentInstalled, `{"equipment":"TC1","kind":"tower_crane","height_m":60}`, "data.jib_length_m"},
		{"crane limit 150 m/s", TypeEquipmentInstalled, `{"equipment":"TC1","kind":"tower_crane","height_m":60,"jib_length_m":55,"in_service_limit_ms":150}`, "data.in_service_limit_ms"},
		{"crane negative out-of-service limit", TypeEquipmentInstalled, `{"equipment":"TC1","kind":"tower_crane","height_m":60,"jib_length_m":55,"out_of_service_limit_ms":-1}`, "data.out_of_service_limit_ms"},
		{"pit zero depth", TypeEquipmentInstalled, `{"equipment":"PIT1","kind":"foundation_pit"}`, "data.depth_m"},
		{"pit 300 m", TypeEquipmentInstalled, `{"equipment":"PIT1","kind":"foundation_pit","depth_m":300}`, "data.depth_m"},
		{"pit cumulative alarm 2 m", TypeEquipmentInstalled, `{"equipment":"PIT1","kind":"foundation_pit","depth_m":18,"alarm_cumulative_mm":2000}`, "data.alarm_cumulative_mm"},
		{"pit rate alarm 200", TypeEquipmentInstalled, `{"equipment":"PIT1","kind":"foundation_pit","depth_m":18,"alarm_rate_mm_per_day":200}`, "data.alarm_rate_mm_per_day"},

		// plan.baselined
		{"plan valid", TypePlanBaselined, `{"milestones":[` + m1 + `,` + m2 + `]}`, ""},
		{"plan empty", TypePlanBaselined, `{"milestones":[]}`, "data.milestones"},
		{"plan missing milestones", TypePlanBaselined, `{}`, "data.milestones"},
		{"plan milestone without id", TypePlanBaselined, `{"milestones":[` + strings.Replace(m1, `"id":"M1",`, ``, 1) + `]}`, "data.milestones[0].id"},
		{"plan duplicate id", TypePlanBaselined, `{"milestones":[` + m1 + `,` + strings.Replace(m1, `0.4`, `0.6`, 1) + `]}`, "data.milestones[1].id"},
		{"plan likely below optimistic", TypePlanBaselined, `{"milestones":[` + strings.Replace(m1, `"likely_days":10`, `"likely_days":5`, 1) + `,` + m2 + `]}`, "data.milestones[0].likely_days"},
		{"plan negative optimistic", TypePlanBaselined, `{"milestones":[` + strings.Replace(m1, `"optimistic_days":8`, `"optimistic_days":-1`, 1) + `,` + m2 + `]}`, "data.milestones[0].optimistic_days"},
		{"plan zero pessimistic", TypePlanBaselined, `{"milestones":[{"id":"M1","budget_share":1}]}`, "data.milestones[0].pessimistic_days"},
		{"plan share 1.5", TypePlanBaselined, `{"milestones":[` + strings.Replace(m1, `0.4`, `1.5`, 1) + `]}`, "data.milestones[0].budget_share"},
		{"plan unknown dependency", TypePlanBaselined, `{"milestones":[` + m1 + `,` + strings.Replace(m2, `["M1"]`, `["M9"]`, 1) + `]}`, "data.milestones[1].depends_on[0]"},
		{"plan self dependency", TypePlanBaselined, `{"milestones":[` + m1 + `,` + strings.Replace(m2, `["M1"]`, `["M1","M2"]`, 1) + `]}`, "data.milestones[1].depends_on[1]"},
		{"plan shares 0.33 x 3 sum to 1 within 0.01", TypePlanBaselined, `{"milestones":[` + strings.Replace(m1, `0.4`, `0.33`, 1) + `,` + strings.Replace(m2, `0.6`, `0.33`, 1) + `,` +
			strings.NewReplacer(`"M1"`, `"M3"`, `0.4`, `0.33`).Replace(m1) + `]}`, ""},
		{"plan shares sum to 0.98", TypePlanBaselined, `{"milestones":[` + strings.Replace(m1, `0.4`, `0.38`, 1) + `,` + m2 + `]}`, "data.milestones"},
		{"plan shares sum to 0.9", TypePlanBaselined, `{"milestones":[` + strings.Replace(m1, `0.4`, `0.3`, 1) + `,` + m2 + `]}`, "data.milestones"},
		{"plan dependency cycle", TypePlanBaselined, `{"milestones":[` + strings.Replace(m1, `"budget_share"`, `"depends_on":["M2"],"budget_share"`, 1) + `,` + m2 + `]}`, "data.milestones"},
		{"plan milestones an object", TypePlanBaselined, `{"milestones":{"id":"M1"}}`, "data.milestones"},

		// sensor.reading
		{"reading valid", TypeSensorReading, `{"kind":"noise","value":68.2,"unit":"dB(A)"}`, ""},
		{"reading unknown kind", TypeSensorReading, `{"kind":"co2","value":400,"unit":"ppm"}`, "data.kind"},
		{"reading missing kind", TypeSensorReading, `{"value":400,"unit":"ppm"}`, "data.kind"},
		{"reading bad unit", TypeSensorReading, `{"kind":"pm10","value":168,"unit":"ppm"}`, "data.unit"},
		{"reading missing unit", TypeSensorReading, `{"kind":"pm10","value":168}`, "data.unit"},
		{"reading value as string", TypeSensorReading, `{"kind":"pm10","value":"168","unit":"µg/m³"}`, "data.value"},
		{"reading value beyond float64", TypeSensorReading, `{"kind":"pm10","value":1e400,"unit":"µg/m³"}`, "data.value"},
		{"reading pm10 implausible", TypeSensorReading, `{"kind":"pm10","value":30000,"unit":"µg/m³"}`, "data.value"},
		{"reading pm10 implausible after conversion", TypeSensorReading, `{"kind":"pm10","value":25,"unit":"mg/m³"}`, "data.value"},
		{"reading negative pm10", TypeSensorReading, `{"kind":"pm10","value":-1,"unit":"µg/m³"}`, "data.value"},
		{"reading humidity 101", TypeSensorReading, `{"kind":"humidity","value":101,"unit":"%"}`, "data.value"},
		{"reading tilt 90 degrees", TypeSensorReading, `{"kind":"crane_tilt","value":90,"unit":"deg","equipment":"TC1"}`, "data.value"},
		{"crane load without equipment", TypeSensorReading, `{"kind":"crane_load","value":80,"unit":"%"}`, "data.equipment"},
		{"pit displacement without equipment", TypeSensorReading, `{"kind":"pit_displacement","value":12,"unit":"mm"}`, "data.equipment"},
		{"reading bad equipment id", TypeSensorReading, `{"kind":"wind_speed","value":12,"unit":"m/s","equipment":"TC 1"}`, "data.equipment"},

		// progress
		{"progress valid", TypeProgressReported, `{"milestone":"M1","percent_complete":42.5}`, ""},
		{"progress missing milestone", TypeProgressReported, `{"percent_complete":42.5}`, "data.milestone"},
		{"progress 120 percent", TypeProgressReported, `{"milestone":"M1","percent_complete":120}`, "data.percent_complete"},
		{"progress negative percent", TypeProgressReported, `{"milestone":"M1","percent_complete":-0.1}`, "data.percent_complete"},
		{"milestone completed missing milestone", TypeMilestoneCompleted, `{}`, "data.milestone"},

		// payments
		{"disbursed valid", TypeFundsDisbursed, `{"amount_cny":43100000,"milestone":"M1","account":"escrow-1"}`, ""},
		{"disbursed zero", TypeFundsDisbursed, `{"amount_cny":0}`, "data.amount_cny"},
		{"disbursed negative", TypeFundsDisbursed, `{"amount_cny":-100}`, "data.amount_cny"},
		{"disbursed absurd", TypeFundsDisbursed, `{"amount_cny":1e14}`, "data.amount_cny"},
		{"disbursed bad milestone id", TypeFundsDisbursed, `{"amount_cny":100,"milestone":"M 1"}`, "data.milestone"},
		{"wages negative workers", TypeWagesPaid, `{"amount_cny":100,"workers":-3}`, "data.workers"},
		{"wages fractional workers", TypeWagesPaid, `{"amount_cny":100,"workers":1.5}`, "data.workers"},
		{"deposit bad account", TypeWageAccountDeposited, `{"amount_cny":100,"account":"账户"}`, "data.account"},

		// change orders
		{"change order valid", TypeChangeOrderApproved, `{"change_order":"CO-1","amount_cny":-250000,"days":-3}`, ""},
		{"change order missing id", TypeChangeOrderApproved, `{"amount_cny":100}`, "data.change_order"},
		{"change order absurd amount", TypeChangeOrderApproved, `{"change_order":"CO-1","amount_cny":2e13}`, "data.amount_cny"},
		{"change order 4000 days", TypeChangeOrderApproved, `{"change_order":"CO-1","amount_cny":0,"days":4000}`, "data.days"},

		// inspection
		{"hazard valid", TypeHazardFound, `{"hazard":"HZ1","severity":"major","category":"scaffolding","deadline":"2026-07-10"}`, ""},
		{"hazard missing id", TypeHazardFound, `{"severity":"major","category":"scaffolding","deadline":"2026-07-10"}`, "data.hazard"},
		{"hazard severity minor", TypeHazardFound, `{"hazard":"HZ1","severity":"minor","category":"scaffolding","deadline":"2026-07-10"}`, "data.severity"},
		{"hazard missing category", TypeHazardFound, `{"hazard":"HZ1","severity":"major","deadline":"2026-07-10"}`, "data.category"},
		{"hazard missing deadline", TypeHazardFound, `{"hazard":"HZ1","severity":"major","category":"scaffolding"}`, "data.deadline"},
		{"hazard deadline month 13", TypeHazardFound, `{"hazard":"HZ1","severity":"major","category":"scaffolding","deadline":"2026-13-01"}`, "data.deadline"},
		{"hazard deadline object", TypeHazardFound, `{"hazard":"HZ1","severity":"major","category":"scaffolding","deadline":{"date":"2026-07-10"}}`, "data.deadline"},
		{"rectified missing hazard", TypeHazardRectified, `{}`, "data.hazard"},
		{"acceptance of a milestone", TypeAcceptancePassed, `{"milestone":"M1"}`, ""},
		{"acceptance of neither", TypeAcceptancePassed, `{}`, "data"},
		{"acceptance of both", TypeAcceptancePassed, `{"milestone":"M1","hazard":"HZ1"}`, "data"},
		{"acceptance bad hazard id", TypeAcceptancePassed, `{"hazard":"HZ 1"}`, "data.hazard"},
		{"inspection valid", TypeInspectionCompleted, `{"inspection":"IN-1","result":"pass"}`, ""},
		{"inspection missing id", TypeInspectionCompleted, `{"result":"pass"}`, "data.inspection"},
		{"inspection result maybe", TypeInspectionCompleted, `{"inspection":"IN-1","result":"maybe"}`, "data.result"},
		{"inspection negative findings", TypeInspectionCompleted, `{"inspection":"IN-1","result":"fail","findings":-1}`, "data.findings"},
		{"inspection bad deadline", TypeInspectionCompleted, `{"inspection":"IN-1","result":"fail","hazard":"HZ1","deadline":"soon"}`, "data.deadline"},

		// weather
		{"typhoon valid", TypeTyphoonAdvisory, `{"name":"Wutip","issued":"2026-08-14T00:00:00Z","track":[` + trackPt + `]}`, ""},
		{"typhoon missing name", TypeTyphoonAdvisory, `{"issued":"2026-08-14T00:00:00Z","track":[` + trackPt + `]}`, "data.name"},
		{"typhoon missing issued", TypeTyphoonAdvisory, `{"name":"Wutip","track":[` + trackPt + `]}`, "data.issued"},
		{"typhoon empty track", TypeTyphoonAdvisory, `{"name":"Wutip","issued":"2026-08-14","track":[]}`, "data.track"},
		{"typhoon lat 95", TypeTyphoonAdvisory, `{"name":"Wutip","issued":"2026-08-14","track":[` + strings.Replace(trackPt, `19.8`, `95`, 1) + `]}`, "data.track[0].lat"},
		{"typhoon pressure 800", TypeTyphoonAdvisory, `{"name":"Wutip","issued":"2026-08-14","track":[` + strings.Replace(trackPt, `955`, `800`, 1) + `]}`, "data.track[0].pressure_hpa"},
		{"typhoon 5-minute wind", TypeTyphoonAdvisory, `{"name":"Wutip","issued":"2026-08-14","track":[` + strings.Replace(trackPt, `"wind_avg_minutes":2`, `"wind_avg_minutes":5`, 1) + `]}`, "data.track[0].wind_avg_minutes"},
		{"typhoon point without time", TypeTyphoonAdvisory, `{"name":"Wutip","issued":"2026-08-14","track":[` + strings.Replace(trackPt, `"time":"2026-08-14T00:00:00Z",`, ``, 1) + `]}`, "data.track[0].time"},
		{"typhoon track times not increasing", TypeTyphoonAdvisory, `{"name":"Wutip","issued":"2026-08-14","track":[` + trackPt + `,` + trackPt + `]}`, "data.track[1].time"},
		{"typhoon lat as string", TypeTyphoonAdvisory, `{"name":"Wutip","issued":"2026-08-14","track":[` + strings.Replace(trackPt, `19.8`, `"19.8N"`, 1) + `]}`, "data.track.lat"},
		{"rain valid", TypeRainfallWarning, `{"level":"red","issued":"2026-06-12T07:20:00Z","valid_until":"2026-06-12"}`, ""},
		{"rain level purple", TypeRainfallWarning, `{"level":"purple","issued":"2026-06-12T07:20:00Z"}`, "data.level"},
		{"rain missing issued", TypeRainfallWarning, `{"level":"red"}`, "data.issued"},
		{"rain bad valid_until", TypeRainfallWarning, `{"level":"red","issued":"2026-06-12","valid_until":"tonight"}`, "data.valid_until"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := decodeData(tt.typ, tt.data)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if e.Type != tt.typ {
					t.Fatalf("type %q", e.Type)
				}
				return
			}
			if got := validationField(err); got != tt.field {
				t.Fatalf("Decode error %v: field %q, want %q", err, got, tt.field)
			}
		})
	}
}

func TestDecodeNormalisesUnits(t *testing.T) {
	tests := []struct {
		name      string
		kind      string
		value     float64
		unit      string
		want      float64
		wantUnit  string
		equipment string
	}{
		{"pm10 canonical", SensorPM10, 168, "µg/m³", 168, "µg/m³", ""},
		{"pm10 ascii", SensorPM10, 168, "ug/m3", 168, "µg/m³", ""},
		{"pm10 greek mu", SensorPM10, 168, "μg/m³", 168, "µg/m³", ""},
		{"pm10 mg/m³", SensorPM10, 0.2, "mg/m³", 200, "µg/m³", ""},
		{"pm25 mg/m³", SensorPM25, 0.075, "mg/m³", 75, "µg/m³", ""},
		{"noise dBA", SensorNoise, 71.5, "dBA", 71.5, "dB(A)", ""},
		{"wind km/h", SensorWindSpeed, 72, "km/h", 20, "m/s", ""},
		{"wind kt", SensorWindSpeed, 10, "kt", 5.14444, "m/s", ""},
		{"gust kn", SensorWindGust, 40, "kn", 20.57776, "m/s", ""},
		{"tilt permille", SensorCraneTilt, 2.5, "permille", 2.5, "‰", "TC1"},
		{"tilt 0.25 degrees", SensorCraneTilt, 0.25, "deg", 4.363350, "‰", "TC1"},
		{"tilt -0.1 degree sign", SensorCraneTilt, -0.1, "°", -1.745329, "‰", "TC1"},
		{"pit displacement in m", SensorPitDisplacement, 0.032, "m", 32, "mm", "PIT1"},
		{"temperature degC", SensorTemperature, 38.5, "degC", 38.5, "°C", ""},
		{"humidity %RH", SensorHumidity, 85, "%RH", 85, "%", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := fmt.Sprintf(`{"kind":%q,"value":%v,"unit":%q,"equipment":%q}`, tt.kind, tt.value, tt.unit, tt.equipment)
			if tt.equipment == "" {
				d = fmt.Sprintf(`{"kind":%q,"value":%v,"unit":%q}`, tt.kind, tt.value, tt.unit)
			}
			e, err := decodeData(TypeSensorReading, d)
			if err != nil {
				t.Fatal(err)
			}
			r := e.Data.(*SensorReading)
			if math.Abs(r.Value-tt.want) > 1e-5 || r.Unit != tt.wantUnit {
				t.Errorf("got %v %s, want %v %s", r.Value, r.Unit, tt.want, tt.wantUnit)
			}
			if r.Unit != CanonicalUnit(tt.kind) {
				t.Errorf("unit %q is not the canonical %q", r.Unit, CanonicalUnit(tt.kind))
			}
		})
	}
	t.Run("site terrain defaults to C", func(t *testing.T) {
		e, err := decodeData(TypeSiteAdded, `{"name":"x","lat":22.5,"lon":113.9}`)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Data.(*SiteAdded).Terrain; got != "C" {
			t.Errorf("terrain %q", got)
		}
	})
}

// equalEvents reports how two events differ ("" when equal): times by
// instant, data by value.
func equalEvents(a, b *Event) string {
	switch {
	case a.ID != b.ID, a.Type != b.Type, a.Source != b.Source, a.Project != b.Project, a.Site != b.Site, a.Drill != b.Drill:
		return fmt.Sprintf("attributes differ: %+v vs %+v", *a, *b)
	case !a.Time.Equal(b.Time):
		return fmt.Sprintf("time %v vs %v", a.Time, b.Time)
	case !reflect.DeepEqual(a.Data, b.Data):
		return fmt.Sprintf("data %#v vs %#v", a.Data, b.Data)
	}
	return ""
}

// TestExamples decodes the example of every event type in
// testdata/events (the README shows them) and checks the round trip
// Decode -> Encode -> Decode.
func TestExamples(t *testing.T) {
	for _, typ := range Types() {
		t.Run(typ, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "events", typ+".json"))
			if err != nil {
				t.Fatalf("every event type needs an example: %v", err)
			}
			e, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if e.Type != typ {
				t.Fatalf("type %q in %s.json", e.Type, typ)
			}
			enc, err := Encode(e)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			e2, err := Decode(enc)
			if err != nil {
				t.Fatalf("Decode(Encode): %v\n%s", err, enc)
			}
			if diff := equalEvents(e, e2); diff != "" {
				t.Fatal(diff)
			}
			enc2, err := Encode(e2)
			if err != nil {
				t.Fatal(err)
			}
			if string(enc) != string(enc2) {
				t.Errorf("Encode is not stable:\n%s\n%s", enc, enc2)
			}
			gotType, gotProject, err := Peek(b)
			if err != nil || gotType != typ || gotProject != e.Project {
				t.Errorf("Peek = %q, %q, %v", gotType, gotProject, err)
			}
		})
	}
	t.Run("no stray examples", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
		if len(files) != len(Types()) {
			t.Errorf("%d example files for %d types", len(files), len(Types()))
		}
	})
}

func TestEncodeWithoutData(t *testing.T) {
	_, err := Encode(&Event{ID: "x", Type: TypeSensorReading})
	if validationField(err) != "data" {
		t.Fatalf("Encode without data: %v", err)
	}
}

// TestReceivedNotEncoded: Received is the runtime's arrival time, not part
// of the CloudEvent: Encode leaves it out and Decode leaves it zero.
func TestReceivedNotEncoded(t *testing.T) {
	e := reading(day10, SensorPM10, 168, "µg/m³", "")
	e.Received = ts("2026-06-12T02:00:03Z")
	b, err := Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("2026-06-12T02:00:03")) || bytes.Contains(b, []byte("received")) {
		t.Fatalf("Received was encoded: %s", b)
	}
	d, err := Decode(b)
	if err != nil || !d.Received.IsZero() || equalEvents(e, d) != "" {
		t.Fatalf("Decode: %+v, %v", d, err)
	}
}

func TestTypesAndStreams(t *testing.T) {
	streams := map[string]bool{}
	for _, s := range Streams() {
		streams[s] = true
	}
	for _, typ := range Types() {
		if !streams[StreamOf(typ)] {
			t.Errorf("type %s has stream %q", typ, StreamOf(typ))
		}
	}
	if StreamOf("nope") != "" {
		t.Error("unknown type has a stream")
	}
	if _, _, err := Peek([]byte("nope")); !errors.Is(err, ErrMalformed) {
		t.Errorf("Peek of garbage: %v", err)
	}
}
