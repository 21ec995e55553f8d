# Formats `go test -bench -benchmem` output as a table: one row per benchmark,
# ns/op, B/op, allocs/op and any custom metrics (e.g. MiB-resident, rows/s).
/^pkg: / { pkg = $2; sub(/.*\//, "", pkg) }
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	ns = b = allocs = extra = ""
	for (i = 3; i < NF; i += 2) {
		v = $i; u = $(i + 1)
		if (u == "ns/op") ns = v
		else if (u == "B/op") b = v
		else if (u == "allocs/op") allocs = v
		else extra = extra (extra == "" ? "" : ", ") v " " u
	}
	rows[++n] = sprintf("| %-10s | %-48s | %14s | %12s | %10s | %s", pkg, name, ns, b, allocs, extra)
}
END {
	printf "| %-10s | %-48s | %14s | %12s | %10s | %s\n", "package", "benchmark", "ns/op", "B/op", "allocs/op", "other"
	printf "|%s|%s|%s|%s|%s|%s\n", "------------", "--------------------------------------------------", "----------------", "--------------", "------------", "------"
	for (i = 1; i <= n; i++) print rows[i]
}
