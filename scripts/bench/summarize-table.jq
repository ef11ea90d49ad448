# The table of scripts/bench-overhead.sh results, from the results JSON that
# summarize.jq wrote. Prints one line of tab-separated pieces per table line;
# summarize.sh renders them with awk (printf does the number formatting):
#   s<text>                 literal text
#   n<nd>,<width>,<I|F>,<v> a number, right-justified to width (0: none); "-" when
#                           null; I: an integer, printed as is; F: printf %.<nd>f
#   [<width> ... ]          the pieces between, left-justified to width
# A median is an integer when it is the middle one of an odd number of integer
# values; ratios, means of two middles and quotients are not.

def truthy: . != null and . != false and . != 0 and . != "" and . != [] and . != {};
def spaces($n): if $n > 0 then [range($n)] | map(" ") | join("") else "" end;
def lj($w): . + spaces($w - length);
def rj($w): spaces($w - length) + .;
def pystr: if . == null then "None" elif . == true then "True" elif . == false then "False"
	elif type == "string" then . else tojson end;
def S($s): "s" + $s;
def N($v; $nd; $w; $int): "n\($nd),\($w),\(if $int then "I" else "F" end),\(if $v == null then "-" else $v | tostring end)";
def F($v; $nd; $w): N($v; $nd; $w; false);
# A signed difference: "+" before a value that is not negative.
def plus($v): if $v != null and $v < 0 then "" else "+" end;
def isint: type == "number" and . == floor;
def medint: map(select(. != null)) | sort | length % 2 == 1 and (.[(length - 1) / 2] | isint);
def group($w; $pieces): ["[\($w)"] + $pieces + ["]"];
def line: join("\t");
def rows: (.pairs | map(select(.clean))) as $c | if ($c | length) > 0 then $c else .pairs end;
def per($key): [ .pairs | to_entries[] | (if .key > 0 then S(" ") else empty end),
		 F(.value[$key]; 3; 0), S(if .value.clean then "" else "*" end) ];
def tput_row($name):
	rows as $rows
	| [S($name | lj(18) + " "), F(.untraced_tps_median; 0; 9), S(" "), F(.traced_tps_median; 0; 9), S(" "),
	   F(.tput_ratio_median; 3; 6), S("  ")] + group(20; per("tput_ratio"))
	+ [S(" "), F(.tput_ratio_best_of; 3; 6), S(" "),
	   N(.untraced_cpu_us_per_tx_median; 1; 9; $rows | map(.untraced_cpu_us_per_tx) | medint), S(" "),
	   N(.traced_cpu_us_per_tx_median; 1; 9; $rows | map(.traced_cpu_us_per_tx) | medint), S(" "),
	   F(.implied_tput_ratio; 3; 7), S(" "),
	   N(.other_cpu_pct_median; 1; 6; $rows | map(.other_cpu_pct[]) | medint)] | line;
def med: map(select(. != null)) | sort
	| if length == 0 then null
	  elif length % 2 == 1 then .[(length - 1) / 2]
	  else (.[length / 2 - 1] + .[length / 2]) / 2 end;

. as $res | .workloads as $wl | .comparisons as $comps | .dblat_sessions as $sess | .dblat as $d
| (.sessions | map(select(has("error") | not))) as $good
| [S("dblat overhead: mode \($d.mode)\(if ($d.args | truthy) then " (" + ($d.args | join(" ")) + ")" else "" end)\(if ($d.client_only | truthy) then ", client end only" else "" end), "
     + "\(if (.quick | truthy) then "quick" else "full" end), \(.pairs | pystr) pairs x \(.seconds_per_run | pystr) s\(if (.fixed_rate_seconds // .seconds_per_run) != .seconds_per_run then " (fixed rate \(.fixed_rate_seconds | pystr) s)" else "" end), "
     + "\(.machine.cpus | pystr) CPUs, pgbench -c \(.pgbench.clients | pystr) -j \(.pgbench.threads | pystr), "
     + "scale \(.cluster.scale | pystr), elapsed "), F(.elapsed_s; 0; 0), S(" s")] | line,
  "",
  ([S(("throughput" | lj(18)) + " " + ("untraced" | rj(9)) + " " + ("traced" | rj(9)) + " " + ("ratio" | rj(6)) + "  "
      + ("ratio per pair" | lj(20)) + " " + ("best" | rj(6)) + " " + ("CPU us/tx" | rj(9)) + " " + ("CPU us/tx" | rj(9))
      + " " + ("implied" | rj(7)) + " " + ("other" | rj(6)))] | line),
  ([S(("" | lj(18)) + " " + ("tps" | rj(9)) + " " + ("tps" | rj(9)) + " " + ("median" | rj(6)) + "  "
      + ("" | lj(20)) + " " + ("/best" | rj(6)) + " " + ("untraced" | rj(9)) + " " + ("traced" | rj(9))
      + " " + ("ratio" | rj(7)) + " " + ("CPU%" | rj(6)))] | line),
  # meta's list of workloads became the workloads object, in the same order
  ($wl | keys_unsorted[] as $w | $wl[$w] | tput_row($w)),
  (if $wl | has("fixed-rate") then
	$wl["fixed-rate"] | [S(("fixed-rate p99 us" | lj(18)) + " "), F(.untraced_p99_us_median; 0; 9), S(" "),
	  F(.traced_p99_us_median; 0; 9), S(" "), F(.p99_ratio_median; 3; 6), S("  ")] + group(20; per("p99_ratio"))
	+ [S(" " + spaces(6) + " at \($res.pgbench.fixed_rate_tps | pystr) tps; service-time p99 ratio "),
	   F(.p99_service_ratio_median; 3; 0)] | line
   else empty end),
  (if any($wl[]; .inrun_ratio_median != null or .inrun_p99_ratio_median != null) then
	"within traced runs (mean rate / rate far from the hooks, same seconds: the machine's drift cancels):",
	($wl | keys_unsorted[] as $w | $wl[$w] | select(.inrun_ratio_median != null)
	 | [S("  " + ($w | lj(18)) + " "), F(.inrun_ratio_median; 3; 6), S("  per pair ")] + per("inrun_ratio")
	 + [S("; hooks attached "), F(.hooks_attached_share_median * 100; 1; 0), S("% of the time")] | line),
	($wl | to_entries[] | select(.value.inrun_p99_ratio_median != null) | .value
	 | [S("  " + ("fixed-rate p99" | lj(18)) + " "), F(.inrun_p99_ratio_median; 3; 6), S("  per pair ")]
	 + per("inrun_p99_ratio") + [S(" (p99 of the run / p99 far from the hooks)")] | line),
	($wl | to_entries[] | select(.value.inrun_p99_placebo_ratio_median != null) | .value
	 | [S("  " + ("  placebo" | lj(18)) + " "), F(.inrun_p99_placebo_ratio_median; 3; 6), S("  per pair ")]
	 + per("inrun_p99_placebo_ratio") + [S(" (the same on the untraced runs, the traced run's hooks laid over them)")] | line)
   else empty end),
  ($comps | keys_unsorted[] as $tool | $comps[$tool]
   | tput_row($tool),
     (if .calls_client_per_tx_median != null then
	[S(("" | lj(18)) + " on \(.workload): least work per statement, no events; statements timed per tx: client "),
	 F(.calls_client_per_tx_median; 3; 0), S(", server "), F(.calls_server_per_tx_median; 3; 0),
	 S("; BPF "), F(.bpf.us_per_tx_median; 2; 0), S(" us/tx; dblat: ratio "), F(.dblat_tput_ratio_median; 3; 0)] | line
      elif .start_hits_per_tx_median != null then
	[S(("" | lj(18)) + " on \(.workload): "), F(.start_hits_per_tx_median; 2; 0),
	 S(" start-probe hits/tx; dblat on the same workload: ratio "), F(.dblat_tput_ratio_median; 3; 0)] | line
      else
	[S(("" | lj(18)) + " on \(.workload): empty programs; dblat on the same workload: ratio "),
	 F(.dblat_tput_ratio_median; 3; 0)] | line
      end)),
  "",
  ([S(("dblat cost" | lj(18)) + " " + ("dblat" | rj(6)) + " " + ("BPF" | rj(7)) + " " + ("BPF" | rj(8)) + " "
      + ("BPF" | rj(6)) + " " + ("BPF" | rj(7)))] | line),
  ([S(("(median of runs)" | lj(18)) + " " + ("CPU%" | rj(6)) + " " + ("ns/run" | rj(7)) + " " + ("runs/s" | rj(8)) + " "
      + ("CPU%" | rj(6)) + " " + ("us/tx" | rj(7)))] | line),
  ($wl | keys_unsorted[] as $w | $wl[$w] | (.bpf // {}) as $b
   | [ $res.runs[] | select(.workload == $w and .arm == "dblat-profile" and (.bpf | truthy)) | .bpf.cpu_pct ] as $bcpu
   | [S($w | lj(18) + " "), N(.tracer_cpu_pct_median; 1; 6; rows | map(.tracer_cpu_pct) | medint), S(" "),
      F($b.ns_per_run_median; 0; 7), S(" "), F($b.runs_per_s_median; 0; 8), S(" "),
      N($b.cpu_pct_median; 1; 6; $bcpu | medint), S(" "), F($b.us_per_tx_median; 2; 7)] | line),
  ($wl | keys_unsorted[] as $w | $wl[$w] | (.bpf.programs // {}) as $p
   | select($p | length > 0)
   | "  \($w): " + ([ $p | to_entries[] | select((.value.runs_per_tx_median // 0) >= 0.01)
		     | "\(.key | ltrimstr("dbl_")) \(.value.runs_per_tx_median * 100 | round / 100)/tx x \(.value.ns_per_run_median // 0 | round) ns" ]
		   | join(", "))),
  "  (CPU% = % of one core while the load ran; BPF figures cover every hit of dblat's programs,",
  "   other processes' syscalls included; us/tx = BPF run time / transactions of the run;",
  "   BPF figures from the profile block, which runs with kernel.bpf_stats_enabled)",
  ([ ($wl[], $comps[]) | .pairs[] | select(.clean | not) ] | length) as $dirty
  | (if $dirty > 0 then
	([ $res.runs[] | (if (.foreign_tracing_names | truthy) then .foreign_tracing_names[] else empty end) ] | unique) as $names
	| ($names | map(select(startswith("dbl_")))) as $dbl
	| ($names | map(select(startswith("dbl_") | not))) as $rest
	| ((if ($dbl | length) > 0 then ["dbl_* x\($dbl | length) names: another dblat"] else [] end)
	   + $rest[:6] + (if ($rest | length) > 6 then ["..."] else [] end)) as $desc
	| "  * \($dirty) pair(s) ran while someone else's tracing BPF programs were loaded (\($desc | join(", "))):",
	  "    medians use the clean pairs of a workload when it has any (none clean: all pairs)."
     else empty end),
  ([ $wl[] | .other_cpu_pct_median ] | med) as $oth
  | (if $oth != null and $oth > 10 then
	([S("  WARNING: other load used a median "), F($oth; 0; 0), S("% of all CPUs during the runs: throughput and")] | line),
	"  CPU/tx pairs are noisy; rerun on a quiet machine before trusting a few-% difference."
     else empty end),
  ($res.syscall_tax as $tx | if ($tx.runs | length) > 0 then
	[S("syscall tax on a process dblat does not target (dd, 1-byte read+write, min CPU): untraced "),
	 F($tx.untraced_ns_per_syscall_min; 0; 0), S(" ns/syscall, dblat attached "),
	 F($tx.dblat_ns_per_syscall_min; 0; 0), S(" ns/syscall: " + plus($tx.added_ns_per_syscall)), F($tx.added_ns_per_syscall; 0; 0), S(" ns")] | line,
	(if $tx.floor_hooks_added_ns != null then
	   [S("  the same with empty programs on sys_exit + sk_data_ready: " + plus($tx.floor_hooks_added_ns)), F($tx.floor_hooks_added_ns; 0; 0),
	    S(" ns; on sock_send_length + sock_recv_length: " + plus($tx.floor_sockets_added_ns)), F($tx.floor_sockets_added_ns; 0; 0),
	    S(" ns; least-work design: " + plus($tx.floor_steady_added_ns)), F($tx.floor_steady_added_ns; 0; 0), S(" ns")] | line
	 else empty end)
   else empty end),
  "",
  ([S("dblat sessions: \($sess.sessions | pystr) (\($sess.failed_sessions | pystr) failed); events/s "),
    F($sess.events_per_s_median; 0; 0),
    S(" (median), received \($sess.events_received_total | pystr), dropped \($sess.dropped_total | pystr); reader at nice 0 "),
    F($sess.reader_raised_s_total; 1; 0), S(" s of "), F($sess.traced_s_total; 0; 0), S(" s; CPU over loads "),
    N($sess.cpu_pct_over_loads_median; 1; 0; $good | map(.cpu_pct_over_loads) | medint),
    S("% of a core; peak RSS "), F($sess.vm_hwm_mib_max; 1; 0), S(" MiB; BPF maps "), F($sess.bpf_map_kib_max; 0; 0),
    S(" KiB; attach "), N($sess.attach_s_median; 1; 0; $good | map(.attach_s) | medint),
    S(" s; calls seen / expected: client "), F($sess.client_capture_ratio_median; 3; 0),
    S(", server "), F($sess.server_capture_ratio_median; 3; 0)] | line),
  "",
  "targets:",
  ($res.targets[]
   | (if .pass == null then "n/a " elif .pass then "PASS" else "FAIL" end) as $mark
   # every target value is a ratio or a quotient but the dropped-event count
   | (.value != null and (.name | startswith("dropped")) and (.value | isint)) as $int
   | [S("  \($mark)  \(.name): "), N(.value; if $int then 1 else 3 end; 0; $int),
      S("\(if (.unit | truthy) then " " + .unit else "" end) (target \(.op) \(.limit | pystr))")] | line),
  "results: \($out)"
