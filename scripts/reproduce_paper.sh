#!/usr/bin/env bash
# The paper's comparison, end to end: ResNet-50, HSANet(x) and HSANet(3x3) trained with the
# paper's settings (SGD lr 0.005 with cosine decay to 0.25 x lr, batch 4, 50 epochs, 224x224,
# random crop + flip + occlusion) on one folder data set, then their curves overlaid (Figures 5-8)
# and Tables 1 and 2.
#
#   scripts/reproduce_paper.sh DATA_DIR [OUT_DIR]      (OUT_DIR: runs/paper)
#
# Settings come from the environment: EPOCHS (50), IMG_SIZE (224), BATCH (4), LR (0.005),
# ALPHA (0.25), SEED (1), THREADS (0: all cores), CENTER_CROP (1.0), MODELS ("resnet50 hsanet_x
# hsanet_3x3"), EXTRA (more cpu_train flags), BUILD (the build folder: build). A stopped script
# can be started again: finished runs are kept, unfinished ones resume after their last
# completed epoch.
#
# Run time (docs/training.md, section 7): one epoch of the paper's recipe over 80 steps of 4
# images took 47 s (ResNet-50) and 83 s (HSANet(3x3)) on this 2-core machine, so 50 epochs on a
# 26-identity set of ~15 images each take ~40 min for ResNet-50 and ~1-1.2 h for each HSANet:
# about 2.5-3 hours for the three. IMG_SIZE=112 takes roughly a third to a quarter of that.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${1:?usage: scripts/reproduce_paper.sh DATA_DIR [OUT_DIR]}
OUT=${2:-runs/paper}
EPOCHS=${EPOCHS:-50}
IMG_SIZE=${IMG_SIZE:-224}
BATCH=${BATCH:-4}
LR=${LR:-0.005}
ALPHA=${ALPHA:-0.25}
SEED=${SEED:-1}
THREADS=${THREADS:-0}
CENTER_CROP=${CENTER_CROP:-1.0}
MODELS=${MODELS:-resnet50 hsanet_x hsanet_3x3}
EXTRA=${EXTRA:-}
BUILD=${BUILD:-build}

[ -d "$DATA" ] || { echo "reproduce_paper.sh: '$DATA' is not a folder" >&2; exit 2; }
if [ ! -x "$BUILD/bin/cpu_train" ] || [ ! -x "$BUILD/bin/hsanet" ]; then
  [ "$BUILD" = build ] || { echo "reproduce_paper.sh: no cpu_train in $BUILD/bin" >&2; exit 2; }
  scripts/build.sh
fi

runs=()
for m in $MODELS; do
  run="$OUT/$m"
  runs+=("$run")
  start=$SECONDS
  if [ -f "$run/report.json" ]; then
    echo "== $m: finished earlier ($run/report.json)"
    continue
  elif [ -f "$run/last.safetensors" ]; then
    echo "== $m: resuming $run"
    # shellcheck disable=SC2086
    "$BUILD/bin/cpu_train" --resume "$run" --threads "$THREADS"
  else
    echo "== $m: training into $run"
    # shellcheck disable=SC2086
    "$BUILD/bin/cpu_train" --data "$DATA" --model "$m" --epochs "$EPOCHS" --img-size "$IMG_SIZE" \
      --batch-size "$BATCH" --lr "$LR" --alpha "$ALPHA" --seed "$SEED" --threads "$THREADS" \
      --center-crop "$CENTER_CROP" --out "$run" $EXTRA
  fi
  echo "== $m: $((SECONDS - start)) s"
done

"$BUILD/bin/hsanet" compare "${runs[@]}" --out "$OUT"
