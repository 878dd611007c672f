// JPEG structure check: walk every marker segment from SOI to EOI (ITU T.81 annex B).
//
// A JPEG is a sequence of segments "FF xx [length:2][payload]", with entropy-coded scan data after
// each SOS. stb_image, like libjpeg, pads a truncated scan with zeros and returns a picture whose
// lower part is grey; we refuse instead: a file must reach its EOI marker. The frame header (SOF)
// gives the size and the component count, and tells progressive from baseline; the Adobe APP14
// segment tells what four components mean.
//
// The tables a scan decodes with are checked too, because stb_image 2.27 trusts them: a Huffman
// table whose code counts add up to more than 256 overruns its arrays (found by fuzz_decode), and
// a scan that names a table no DHT/DQT defined reads uninitialised memory. So: every DHT table
// must be a valid canonical code (at most 256 symbols, no length over-subscribed), every DQT table
// well formed, and every table a scan uses defined before that scan.
#include <algorithm>
#include <string>

#include "data/bytes.h"
#include "data/data_error.h"
#include "data/header_check.h"

namespace hsanet::data {

namespace {

std::string at(size_t pos) { return " at byte " + std::to_string(pos); }

std::string marker_name(uint8_t m) {
  switch (m) {
    case 0xC0: return "SOF0 (baseline)";
    case 0xC1: return "SOF1 (extended sequential)";
    case 0xC2: return "SOF2 (progressive)";
    case 0xC4: return "DHT";
    case 0xDA: return "SOS";
    case 0xDB: return "DQT";
    case 0xDD: return "DRI";
    default: return "marker " + hex_byte(m);
  }
}

// Frame types stb_image (and most decoders) do not implement.
const char* unsupported_frame(uint8_t m) {
  switch (m) {
    case 0xC3: return "lossless JPEG";
    case 0xC5: case 0xC6: case 0xC7: return "hierarchical JPEG";
    case 0xC9: case 0xCA: case 0xCB: case 0xCD: case 0xCE: case 0xCF: return "arithmetic-coded JPEG";
    default: return nullptr;
  }
}

// DHT payload: one or more tables [class:4|id:4][16 code counts][symbols].
void check_huffman_tables(const uint8_t* seg, size_t len, bool defined[2][4], const std::string& name) {
  size_t pos = 0;
  while (pos < len) {
    if (pos + 17 > len) throw DataError(name, "corrupt JPEG: Huffman table segment too short");
    const int table_class = seg[pos] >> 4, id = seg[pos] & 15;
    if (table_class > 1 || id > 3)
      throw DataError(name, "corrupt JPEG: Huffman table class " + std::to_string(table_class) + " id " +
                                std::to_string(id));
    // Canonical code: the codes of length L are the next count[L] values, which must fit in L bits.
    uint32_t code = 0, symbols = 0;
    for (int length = 1; length <= 16; ++length) {
      const uint32_t count = seg[pos + length];
      code += count;
      symbols += count;
      if (code > (1u << length))
        throw DataError(name, "corrupt JPEG: Huffman table has more codes of length " + std::to_string(length) +
                                  " than fit");
      code <<= 1;
    }
    if (symbols > 256) throw DataError(name, "corrupt JPEG: Huffman table with " + std::to_string(symbols) + " symbols");
    if (pos + 17 + symbols > len) throw DataError(name, "corrupt JPEG: Huffman table segment too short");
    defined[table_class][id] = true;
    pos += 17 + symbols;
  }
}

// DQT payload: one or more tables [precision:4|id:4][64 values of 1 or 2 bytes].
void check_quant_tables(const uint8_t* seg, size_t len, bool defined[4], const std::string& name) {
  size_t pos = 0;
  while (pos < len) {
    const int precision = seg[pos] >> 4, id = seg[pos] & 15;
    if (precision > 1 || id > 3)
      throw DataError(name, "corrupt JPEG: quantisation table precision " + std::to_string(precision) + " id " +
                                std::to_string(id));
    const size_t size = 1 + 64 * (precision + 1);
    if (pos + size > len) throw DataError(name, "corrupt JPEG: quantisation table segment too short");
    defined[id] = true;
    pos += size;
  }
}

}  // namespace

HeaderInfo check_jpeg(const uint8_t* data, size_t size, const std::string& name) {
  HeaderInfo info;
  info.format = ImageFormat::Jpeg;
  bool seen_frame = false, seen_scan = false;
  bool huffman_defined[2][4] = {};  // [DC, AC][table id]
  bool quant_defined[4] = {};
  int component_id[4] = {}, component_quant[4] = {};
  size_t pos = 2;  // after SOI (FF D8), which check_header has seen
  for (;;) {
    if (pos >= size)
      throw DataError(name, "JPEG truncated: the file ends" + at(pos) + " before its end-of-image marker");
    if (data[pos] != 0xFF)
      throw DataError(name, "corrupt JPEG: expected a marker" + at(pos) + ", found " + hex_byte(data[pos]));
    while (pos < size && data[pos] == 0xFF) ++pos;  // any number of FF fill bytes may precede a marker
    if (pos >= size)
      throw DataError(name, "JPEG truncated: the file ends" + at(pos) + " before its end-of-image marker");
    const size_t marker_pos = pos - 1;
    const uint8_t m = data[pos++];

    if (m == 0xD9) {  // EOI
      if (!seen_frame) throw DataError(name, "corrupt JPEG: end-of-image marker before any frame header");
      if (!seen_scan) throw DataError(name, "corrupt JPEG: no image data (no scan) before the end marker");
      break;
    }
    if (m == 0xD8) throw DataError(name, "corrupt JPEG: a second start-of-image marker" + at(marker_pos));
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // TEM and RSTn carry no length
    if (m == 0x00) throw DataError(name, "corrupt JPEG: invalid marker FF 00" + at(marker_pos));

    if (pos + 2 > size)
      throw DataError(name, "JPEG truncated in its header: " + marker_name(m) + " segment" + at(marker_pos) +
                                " has no length");
    const size_t len = read_be16(data + pos);  // counts its own two bytes
    if (len < 2)
      throw DataError(name, "corrupt JPEG: " + marker_name(m) + " segment" + at(marker_pos) +
                                " has length " + std::to_string(len));
    if (pos + len > size)
      throw DataError(name, "JPEG truncated in its header: " + marker_name(m) + " segment" + at(marker_pos) +
                                " needs " + std::to_string(len) + " bytes, the file has " +
                                std::to_string(size - pos));
    const uint8_t* seg = data + pos + 2;  // payload
    const size_t seg_len = len - 2;

    if (const char* what = unsupported_frame(m)) throw DataError(name, std::string(what) + " is not supported");
    if (m == 0xC0 || m == 0xC1 || m == 0xC2) {
      if (seen_frame) throw DataError(name, "corrupt JPEG: a second frame header" + at(marker_pos));
      seen_frame = true;
      if (seg_len < 6) throw DataError(name, "corrupt JPEG: frame header too short");
      const int precision = seg[0];
      info.height = read_be16(seg + 1);
      info.width = read_be16(seg + 3);
      info.channels = seg[5];
      info.progressive = m == 0xC2;
      if (precision != 8)
        throw DataError(name, std::to_string(precision) + "-bit JPEG is not supported (only 8-bit samples)");
      if (info.height == 0)
        throw DataError(name, "JPEG with height 0 in its frame header (size given later by DNL) is not supported");
      if (info.width == 0) throw DataError(name, "corrupt JPEG: width 0 in the frame header");
      if (info.channels != 1 && info.channels != 3 && info.channels != 4)
        throw DataError(name, "JPEG with " + std::to_string(info.channels) +
                                  " components is not supported (1 grey, 3 colour or 4 CMYK)");
      if (seg_len != 6 + 3 * static_cast<size_t>(info.channels))
        throw DataError(name, "corrupt JPEG: frame header length does not match its component count");
      for (int c = 0; c < info.channels; ++c) {
        const uint8_t sampling = seg[6 + 3 * c + 1];
        const int h = sampling >> 4, v = sampling & 15;
        if (h < 1 || h > 4 || v < 1 || v > 4)
          throw DataError(name, "corrupt JPEG: component " + std::to_string(c) + " has sampling factors " +
                                    std::to_string(h) + "x" + std::to_string(v));
        component_id[c] = seg[6 + 3 * c];
        component_quant[c] = seg[6 + 3 * c + 2];
        if (component_quant[c] > 3) throw DataError(name, "corrupt JPEG: quantisation table index over 3");
        for (int d = 0; d < c; ++d)
          if (component_id[d] == component_id[c]) throw DataError(name, "corrupt JPEG: two components share an id");
      }
      // Each component's factors must divide the largest: stb upsamples by the integer ratio, and
      // a fractional one (Y 3x2 over Cb 2x1) made stb 2.27 read past a component's lines
      // (CVE-2021-37789). Debian's snapshot refuses it too; this check does not depend on that.
      int h_max = 1, v_max = 1;
      for (int c = 0; c < info.channels; ++c) {
        h_max = std::max(h_max, seg[6 + 3 * c + 1] >> 4);
        v_max = std::max(v_max, seg[6 + 3 * c + 1] & 15);
      }
      for (int c = 0; c < info.channels; ++c) {
        const int h = seg[6 + 3 * c + 1] >> 4, v = seg[6 + 3 * c + 1] & 15;
        if (h_max % h != 0 || v_max % v != 0)
          throw DataError(name, "corrupt JPEG: component " + std::to_string(c) + " has sampling factors " +
                                    std::to_string(h) + "x" + std::to_string(v) + ", not a whole fraction of " +
                                    std::to_string(h_max) + "x" + std::to_string(v_max));
      }
    } else if (m == 0xC4) {
      check_huffman_tables(seg, seg_len, huffman_defined, name);
    } else if (m == 0xDB) {
      check_quant_tables(seg, seg_len, quant_defined, name);
    } else if (m == 0xDD) {
      if (seg_len != 2) throw DataError(name, "corrupt JPEG: restart interval segment of the wrong length");
    } else if (m == 0xEE && seg_len >= 12 && std::string(reinterpret_cast<const char*>(seg), 5) == "Adobe") {
      info.jpeg_adobe_transform = seg[11];
    }
    pos += len;

    if (m == 0xDA) {  // SOS: entropy-coded data follows, up to the next marker that is not RSTn
      if (!seen_frame) throw DataError(name, "corrupt JPEG: scan data before the frame header");
      if (seg_len < 1 || seg[0] < 1 || seg[0] > 4 || seg_len != 4 + 2 * static_cast<size_t>(seg[0]))
        throw DataError(name, "corrupt JPEG: malformed scan header" + at(marker_pos));
      const int ns = seg[0];
      const int ss = seg[1 + 2 * ns], se = seg[2 + 2 * ns], ah = seg[3 + 2 * ns] >> 4, al = seg[3 + 2 * ns] & 15;
      const bool dc_scan = !info.progressive || ss == 0;
      const bool ac_scan = !info.progressive || ss > 0;
      if (info.progressive) {
        if (ss > se || se > 63 || ah > 13 || al > 13 || (ss == 0 && se != 0) || (ss > 0 && ns != 1))
          throw DataError(name, "corrupt JPEG: invalid progressive scan parameters" + at(marker_pos));
      } else if (ss != 0 || ah != 0 || al != 0) {
        throw DataError(name, "corrupt JPEG: invalid sequential scan parameters" + at(marker_pos));
      }
      for (int k = 0; k < ns; ++k) {
        const int id = seg[1 + 2 * k], dc = seg[2 + 2 * k] >> 4, ac = seg[2 + 2 * k] & 15;
        int c = 0;
        while (c < info.channels && component_id[c] != id) ++c;
        if (c == info.channels) throw DataError(name, "corrupt JPEG: scan names a component the frame lacks");
        if (dc > 3 || ac > 3) throw DataError(name, "corrupt JPEG: scan names Huffman table id over 3");
        // A DC refinement scan (progressive, ah > 0) reads raw bits and needs no DC table.
        if ((dc_scan && !(info.progressive && ah > 0) && !huffman_defined[0][dc]) ||
            (ac_scan && !huffman_defined[1][ac]))
          throw DataError(name, "corrupt JPEG: scan uses a Huffman table that was never defined");
        if (!quant_defined[component_quant[c]])
          throw DataError(name, "corrupt JPEG: scan uses a quantisation table that was never defined");
      }
      seen_scan = true;
      for (;;) {
        if (pos + 1 >= size)
          throw DataError(name, "JPEG truncated: the scan data that starts" + at(marker_pos) +
                                    " ends with the file, before the end-of-image marker");
        if (data[pos] != 0xFF) {
          ++pos;
          continue;
        }
        const uint8_t next = data[pos + 1];
        if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) {
          pos += 2;  // a stuffed FF data byte, or a restart marker inside the scan
        } else if (next == 0xFF) {
          ++pos;  // fill byte before a marker
        } else {
          break;  // a real marker: the loop above reads it
        }
      }
    }
  }

  if (info.channels == 4 && info.jpeg_adobe_transform != 0 && info.jpeg_adobe_transform != 2)
    throw DataError(name, "4-component JPEG without an Adobe CMYK/YCCK marker: its colour space is ambiguous "
                          "(convert the file to RGB)");
  return info;
}

}  // namespace hsanet::data
