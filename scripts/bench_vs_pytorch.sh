#!/usr/bin/env bash
# Side-by-side throughput: hsanet's bench_train_step and the PyTorch peer's bench_train_step.py
# (channels-last), alternated model by model and round by round so both see the same machine
# (this class of VM is noisy).
#   scripts/bench_vs_pytorch.sh [PEER_DIR] [ROUNDS]      (PEER_DIR defaults to ../shared/peer)
# Environment:
#   PYTHON=/usr/bin/python3   the Python whose torch is the peer: Debian's python3-torch 1.13 by
#                             default; PyTorch 2.x from PyPI in a venv, e.g.
#                             PYTHON=venv/bin/python (python3 -m venv venv; venv/bin/pip install
#                             torch torchvision: about 5 GB with its CUDA libraries)
#   PRECISION=fp32|bf16       bf16: hsanet's --precision bf16 against the peer's --amp bf16
#                             (torch.autocast on the CPU)
#   MODE=train|infer          a training step, or an eval-mode forward without gradients
#   MODELS, SPINS, STEPS      see below
# Needs: build/bin/bench_train_step; for Debian's torch, apt-get install python3-torch
# libopenblas0-openmp.
#
# Both runtimes are GNU libgomp, and how long a thread spins at the end of a parallel region
# before it sleeps moves both sides' step times by 5-15% (docs/performance.md). Each round runs
# every model under each spin count in SPINS, the same for both sides (OMP_WAIT_POLICY=passive
# with GOMP_SPINCOUNT set): 2000 is hsanet's default, 300000 libgomp's (and so PyTorch's) default.
set -euo pipefail
cd "$(dirname "$0")/.."
PEER=${1:-../shared/peer}
ROUNDS=${2:-2}
MODELS=${MODELS:-"resnet50 botnet50 hsanet_x hsanet_3x3"}
SPINS=${SPINS:-"2000 300000"}
STEPS=${STEPS:-6}
PYTHON=${PYTHON:-/usr/bin/python3}
PRECISION=${PRECISION:-fp32}
MODE=${MODE:-train}
case "$PRECISION" in
  fp32) ours_prec=(--precision fp32); peer_prec=() ;;
  bf16) ours_prec=(--precision bf16); peer_prec=(--amp bf16) ;;
  *) echo "PRECISION must be fp32 or bf16, not '$PRECISION'" >&2; exit 2 ;;
esac
case "$MODE" in train|infer) ;; *) echo "MODE must be train or infer, not '$MODE'" >&2; exit 2 ;; esac
OB=/usr/lib/$(gcc -print-multiarch)/openblas-openmp
export OMP_WAIT_POLICY=passive
[ -x build/bin/bench_train_step ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
[ -f "$PEER/bench_train_step.py" ] || { echo "no PyTorch peer at $PEER" >&2; exit 1; }
"$PYTHON" -c "import torch" 2>/dev/null || { echo "$PYTHON has no torch" >&2; exit 1; }
echo "# $MODE, $PRECISION; hsanet: $(build/bin/bench_train_step --model resnet50 --steps 1 --warmup 0 \
  "${ours_prec[@]}" --size 32 --batch 2 | grep '^precision')"
echo "# peer: torch $("$PYTHON" -c 'import torch; print(torch.__version__)') ($PYTHON)"

rows=$(mktemp)  # every measured row, for the summary
printf "%-11s %5s %7s %12s %12s %12s %12s %7s\n" model round spin "hsanet img/s" "torch img/s" \
  "hsanet MiB" "torch MiB" ratio
for round in $(seq 1 "$ROUNDS"); do
  for m in $MODELS; do
    for spin in $SPINS; do
      export GOMP_SPINCOUNT=$spin
      ours=$(OMP_NUM_THREADS=2 build/bin/bench_train_step --model "$m" --batch 4 --size 224 \
               --threads 2 --steps "$STEPS" --warmup 2 --mode "$MODE" "${ours_prec[@]}")
      ours_ips=$(echo "$ours" | awk '/^images\/s:/ {print $2}')
      ours_mib=$(echo "$ours" | awk '/^peak RSS:/ {print $3}')
      log=$(mktemp)
      /usr/bin/time -f "%M" -o "$log.rss" env LD_LIBRARY_PATH="$OB" "$PYTHON" \
        "$PEER/bench_train_step.py" --models "$m" --mode "$MODE" --formats nhwc --batch 4 \
        --size 224 --threads 2 --warmup 2 --steps "$STEPS" --max-steal 1.0 "${peer_prec[@]}" \
        > "$log" 2>&1
      torch_ms=$(awk -v m="$m" -v mode="$MODE" '$1 == m && $2 == mode {print $6}' "$log" | tail -1)
      torch_ips=$(awk -v ms="$torch_ms" 'BEGIN { if (ms > 0) printf "%.3f", 4000 / ms; else print "nan" }')
      torch_mib=$(awk '{printf "%.1f", $1 / 1024}' "$log.rss")
      ratio=$(awk -v a="$ours_ips" -v b="$torch_ips" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }')
      printf "%-11s %5d %7s %12s %12s %12s %12s %7s\n" "$m" "$round" "$spin" "$ours_ips" \
        "$torch_ips" "$ours_mib" "$torch_mib" "$ratio" | tee -a "$rows"
      rm -f "$log" "$log.rss"
    done
  done
done

# One model's ratio moves by up to 0.3 between rounds on a shared machine: the median over the
# rounds is the figure to quote, with its range.
if [ "$ROUNDS" -gt 1 ]; then
  echo
  printf "%-11s %7s %7s %13s\n" model spin median "ratio range"
  for m in $MODELS; do
    for spin in $SPINS; do
      awk -v m="$m" -v s="$spin" '$1 == m && $3 == s {print $8}' "$rows" | sort -g |
        awk -v m="$m" -v s="$spin" '{r[NR] = $1}
          END { if (NR == 0) exit
                med = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
                printf "%-11s %7s %7.2f %8.2f-%.2f\n", m, s, med, r[1], r[NR] }'
    done
  done
fi
rm -f "$rows"
