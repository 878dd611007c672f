#!/usr/bin/env bash
# Training-step speed of two builds, alternated model by model and round by round so that both
# see the same machine (this class of VM is noisy): the check that a refactor left speed alone.
#   [STEPS=6] scripts/bench_before_after.sh BEFORE_BUILD AFTER_BUILD [ROUNDS=2] [extra bench_train_step flags]
# BEFORE_BUILD and AFTER_BUILD are build folders holding bin/bench_train_step. Prints one line per
# run and a table: median images/s of each build per model, over the rounds, and after/before.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  sed -n '2,6p' "$0" >&2
  exit 2
fi
before=$1/bin/bench_train_step
after=$2/bin/bench_train_step
rounds=${3:-2}
shift $(($# < 3 ? $# : 3))
for b in "$before" "$after"; do
  [[ -x $b ]] || { echo "bench_before_after: $b is not an executable" >&2; exit 2; }
done
models="resnet50 botnet50 hsanet_x hsanet_3x3"
results=$(mktemp)
trap 'rm -f "$results"' EXIT

run() {  # which binary model -> appends "which model img/s"
  local ips
  ips=$("$2" --model "$3" --batch 4 --size 224 --threads 2 --steps "${STEPS:-6}" --warmup 2 "${@:4}" 2>/dev/null |
        awk '/^images\/s:/ {print $2}')
  [[ -n $ips ]] || { echo "bench_before_after: $2 --model $3 printed no images/s line" >&2; exit 1; }
  echo "$1 $3 $ips" | tee -a "$results"
}

for ((r = 1; r <= rounds; ++r)); do
  for m in $models; do
    if ((r % 2)); then  # alternate which build goes first
      run before "$before" "$m" "$@"; run after "$after" "$m" "$@"
    else
      run after "$after" "$m" "$@"; run before "$before" "$m" "$@"
    fi
  done
done

echo
printf '%-12s %14s %14s %8s\n' model "before img/s" "after img/s" ratio
for m in $models; do
  median() { grep " $m " "$results" | awk -v w="$1" '$1 == w {print $3}' | sort -g |
             awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
  b=$(median before); a=$(median after)
  printf '%-12s %14.2f %14.2f %8.3f\n' "$m" "$b" "$a" "$(awk -v a="$a" -v b="$b" 'BEGIN {print a / b}')"
done
