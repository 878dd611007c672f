#!/usr/bin/env bash
# Runs one benchmark program on one short case with --benchmark_format=json and checks that its
# stdout is nothing but a JSON document holding at least one row. With a third argument,
# empty-ok, an empty stdout passes too: a program with nothing to measure here (the CUDA benchmark
# on a machine without a GPU) says so on stderr. Usage: check_json_stdout.sh PROGRAM FILTER [empty-ok]
set -euo pipefail
prog="$1"
filter="$2"
empty_ok="${3:-}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
"$prog" --benchmark_filter="$filter" --benchmark_format=json --benchmark_min_time=0.01 \
  --benchmark_repetitions=1 >"$out"
python3 - "$out" "$prog" "$empty_ok" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
if not text.strip():
    if sys.argv[3] == "empty-ok":
        print(f"{sys.argv[2]}: empty stdout (nothing to measure here)")
        sys.exit(0)
    sys.exit(f"{sys.argv[2]}: empty stdout: no benchmark ran")
try:
    doc = json.loads(text)
except json.JSONDecodeError as e:
    first = text.splitlines()[0] if text.splitlines() else ""
    sys.exit(f"{sys.argv[2]}: stdout is not JSON ({e}); its first line: {first!r}")
names = [b["name"] for b in doc.get("benchmarks", [])]
if not names:
    sys.exit(f"{sys.argv[2]}: the JSON report holds no benchmark")
print(f"{sys.argv[2]}: stdout is one JSON report with {len(names)} rows, e.g. {names[0]}")
PY
