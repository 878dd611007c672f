#!/usr/bin/env bash
# One run on a machine with an NVIDIA GPU verifies the CUDA backend of the attention core:
#   1. checks for a GPU (nvidia-smi) and the CUDA compiler (nvcc)
#   2. configures build-gpu with -DHSANET_CUDA=ON and builds the CUDA test and benchmark
#   3. runs test_attention_cuda: every AttentionCuda case must RUN (a skip fails the check)
#   4. runs the small device cases under compute-sanitizer memcheck and racecheck, where the
#      tool works on this machine (it does not under every virtualisation: then it says so)
#   5. runs bench_attention_cuda
#   6. prints a summary (also written to OUT/summary.txt)
#
# Usage: scripts/gpu_check.sh [--out DIR] [--debs DIR] [--quick] [--no-sanitizer]
#   --out DIR       where logs go (default build-gpu/gpu_check)
#   --debs DIR      unpack the .deb files in DIR into build-gpu/deps and build against them: for a
#                   machine with the CUDA toolkit but without hsanet's Debian packages and no
#                   package access (docs/cuda.md lists the packages to bring)
#   --quick         one benchmark repetition per case instead of the default
#   --no-sanitizer  skip step 4
# Environment: BUILD_DIR (default build-gpu), CUDA_ARCHS (default: cmake/Cuda.cmake's "80;90").
# Exit status: 0 all passed; 1 a build, test or sanitizer failure; 2 no GPU or no CUDA toolkit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-gpu}
out=""
debs=""
quick=0
sanitizer=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --debs) debs=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --no-sanitizer) sanitizer=0; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument '$1' (see --help)" >&2; exit 1 ;;
  esac
done
out=${out:-$build/gpu_check}
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
say() { echo "$*" | tee -a "$summary"; }
die() { say "GPU CHECK: FAIL: $*"; exit 1; }
stage() { echo; echo "== gpu_check: $* =="; }

# ---- 1. the machine --------------------------------------------------------------------------
stage "machine"
if ! command -v nvidia-smi >/dev/null 2>&1; then
  say "GPU CHECK: NO GPU: nvidia-smi not found; this check needs an NVIDIA GPU and its driver"
  exit 2
fi
if ! gpus=$(nvidia-smi -L 2>&1) || ! grep -q '^GPU ' <<<"$gpus"; then
  say "GPU CHECK: NO GPU: nvidia-smi lists no GPU: $gpus"
  exit 2
fi
nvcc=$(command -v nvcc || true)
[ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
if [ -z "$nvcc" ]; then
  say "GPU CHECK: NO CUDA TOOLKIT: nvcc is neither on PATH nor in /usr/local/cuda/bin"
  exit 2
fi
export CUDACXX=$nvcc
say "gpu:    $(head -n1 <<<"$gpus")"
say "driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n1)"
say "nvcc:   $("$nvcc" --version | grep -o 'release [0-9.]*' | head -n1) ($nvcc)"
say "host:   $(nproc) cores, $(uname -sr)"

# ---- optional: Debian packages brought along -------------------------------------------------
# A .deb is an ar archive holding data.tar.*; dpkg-deb reads it, and where there is no dpkg
# (a non-Debian image) ar and tar do.
unpack_deb() {
  if command -v dpkg-deb >/dev/null 2>&1; then
    dpkg-deb -x "$1" "$2"
  else
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && ar x "$1" && tar -xf data.tar.* -C "$2") || die "cannot unpack $1"
    rm -rf "$tmp"
  fi
}
if [ -n "$debs" ]; then
  stage "unpacking packages from $debs"
  deps="$build/deps"
  mkdir -p "$deps"
  shopt -s nullglob
  files=("$debs"/*.deb)
  [ ${#files[@]} -gt 0 ] || die "--debs $debs holds no .deb files"
  for f in "${files[@]}"; do unpack_deb "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$deps"; done
  multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
  export CMAKE_PREFIX_PATH="$deps/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export CPATH="$deps/usr/include${CPATH:+:$CPATH}"
  export LIBRARY_PATH="$deps/usr/lib/$multiarch${LIBRARY_PATH:+:$LIBRARY_PATH}"
  export LD_LIBRARY_PATH="$deps/usr/lib/$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  say "deps:   ${#files[@]} packages unpacked into $deps"
fi

# ---- 2. build --------------------------------------------------------------------------------
stage "configure and build ($build)"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
archs=()
[ -n "${CUDA_ARCHS:-}" ] && archs=("-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCHS")
if ! cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DHSANET_CUDA=ON \
    -DHSANET_MPI=OFF "${archs[@]}" >"$out/configure.log" 2>&1; then
  tail -n 30 "$out/configure.log"
  die "configure failed (log: $out/configure.log). Missing packages? scripts/install_deps.sh, or --debs DIR (docs/cuda.md)"
fi
grep 'hsanet: CUDA backend' "$out/configure.log" | tee -a "$summary"
if ! cmake --build "$build" --target test_attention_cuda bench_attention_cuda -j "$(nproc)" \
    >"$out/build.log" 2>&1; then
  tail -n 40 "$out/build.log"
  die "build failed (log: $out/build.log)"
fi
say "build:  test_attention_cuda, bench_attention_cuda built"

# ---- 3. tests --------------------------------------------------------------------------------
stage "tests"
test_bin="$build/bin/test_attention_cuda"
set +e
"$test_bin" --gtest_output="json:$out/test.json" 2>&1 | tee "$out/test.log"
test_rc=${PIPESTATUS[0]}
set -e
passed=$(grep -c '^\[       OK \]' "$out/test.log" || true)
failed=$(grep -c '^\[  FAILED  \] [A-Za-z]*\.[A-Za-z]* (' "$out/test.log" || true)
device_skips=$(grep -c '^\[  SKIPPED \] AttentionCuda\.[A-Za-z]* (' "$out/test.log" || true)
say "tests:  $passed passed, $failed failed, $device_skips device cases skipped (exit $test_rc)"
[ "$test_rc" -eq 0 ] || die "test_attention_cuda failed (log: $out/test.log)"
if [ "$device_skips" -ne 0 ]; then
  grep -A1 'Skipped' "$out/test.log" | head -n 4
  die "the device cases were skipped on a machine with a GPU: the CUDA runtime cannot use it"
fi

# ---- 4. compute-sanitizer --------------------------------------------------------------------
sanitize_result="not run (--no-sanitizer)"
if [ "$sanitizer" -eq 1 ]; then
  stage "compute-sanitizer"
  cs=$(command -v compute-sanitizer || true)
  [ -z "$cs" ] && [ -x "$(dirname "$nvcc")/compute-sanitizer" ] && cs="$(dirname "$nvcc")/compute-sanitizer"
  if [ -z "$cs" ]; then
    sanitize_result="not run: compute-sanitizer not found"
  else
    sanitize_result=""
    for tool in memcheck racecheck; do
      set +e
      "$cs" --tool "$tool" --error-exitcode 99 "$test_bin" \
        --gtest_filter='AttentionCuda.SmallShapesMatchReference:AttentionCuda.GradientSubsetsAndNoProbs' \
        >"$out/sanitizer_$tool.log" 2>&1
      rc=$?
      set -e
      tail -n 3 "$out/sanitizer_$tool.log"
      case $rc in
        0) sanitize_result+="$tool clean; " ;;
        99) die "compute-sanitizer $tool found errors (log: $out/sanitizer_$tool.log)" ;;
        *) sanitize_result+="$tool could not run here (exit $rc, log: $out/sanitizer_$tool.log); " ;;
      esac
    done
  fi
fi
say "sanitizer: $sanitize_result"

# ---- 5. benchmark ----------------------------------------------------------------------------
stage "benchmark"
bench_args=(--benchmark_out="$out/bench.json" --benchmark_out_format=json)
[ "$quick" -eq 1 ] && bench_args+=(--benchmark_repetitions=1)
set +e
"$build/bin/bench_attention_cuda" "${bench_args[@]}" 2>&1 | tee "$out/bench.log"
bench_rc=${PIPESTATUS[0]}
set -e
[ "$bench_rc" -eq 0 ] || die "bench_attention_cuda failed (exit $bench_rc, log: $out/bench.log)"

# ---- 6. summary ------------------------------------------------------------------------------
{
  echo
  echo "benchmark (medians; device-resident kernels: ms and TFLOPs; host wrappers: copies split out):"
  if [ "$quick" -eq 1 ]; then
    grep -E '^BM_AttentionCuda' "$out/bench.log" || true
  else
    grep -E '^BM_AttentionCuda.*_median' "$out/bench.log" || true
  fi
  echo
  echo "GPU CHECK: PASS"
} | tee -a "$summary"
echo "(logs in $out)"
