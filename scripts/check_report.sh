#!/usr/bin/env bash
# Renders a run's report.html (or hsanet compare's comparison.html) in headless Chromium and checks
# what a reader would see: the page is not blank (its screenshot has many colours) and every
# section is in the rendered document.
#
# Usage: scripts/check_report.sh RUN_DIR [SCREENSHOT.png]
#   RUN_DIR holds report.html (checked for sections config, curves, accuracy, classification,
#   confusion, confused-pairs, gallery, explain) or comparison.html (tables, figures).
#   SCREENSHOT.png: where the 1200x3000 screenshot goes (default RUN_DIR/report_screenshot.png).
# Exit status: 0 when the page passes; 1 when it does not; 2 for bad arguments; 77 when Chromium
# is not installed (ctest reports the test skipped): scripts/install_deps.sh --with-chromium.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  [ $# -ge 1 ] && { [ "$1" = "-h" ] || [ "$1" = "--help" ]; } && exit 0
  exit 2
fi
run_dir=$1
if [ -f "$run_dir/report.html" ]; then
  page="$run_dir/report.html"
  sections=(config curves accuracy classification confusion confused-pairs gallery explain)
elif [ -f "$run_dir/comparison.html" ]; then
  page="$run_dir/comparison.html"
  sections=(tables figures)
else
  echo "check_report: '$run_dir' holds neither report.html nor comparison.html (hsanet report RUN_DIR makes one)" >&2
  exit 1
fi
shot=${2:-$run_dir/report_screenshot.png}

browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" > /dev/null 2>&1; then browser=$b; break; fi
done
if [ -z "$browser" ]; then
  echo "skipped: chromium not installed (scripts/install_deps.sh --with-chromium)"
  exit 77
fi

url="file://$(cd "$(dirname "$page")" && pwd)/$(basename "$page")"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" --no-first-run)

if ! timeout 120 "$browser" "${flags[@]}" --screenshot="$shot" --window-size=1200,3000 "$url" > "$profile/shot.log" 2>&1 ||
   [ ! -s "$shot" ]; then
  echo "check_report: $browser made no screenshot of $page:" >&2
  tail -5 "$profile/shot.log" >&2
  exit 1
fi
timeout 120 "$browser" "${flags[@]}" --dump-dom "$url" > "$profile/dom.html" 2> "$profile/dom.log" || true
if [ ! -s "$profile/dom.html" ]; then
  echo "check_report: $browser dumped no document for $page:" >&2
  tail -5 "$profile/dom.log" >&2
  exit 1
fi

failed=0
for id in "${sections[@]}"; do
  if ! grep -q "<section id=\"$id\"" "$profile/dom.html"; then
    echo "check_report: section '$id' missing from the rendered $page" >&2
    failed=1
  fi
done

# Not blank: a rendered report has text, curves, a heat map and photos, hundreds of colours; an
# empty or unstyled white page has one or two.
colours=$(python3 "$(dirname "$0")/png_colours.py" "$shot") || { echo "check_report: cannot read $shot" >&2; exit 1; }
if [ "$colours" -lt 16 ]; then
  echo "check_report: the screenshot $shot has only $colours colours: the page looks blank" >&2
  failed=1
fi
if [ "$failed" -ne 0 ]; then exit 1; fi
echo "check_report: $page rendered by $browser: ${#sections[@]} sections, $colours colours; screenshot $shot"
