#!/usr/bin/env bash
# ctest driver for scripts/check_report.sh: a finished run's files written here (two of the
# bundled identities, one validation image predicted wrongly), `hsanet report` to build
# report.html, then the browser check; and two pages the check must refuse (a blank one, one
# lacking a section). Exit 77 (ctest: skipped) when Chromium is not installed.
#
# Usage: check_report_test.sh HSANET_BINARY SOURCE_DIR
set -euo pipefail
hsanet=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run=$tmp/run
mkdir -p "$run"
cat > "$run/config.json" << JSON
{"data": "$src/data/orl_faces", "model": "hsanet_3x3", "epochs": 3, "lr": 0.05, "img-size": 32}
JSON
cat > "$run/metrics.csv" << CSV
epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,val_top5
1,1.600000,0.300000,1.500000,0.400000,0.05000000,2.00,1.000000
2,1.100000,0.600000,1.000000,0.600000,0.02500000,2.00,1.000000
3,0.700000,0.800000,0.800000,0.750000,0.01000000,2.00,1.000000
CSV
cat > "$run/report.json" << JSON
{"accuracy": 0.75, "top5_accuracy": 1.0, "loss": 0.8, "val_acc_avg": 0.5833, "val_acc_max": 0.75,
 "val_acc_max_epoch": 3, "model": "hsanet_3x3", "classes": ["s1", "s2"],
 "per_class": {"s1": {"precision": 0.6667, "recall": 1.0, "f1": 0.8, "support": 2},
               "s2": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}},
 "macro_avg": {"precision": 0.8333, "recall": 0.75, "f1": 0.7333, "support": 4},
 "weighted_avg": {"precision": 0.8333, "recall": 0.75, "f1": 0.7333, "support": 4}}
JSON
printf 'true\\predicted,s1,s2\ns1,2,0\ns2,1,1\n' > "$run/confusion.csv"
printf 'file,true,pred,confidence\ns1/1.pgm,s1,s1,0.91\ns1/2.pgm,s1,s1,0.84\ns2/1.pgm,s2,s1,0.62\ns2/2.pgm,s2,s2,0.77\n' \
  > "$run/predictions.csv"

"$hsanet" report "$run"
status=0
"$src/scripts/check_report.sh" "$run" "$tmp/shot.png" || status=$?
if [ "$status" -ne 0 ]; then exit "$status"; fi   # 77: skipped, no Chromium

# A page with every section but nothing in it looks blank: refused.
mkdir -p "$tmp/blank"
{
  echo '<!DOCTYPE html><html><body>'
  for id in config curves accuracy classification confusion confused-pairs gallery explain; do
    echo "<section id=\"$id\"></section>"
  done
  echo '</body></html>'
} > "$tmp/blank/report.html"
if "$src/scripts/check_report.sh" "$tmp/blank" "$tmp/blank.png"; then
  echo "check_report_test: a blank page passed" >&2
  exit 1
fi
# The real page without its gallery section: refused.
mkdir -p "$tmp/partial"
sed 's/<section id="gallery">/<section id="pictures">/' "$run/report.html" > "$tmp/partial/report.html"
if "$src/scripts/check_report.sh" "$tmp/partial" "$tmp/partial.png" 2> "$tmp/partial.err"; then
  echo "check_report_test: a page without its gallery passed" >&2
  exit 1
fi
grep -q "section 'gallery' missing" "$tmp/partial.err"
echo "check_report_test: passed"
