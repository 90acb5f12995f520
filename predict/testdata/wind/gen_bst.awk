# gen_bst.awk writes a JMA best-track CSV of ../shared/data/typhoons back in
# the RSMC Tokyo best-track line format ("Format of RSMC Best Track Data"):
#   awk -F, -f gen_bst.awk mangkhut_2018_1822_jma.csv > mangkhut_2018_1822.bst
# The header line is the one quoted in the CSV's "# Header line:" comment.
/^# Header line: / { sub(/^# Header line: /, ""); print; next }
/^#/ || /^time_utc/ { next }
{
	t = $1; gsub(/[-T:Z]/, "", t)            # 2018-09-06T12:00Z -> 201809061200
	ymdh = substr(t, 3, 8)
	line = sprintf("%s 002 %d %03d %04d %4d", ymdh, $2, $3 * 10 + 0.5, $4 * 10 + 0.5, $5)
	if ($6 != "") {
		line = line sprintf("     %03d     %d%04d %04d %d%04d %04d", $6, $8, $9, $10, $11, $12, $13)
		if ($14 != "") line = line sprintf("         %s", $14)
	}
	print line
}
