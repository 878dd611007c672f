#!/usr/bin/env bash
# Fuzzes the safetensors reader with libFuzzer (clang, ASan, UBSan).
# Usage: scripts/fuzz_safetensors.sh [SECONDS=60] [extra libFuzzer flags...]
# Builds into build-fuzz/ (or $HSANET_FUZZ_BUILD_DIR: clang, only the fuzzer), seeds a corpus with
# valid files, and runs. A crash leaves crash-* files in build-fuzz/; replay one with
#   build-fuzz/bin/fuzz_safetensors crash-<hash>
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true

source scripts/fuzz_build.sh
build_fuzzer fuzz_safetensors

corpus=$build/corpus_safetensors
mkdir -p "$corpus"
# Seeds: small valid files from the exporter's writer, so the fuzzer starts past the header.
python3 - "$corpus" <<'PY'
import os, sys
sys.path.insert(0, "scripts")
import export_torch_weights as e
d = sys.argv[1]
e.write_safetensors(os.path.join(d, "seed_empty"), [])
e.write_safetensors(os.path.join(d, "seed_f32_i64"), [
    ("conv1.weight", "F32", [2, 1, 1, 2], e.floats_to_bytes([1.0, -2.0, 0.5, 3.0])),
    ("bn1.num_batches_tracked", "I64", [], e.ints_to_bytes([7]))], {"format": "pt"})
e.write_safetensors(os.path.join(d, "seed_dtypes"), [
    ("h", "F16", [2], b"\x00\x3c\x00\xc0"), ("b", "BF16", [1], b"\x80\x3f"),
    ("m", "BOOL", [3], b"\x01\x00\x01"), ("z", "F32", [0, 4], b"")])
PY

dict=$build/safetensors.dict
printf '%s\n' '"dtype"' '"shape"' '"data_offsets"' '"__metadata__"' '"F32"' '"F64"' '"F16"' \
  '"BF16"' '"I64"' '"I32"' '"I16"' '"I8"' '"U64"' '"U32"' '"U16"' '"U8"' '"BOOL"' \
  '"{"' '"}"' '"["' '"]"' '":"' '","' '"18446744073709551615"' '"4294967296"' > "$dict"

cd "$build"
exec ./bin/fuzz_safetensors -dict=safetensors.dict -max_total_time="$seconds" -max_len=4096 \
  -rss_limit_mb=2048 -timeout=10 "$@" corpus_safetensors
