#!/usr/bin/env bash
# scripts/pretrain_finetune.sh --smoke on the bundled faces: every stage runs, and summary.json,
# table.md, the curves and each fine-tuned run's init_from.json are where the docs say.
#   tests/pretrain_finetune_smoke.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
out=$(mktemp -d "${TMPDIR:-/tmp}/hsanet_pf_XXXXXX")
trap 'rm -rf "$out"' EXIT
cd "$src"
BUILD=$build THREADS=1 scripts/pretrain_finetune.sh --pretrain-data data/orl_faces --data data/orl_faces \
  --out "$out" --smoke > "$out.log" 2>&1 || { cat "$out.log"; rm -f "$out.log"; exit 1; }
rm -f "$out.log"
fail() { echo "pretrain_finetune_smoke: $*" >&2; exit 1; }
for m in resnet50 hsanet_x hsanet_3x3; do
  [ -f "$out/runs/finetuned/seed1/$m/init_from.json" ] || fail "no init_from.json in the fine-tuned $m run"
  [ ! -f "$out/runs/scratch/seed1/$m/init_from.json" ] || fail "the scratch $m run loaded weights"
done
for regime in scratch finetuned; do
  [ -f "$out/curves/$regime/compare_val_acc.svg" ] || fail "no $regime curves"
done
python3 - "$out/summary.json" <<'PY' || fail "summary.json lacks a key"
import json, sys
s = json.load(open(sys.argv[1]))
for m in ("resnet50", "hsanet_x", "hsanet_3x3"):
    for regime in ("scratch", "finetuned"):
        cell = s[m][regime]
        for k in ("val_acc_max", "val_acc_avg", "macro_f1", "weighted_f1", "seeds"):
            assert k in cell, (m, regime, k)
PY
[ "$(grep -c '| finetuned |' "$out/table.md")" = 3 ] || fail "table.md lacks the fine-tuned rows"
echo "pretrain_finetune_smoke: ok"
