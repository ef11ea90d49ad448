# Strict check of a Prometheus text exposition (format 0.0.4), for dblat's
# export tests. Usage: awk -f prom_check.awk FILE
#
# Every line must be "# HELP name text", "# TYPE name type" or a sample
# "name{label="value",...} value" with valid names, label syntax and escapes
# (\\ \" \n only), a float value, no empty lines. Each family has one HELP
# and one TYPE, before its samples; its samples are contiguous. Counters end
# in _total. A histogram's series have _bucket samples with an le label in
# increasing order and non-decreasing counts, a "+Inf" bucket equal to
# _count, and a _sum. No series appears twice.
# Prints each problem to stderr; exits 1 if there was any.

function bad(msg) {
	printf "prom_check: line %d: %s: %s\n", NR, msg, $0 > "/dev/stderr"
	nbad++
}

function is_float(v) {
	return v ~ /^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$/ || v ~ /^[-+]?Inf$/ || v == "NaN"
}

# Parses the labels at the start of s ("{...}" included); sets LKEY (the
# labels without le, as written), LE (le's value or "") and returns the
# length consumed, or -1.
function parse_labels(s,    i, n, c, d, name, val, seen) {
	LKEY = ""
	LE = ""
	n = length(s)
	i = 2
	split("", seen)
	while (1) {
		if (substr(s, i, 1) == "}")
			return i
		if (!match(substr(s, i), /^[a-zA-Z_][a-zA-Z0-9_]*="/))
			return -1
		name = substr(s, i, RLENGTH - 2)
		i += RLENGTH
		val = ""
		while (i <= n) {
			c = substr(s, i, 1)
			if (c == "\\") {
				d = substr(s, i + 1, 1)
				if (d != "\\" && d != "\"" && d != "n")
					return -1
				val = val c d
				i += 2
				continue
			}
			if (c == "\"")
				break
			val = val c
			i++
		}
		if (substr(s, i, 1) != "\"")
			return -1
		i++
		if (name in seen)
			return -1
		seen[name] = 1
		if (name == "le")
			LE = val
		else
			LKEY = LKEY (LKEY == "" ? "" : ",") name "=\"" val "\""
		c = substr(s, i, 1)
		if (c == ",")
			i++
		else if (c != "}")
			return -1
	}
}

BEGIN {
	nbad = 0
	cur = ""
}

/^$/ { bad("empty line"); next }

/^# HELP / {
	name = $3
	if (name !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*$/)
		bad("bad metric name in HELP")
	if (name in help)
		bad("second HELP for " name)
	if (name in done)
		bad("HELP after the samples of " name)
	help[name] = 1
	next
}

/^# TYPE / {
	name = $3
	if (NF != 4)
		bad("TYPE needs a name and a type")
	if ($4 !~ /^(counter|gauge|histogram|summary|untyped)$/)
		bad("unknown type " $4)
	if (name in type)
		bad("second TYPE for " name)
	if (!(name in help))
		bad("TYPE without HELP for " name)
	type[name] = $4
	if (cur != "")
		done[cur] = 1
	cur = name
	next
}

/^#/ { next }

{
	line = $0
	if (!match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*/)) {
		bad("bad metric name")
		next
	}
	mname = substr(line, 1, RLENGTH)
	rest = substr(line, RLENGTH + 1)
	LKEY = ""
	LE = ""
	if (substr(rest, 1, 1) == "{") {
		k = parse_labels(rest)
		if (k < 0) {
			bad("bad labels")
			next
		}
		rest = substr(rest, k + 1)
	}
	if (rest !~ /^ [^ ]+( -?[0-9]+)?$/) {
		bad("expected one space, a value and maybe a timestamp")
		next
	}
	split(substr(rest, 2), parts, " ")
	value = parts[1]
	if (!is_float(value))
		bad("value is not a float")

	fam = mname
	suffix = ""
	if (!(fam in type)) {
		if (match(mname, /_(bucket|sum|count)$/)) {
			fam = substr(mname, 1, RSTART - 1)
			suffix = substr(mname, RSTART + 1)
		}
	}
	if (!(fam in type)) {
		bad("sample without a TYPE")
		next
	}
	if (fam != cur)
		bad("sample of " fam " outside its family's block")
	if (type[fam] == "histogram" && suffix == "")
		bad("histogram sample without _bucket, _sum or _count")
	if (type[fam] != "histogram" && LE != "")
		bad("le label outside a histogram")
	if (type[fam] == "counter" && mname !~ /_total$/)
		bad("counter not named _total")
	if (type[fam] == "counter" && value + 0 < 0)
		bad("negative counter")

	key = mname "{" LKEY (LE != "" ? ",le=" LE : "") "}"
	if (key in series)
		bad("series repeated")
	series[key] = 1

	if (type[fam] != "histogram")
		next
	hkey = fam "{" LKEY "}"
	if (suffix == "bucket") {
		if (LE == "") {
			bad("bucket without le")
			next
		}
		le = (LE == "+Inf") ? "inf" : LE + 0
		if (!is_float(LE))
			bad("le is not a float")
		if (hkey in inf_seen)
			bad("bucket after +Inf")
		if (hkey in last_le && le != "inf" && le <= last_le[hkey])
			bad("le not increasing")
		if (hkey in last_n && value + 0 < last_n[hkey])
			bad("bucket count decreasing")
		last_le[hkey] = le
		last_n[hkey] = value + 0
		if (LE == "+Inf") {
			inf_seen[hkey] = 1
			inf_n[hkey] = value + 0
		}
		hists[hkey] = 1
	} else if (suffix == "count") {
		if (!(hkey in inf_seen))
			bad("_count before the +Inf bucket")
		else if (value + 0 != inf_n[hkey])
			bad("_count " value " differs from the +Inf bucket " inf_n[hkey])
		has_count[hkey] = 1
	} else {
		has_sum[hkey] = 1
		if (value + 0 < 0)
			bad("negative _sum")
	}
}

END {
	for (h in hists) {
		if (!(h in inf_seen)) {
			printf "prom_check: %s has no +Inf bucket\n", h > "/dev/stderr"
			nbad++
		}
		if (!(h in has_count) || !(h in has_sum)) {
			printf "prom_check: %s lacks _count or _sum\n", h > "/dev/stderr"
			nbad++
		}
	}
	for (n in help)
		if (!(n in type)) {
			printf "prom_check: HELP without TYPE for %s\n", n > "/dev/stderr"
			nbad++
		}
	if (NR == 0) {
		print "prom_check: empty input" > "/dev/stderr"
		nbad++
	}
	exit nbad > 0
}
