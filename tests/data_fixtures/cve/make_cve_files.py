#!/usr/bin/env python3
"""Writes the stb_image 2.27 CVE regression files of this folder (docs/data.md, section 7).

cve_2022_28041_prog_dc.jpg: a progressive grey JPEG, 80x8 (10 blocks), whose first DC scan has
  Al = 13 and whose entropy-coded data gives every block the DC difference +32767 (category 15).
  stb 2.27 accumulates the predictor and computes dc * (1 << Al) in int: 294903 * 8192 overflows
  at the ninth block (stbi__jpeg_decode_block_prog_dc).
cve_2022_28042_dht.jpg: the baseline fixture libjpeg_baseline.jpg with one more DHT table (DC,
  id 3) of 200 codes of 15 bits and 200 of 16 bits: not over-subscribed, but 400 symbols where stb
  2.27 has room for 256, so stbi__build_huffman and stbi__jpeg_huff_decode index past the end of
  its 257-entry size table.
cve_2021_37789_sampling.jpg: a baseline colour JPEG, 96x16, whose sampling factors are not integer
  ratios: Y 3x2, Cb 2x1, Cr 1x1. stb 2.27 rounds the ratio 3/2 of Cb down to 1, so it upsamples Cb
  with stbi__resample_row_v_2 over the full 96-pixel width, while Cb's lines hold only 64; on the
  last line that reads past the component's buffer (heap-buffer-overflow, the report of stb issue
  1178 behind this CVE). All coefficients are zero (each block: DC category 0, then end of block).
Usage: make_cve_files.py  (writes next to itself)
"""
import pathlib
import struct

here = pathlib.Path(__file__).resolve().parent


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def prog_dc_overflow() -> bytes:
    blocks = 10
    bits = ("0" + "1" * 15) * blocks      # code '0' = category 15, then +32767
    data = bytearray()
    for k in range(0, len(bits), 8):
        data.append(int(bits[k:k + 8], 2))
        if data[-1] == 0xFF:
            data.append(0x00)              # byte stuffing
    return (b"\xff\xd8"
            + segment(0xDB, bytes([0x00]) + bytes([1] * 64))                       # DQT 0: all 1
            + segment(0xC2, bytes([8]) + struct.pack(">HH", 8, 8 * blocks) + bytes([1, 1, 0x11, 0]))
            + segment(0xC4, bytes([0x00, 1] + [0] * 15 + [15]))                    # DC 0: '0' -> 15
            + segment(0xDA, bytes([1, 1, 0x00, 0, 0, 13]))                         # Ss=Se=0, Ah=0, Al=13
            + bytes(data) + b"\xff\xd9")


def dht_too_many_symbols() -> bytes:
    base = (here.parent / "libjpeg_baseline.jpg").read_bytes()
    counts = [0] * 14 + [200, 200]
    table = bytes([0x03]) + bytes(counts) + bytes(range(256)) + bytes(144)
    at = base.find(b"\xff\xc4")
    return base[:at] + segment(0xC4, table) + base[at:]


def fractional_sampling() -> bytes:
    width, height = 96, 16
    mcus = (width // 24) * (height // 16)  # an MCU is 24x16: Y's 3x2 blocks
    blocks = mcus * (6 + 2 + 1)             # Y 6 blocks, Cb 2, Cr 1
    data = bytes((blocks * 2 + 7) // 8)     # '0' (DC category 0) + '0' (EOB) per block
    return (b"\xff\xd8"
            + segment(0xDB, bytes([0x00]) + bytes([1] * 64))                       # DQT 0: all 1
            + segment(0xC0, bytes([8]) + struct.pack(">HH", height, width)
                      + bytes([3, 1, 0x32, 0, 2, 0x21, 0, 3, 0x11, 0]))             # Y 3x2, Cb 2x1, Cr 1x1
            + segment(0xC4, bytes([0x00, 1] + [0] * 15 + [0]))                     # DC 0: '0' -> 0
            + segment(0xC4, bytes([0x10, 1] + [0] * 15 + [0]))                     # AC 0: '0' -> EOB
            + segment(0xDA, bytes([3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0]))
            + data + b"\xff\xd9")


(here / "cve_2022_28041_prog_dc.jpg").write_bytes(prog_dc_overflow())
(here / "cve_2022_28042_dht.jpg").write_bytes(dht_too_many_symbols())
(here / "cve_2021_37789_sampling.jpg").write_bytes(fractional_sampling())
