# Renders the pieces summarize-table.jq prints (see there) as the table's text.
function num(spec,    a, s) {
	split(spec, a, ",")
	if (a[4] == "-") s = "-"
	else if (a[3] == "I") s = a[4]
	else s = sprintf("%." a[1] "f", a[4] + 0)
	return a[2] > 0 ? sprintf("%" a[2] "s", s) : s
}
BEGIN { FS = "\t" }
{
	out = ""; grp = ""; gw = -1
	for (i = 1; i <= NF; i++) {
		c = substr($i, 1, 1); piece = ""
		if (c == "s") piece = substr($i, 2)
		else if (c == "n") piece = num(substr($i, 2))
		else if (c == "[") { gw = substr($i, 2) + 0; grp = ""; continue }
		else if (c == "]") { piece = sprintf("%-" gw "s", grp); gw = -1 }
		else piece = $i
		if (gw >= 0) grp = grp piece
		else out = out piece
	}
	print out
}
