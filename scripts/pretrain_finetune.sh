#!/usr/bin/env bash
# Pretrain once, then fine-tune and train from scratch: does the attention block help, and in which
# regime? (docs/finetuning.md)
#
#   scripts/pretrain_finetune.sh --pretrain-data DIR --data DIR --out DIR
#                                [--quick | --smoke] [--seeds N] [--pretrained FILE]
#
# 1. Pretrains ResNet-50 on --pretrain-data into OUT/pretrain (or takes --pretrained FILE, a
#    weights file of the same width and blocks).
# 2. Trains resnet50, hsanet_x and hsanet_3x3 on --data with the paper's recipe (SGD, lr 0.005,
#    cosine to 0.25 x lr, batch 4), seeds 1..N, twice: from scratch into
#    OUT/runs/scratch/seed<S>/<model>, and --init-from the pretrained best.safetensors into
#    OUT/runs/finetuned/seed<S>/<model> (fc.* and the attention start fresh; init_from.json in
#    each run lists what was loaded).
# 3. Writes OUT/summary.json and OUT/table.md (the paper's Table 1 for both regimes, mean and
#    spread over seeds: scripts/finetune_summary.py) and the curves of seed 1 (Figures 5-8) into
#    OUT/curves/{scratch,finetuned}/ (hsanet compare).
#
# Both data sets are LFW crops by default: the face sits in the middle 150x150 of 250x250, so every
# run keeps the central 0.6 of each side (CENTER_CROP). Modes:
#   (default)  112x112, full width, pretraining 40 epochs (~40 min on 2 cores in bf16), 30 epochs per run
#   --quick    64x64, width 0.5, pretraining 4 epochs, 8 epochs per run, 1 seed: the whole
#              pipeline in about 22 minutes on 2 cores (docs/finetuning.md: the measured times)
#   --smoke    32x32, width 0.125, one block per stage, 1 epoch, 2 batches per epoch: seconds;
#              proves the pipeline (the test suite runs it on the bundled faces)
# Environment overrides, after the mode: IMG_SIZE, WIDTH, BLOCKS ("3 4 6 3"), PRETRAIN_EPOCHS,
# EPOCHS, LIMIT_BATCHES (0: all), THREADS (0: all cores), MODELS, PRETRAIN_FLAGS (the pretraining
# recipe), FT_FLAGS (more flags for the fine-tuned runs only, e.g. "--freeze-epochs 2"), EXTRA
# (more flags for every run), BUILD (build). A stopped script can be started again: finished runs
# are kept, unfinished ones resume.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/pretrain_finetune.sh --pretrain-data DIR --data DIR --out DIR [--quick | --smoke] [--seeds N] [--pretrained FILE]" >&2
  exit 2
}

PRETRAIN_DATA="" DATA="" OUT="" MODE=full SEEDS="" PRETRAINED=""
while [ $# -gt 0 ]; do
  case "$1" in
    --pretrain-data) PRETRAIN_DATA=${2:?--pretrain-data needs a folder}; shift 2 ;;
    --data) DATA=${2:?--data needs a folder}; shift 2 ;;
    --out) OUT=${2:?--out needs a folder}; shift 2 ;;
    --seeds) SEEDS=${2:?--seeds needs a number}; shift 2 ;;
    --pretrained) PRETRAINED=${2:?--pretrained needs a file}; shift 2 ;;
    --quick) MODE=quick; shift ;;
    --smoke) MODE=smoke; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "pretrain_finetune.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
if [ -z "$DATA" ] || [ -z "$OUT" ]; then usage; fi
[ -n "$PRETRAIN_DATA" ] || [ -n "$PRETRAINED" ] || { echo "pretrain_finetune.sh: give --pretrain-data or --pretrained" >&2; exit 2; }
[ -d "$DATA" ] || { echo "pretrain_finetune.sh: --data '$DATA' is not a folder" >&2; exit 2; }
[ -z "$PRETRAINED" ] || [ -f "$PRETRAINED" ] || { echo "pretrain_finetune.sh: --pretrained '$PRETRAINED' is not a file" >&2; exit 2; }
[ -n "$PRETRAINED" ] || [ -d "$PRETRAIN_DATA" ] || { echo "pretrain_finetune.sh: --pretrain-data '$PRETRAIN_DATA' is not a folder" >&2; exit 2; }

case "$MODE" in
  full)  d_img=112 d_width=1 d_blocks="3 4 6 3" d_pre=40 d_epochs=30 d_limit=0 d_seeds=2 ;;
  quick) d_img=64 d_width=0.5 d_blocks="3 4 6 3" d_pre=4 d_epochs=8 d_limit=0 d_seeds=1 ;;
  smoke) d_img=32 d_width=0.125 d_blocks="1 1 1 1" d_pre=1 d_epochs=1 d_limit=2 d_seeds=1 ;;
esac
IMG_SIZE=${IMG_SIZE:-$d_img}
WIDTH=${WIDTH:-$d_width}
BLOCKS=${BLOCKS:-$d_blocks}
PRETRAIN_EPOCHS=${PRETRAIN_EPOCHS:-$d_pre}
EPOCHS=${EPOCHS:-$d_epochs}
LIMIT_BATCHES=${LIMIT_BATCHES:-$d_limit}
SEEDS=${SEEDS:-$d_seeds}
THREADS=${THREADS:-0}
CENTER_CROP=${CENTER_CROP:-0.6}
MODELS=${MODELS:-resnet50 hsanet_x hsanet_3x3}
# Pretraining on a few hundred identities: a larger batch and lr with warm-up, label smoothing.
PRETRAIN_FLAGS=${PRETRAIN_FLAGS:---batch-size 32 --lr 0.02 --alpha 0.01 --warmup-steps 160 --weight-decay 5e-4 --label-smoothing 0.1}
FT_FLAGS=${FT_FLAGS:-}
EXTRA=${EXTRA:-}
BUILD=${BUILD:-build}
[[ "$SEEDS" =~ ^[1-9][0-9]*$ ]] || { echo "pretrain_finetune.sh: --seeds must be a positive number, got '$SEEDS'" >&2; exit 2; }

if [ ! -x "$BUILD/bin/cpu_train" ] || [ ! -x "$BUILD/bin/hsanet" ]; then
  [ "$BUILD" = build ] || { echo "pretrain_finetune.sh: no cpu_train in $BUILD/bin" >&2; exit 2; }
  scripts/build.sh
fi
mkdir -p "$OUT"
# shellcheck disable=SC2206
shape=(--img-size "$IMG_SIZE" --width-mult "$WIDTH" --blocks $BLOCKS --center-crop "$CENTER_CROP"
       --threads "$THREADS" --limit-batches "$LIMIT_BATCHES")

# train RUN_DIR FLAGS...: new, resumed or kept, with its time on the console.
train() {
  local run=$1; shift
  local start=$SECONDS
  if [ -f "$run/report.json" ]; then
    echo "== $run: finished earlier"
    return
  elif [ -f "$run/last.safetensors" ]; then
    echo "== $run: resuming"
    "$BUILD/bin/cpu_train" --resume "$run" --threads "$THREADS"
  else
    echo "== $run: training"
    rm -rf "$run"  # a run stopped before its first epoch starts again
    "$BUILD/bin/cpu_train" --out "$run" "$@"
  fi
  echo "== $run: $((SECONDS - start)) s"
}

total=$SECONDS
if [ -z "$PRETRAINED" ]; then
  # shellcheck disable=SC2086
  train "$OUT/pretrain" --data "$PRETRAIN_DATA" --model resnet50 --epochs "$PRETRAIN_EPOCHS" --seed 1 \
    "${shape[@]}" $PRETRAIN_FLAGS $EXTRA
  PRETRAINED="$OUT/pretrain/best.safetensors"
fi

for seed in $(seq 1 "$SEEDS"); do
  for m in $MODELS; do
    # The paper's recipe (cpu_train's defaults: SGD momentum 0.9, lr 0.005, cosine to 0.25 x lr, batch 4).
    common=(--data "$DATA" --model "$m" --epochs "$EPOCHS" --seed "$seed" --lr 0.005 --alpha 0.25 --batch-size 4
            "${shape[@]}")
    # shellcheck disable=SC2086
    train "$OUT/runs/scratch/seed$seed/$m" "${common[@]}" $EXTRA
    # shellcheck disable=SC2086
    train "$OUT/runs/finetuned/seed$seed/$m" "${common[@]}" --init-from "$PRETRAINED" $FT_FLAGS $EXTRA
  done
done

python3 scripts/finetune_summary.py "$OUT"
for regime in scratch finetuned; do
  runs=()
  for m in $MODELS; do runs+=("$OUT/runs/$regime/seed1/$m"); done
  "$BUILD/bin/hsanet" compare "${runs[@]}" --out "$OUT/curves/$regime" --no-model-table > "$OUT/curves_$regime.log"
done
echo "pretrain_finetune.sh: $((SECONDS - total)) s in all; $OUT/summary.json, $OUT/table.md, $OUT/curves/{scratch,finetuned}/"
