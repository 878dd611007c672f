#!/usr/bin/env bash
# Random kills: cpu_train is SIGKILLed at random moments, each time continued with --resume, and
# must end with exactly the weights of a run that was never interrupted (one compute thread, so
# every step is deterministic).
#
#   scripts/kill_resume_check.sh [--quick] [--kills N] [--seed S] [--bin DIR] [--keep]
#
#   --quick   CI size: 4 identities at 32x32, 6 epochs, 5 kills (a few seconds)
#   default   10 identities at 64x64, 10 epochs, 20 kills (about half a minute on 2 cores)
#   --kills   number of kills (default 20, --quick 5)
#   --seed    seed of the kill moments (default: the time); printed so a failure can be replayed
#   --bin     where cpu_train is (default build/bin)
#   --keep    keep the work folder
#
# Each kill moment is drawn uniformly between 0 and 35 % of what is left of the run (estimated from
# the uninterrupted run's wall time and the epochs completed so far, plus start-up), so kills land
# in start-up, training, validation and the writes of an epoch. A resume that fails by itself
# (before its kill) stops the check with its log. At the end every tensor of last and best
# and the run's state must equal the uninterrupted run's, byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0 kills="" seed="" bin=build/bin keep=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --kills) kills="$2"; shift ;;
    --seed) seed="$2"; shift ;;
    --bin) bin="$2"; shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "kill_resume_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ $quick == 1 ]]; then classes=4 epochs=6 size=32 kills=${kills:-5}; else classes=10 epochs=10 size=64 kills=${kills:-20}; fi
seed=${seed:-$(date +%s)}
train="$bin/cpu_train"
[[ -x $train ]] || { echo "kill_resume_check: no $train (build first)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/kill_resume.XXXXXX")
cleanup() { [[ $keep == 1 ]] && echo "work folder kept: $work" || rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/faces"
for d in $(ls -d data/orl_faces/s* | sort | head -n "$classes"); do cp -r "$d" "$work/faces/"; done

common=(--data "$work/faces" --epochs "$epochs" --batch-size 8 --lr 0.02 --threads 1 --workers 1 --seed 3
        --width-mult 0.125 --blocks 1 1 1 1 --img-size "$size")
export OMP_NUM_THREADS=1

start=$(date +%s%N)
"$train" "${common[@]}" --out "$work/whole" > "$work/whole.log" 2>&1 ||
  { cat "$work/whole.log"; echo "kill_resume_check: the uninterrupted run failed" >&2; exit 1; }
whole_ms=$(( ($(date +%s%N) - start) / 1000000 ))
startup_ms=200
echo "uninterrupted run: ${whole_ms} ms; $kills kills, seed $seed"

RANDOM=$seed
run="$work/parts"
killed=0 finished_early=0
for ((k = 1; k <= kills; ++k)); do
  done_epochs=0
  [[ -f $run/metrics.csv ]] && done_epochs=$(( $(wc -l < "$run/metrics.csv") - 1 ))
  left_ms=$(( whole_ms * (epochs - done_epochs) / epochs + startup_ms ))
  delay_ms=$(( (RANDOM * 32768 + RANDOM) % (left_ms * 35 / 100 + 1) ))
  # Killed before config.json was written: the same command starts it again (the directory holds
  # at most the killed writer's temporary files).
  if [[ -f $run/config.json ]]; then args=(--resume "$run"); else args=("${common[@]}" --out "$run"); fi
  "$train" "${args[@]}" > "$work/try$k.log" 2>&1 &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  if kill -KILL "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true
    killed=$((killed + 1))
    echo "  try $k: killed after ${delay_ms} ms (epochs completed before it: $done_epochs)"
  else
    if ! wait "$pid"; then
      cat "$work/try$k.log"
      echo "kill_resume_check: try $k (${args[*]:0:2}) failed by itself; seed $seed" >&2
      exit 1
    fi
    finished_early=$((finished_early + 1))
    echo "  try $k: finished before its kill at ${delay_ms} ms"
  fi
done

# The last resume runs to the end.
if [[ -f $run/config.json ]]; then final=(--resume "$run"); else final=("${common[@]}" --out "$run"); fi
"$train" "${final[@]}" > "$work/final.log" 2>&1 ||
  { cat "$work/final.log"; echo "kill_resume_check: the final resume failed; seed $seed" >&2; exit 1; }

python3 - "$work/whole" "$run" <<'EOF'
import json, struct, sys

def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items()}
    return tensors, meta

bad = 0
for name in ("last.safetensors", "best.safetensors"):
    a, ma = read(f"{sys.argv[1]}/{name}")
    b, mb = read(f"{sys.argv[2]}/{name}")
    if a.keys() != b.keys():
        print(f"{name}: different tensors"); bad += 1; continue
    diff = [k for k in a if a[k] != b[k]]
    if diff:
        print(f"{name}: {len(diff)} tensors differ, e.g. {diff[0]}"); bad += 1
    for key in ("epoch", "global_step", "best_val_acc", "best_epoch"):
        if ma.get(key) != mb.get(key):
            print(f"{name}: metadata {key}: {ma.get(key)} vs {mb.get(key)}"); bad += 1
    print(f"{name}: {len(a)} tensors compared, {len(diff)} differ")
sys.exit(1 if bad else 0)
EOF
echo "kill_resume_check: passed: $killed kills ($finished_early tries finished before their kill), final weights identical"
