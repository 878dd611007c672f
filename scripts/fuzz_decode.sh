#!/usr/bin/env bash
# Fuzzes the image decode path (our header checks, the PNM reader and stb_image's JPEG/PNG/BMP
# decoders behind them) with libFuzzer, ASan and UBSan.
# Usage: scripts/fuzz_decode.sh [SECONDS=60] [extra libFuzzer flags...]
# Builds into build-fuzz/ (or $HSANET_FUZZ_BUILD_DIR: clang, only the fuzzer), seeds a corpus
# with small valid files of every accepted format, and runs for SECONDS. A finding leaves
# crash-*/timeout-*/oom-* files in the build folder; replay one with
#   build-fuzz/bin/fuzz_decode crash-<hash>
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true

source scripts/fuzz_build.sh
build_fuzzer fuzz_decode

corpus=$build/corpus_decode
mkdir -p "$corpus"
# Seeds: the committed JPEG fixtures (baseline, progressive, grey, CMYK), two bundled faces
# (PGM), and small PNG (8/16-bit, grey/RGB/RGBA/palette, interlaced), BMP and PPM files.
cp tests/data_fixtures/*.jpg "$corpus"/
cp data/orl_faces/s1/1.pgm "$corpus"/orl_s1_1.pgm
cp data/orl_faces/s2/1.pgm "$corpus"/orl_s2_1.pgm
python3 - "$corpus" <<'PY'
import os, struct, sys, zlib
d = sys.argv[1]
W, H = 12, 10

def chunk(t, data):
    return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)

def png(name, colour, depth, channels, interlace=False, palette=None):
    samples = [[(x * 20 + y * 7 + c * 50) % 256 for x in range(W) for c in range(channels)] for y in range(H)]
    raw = b""
    passes = ([(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
              if interlace else [(0, 0, 1, 1)])
    for x0, y0, dx, dy in passes:
        if x0 >= W or y0 >= H:
            continue
        for y in range(y0, H, dy):
            raw += b"\0"
            for x in range(x0, W, dx):
                for c in range(channels):
                    v = samples[y][x * channels + c]
                    raw += struct.pack(">H", v * 257) if depth == 16 else bytes([v % (len(palette) // 3) if palette else v])
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, depth, colour, 0, 0, int(interlace)))
    if palette:
        out += chunk(b"PLTE", palette)
    out += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(os.path.join(d, name), "wb").write(out)

png("rgb8.png", 2, 8, 3)
png("grey16.png", 0, 16, 1)
png("rgba8_interlaced.png", 6, 8, 4, interlace=True)
png("palette.png", 3, 8, 1, palette=bytes(range(48)))

row = (W * 3 + 3) // 4 * 4
bmp = b"BM" + struct.pack("<IHHI", 54 + row * H, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, W, H, 1, 24, 0, row * H, 0, 0, 0, 0)
for y in range(H):
    bmp += bytes((x * 9 + y * 5 + c * 40) % 256 for x in range(W) for c in range(3)) + b"\0" * (row - W * 3)
open(os.path.join(d, "rgb24.bmp"), "wb").write(bmp)
open(os.path.join(d, "wide.ppm"), "wb").write(b"P6\n# seed\n%d %d\n1000\n" % (W, H) + bytes(W * H * 6))
PY

dict=$build/decode.dict
printf '%s\n' '"\xFF\xD8"' '"\xFF\xD9"' '"\xFF\xC0"' '"\xFF\xC2"' '"\xFF\xC4"' '"\xFF\xDA"' '"\xFF\xDB"' \
  '"\xFF\xDD"' '"\xFF\xEE"' '"Adobe"' '"\x89PNG\x0D\x0A\x1A\x0A"' '"IHDR"' '"PLTE"' '"IDAT"' '"IEND"' \
  '"tRNS"' '"BM"' '"P5"' '"P6"' '"65535"' '"255"' > "$dict"

# First the known inputs: the fuzzer's past findings and the stb_image CVE regression files
# (tests/data_fixtures/cve/) must all pass the instrumented decode path; undefined behaviour stops
# the script here.
"$build/bin/fuzz_decode" tests/data_fixtures/fuzz_regressions/* tests/data_fixtures/cve/*.jpg
echo "fuzz_decode: every regression file passed the instrumented decode path"

cd "$build"
exec ./bin/fuzz_decode -dict=decode.dict -max_total_time="$seconds" -max_len=65536 \
  -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "$@" corpus_decode
