// Safetensors: round trips, dtype conversions, every malformed-file case as a fixture written
// here, the state-dict layer's reports, and files written by scripts/export_torch_weights.py.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "base/random.h"
#include "io/checkpoint_io.h"
#include "io/safetensors.h"

namespace hsanet::io {
namespace {

namespace fs = std::filesystem;
using Records = std::vector<std::pair<std::string, TensorRecord>>;

class SafetensorsIO : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "hsanet_st_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

std::vector<uint8_t> u64_le(uint64_t v) {
  std::vector<uint8_t> b(8);
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  return b;
}

// A file from its parts: 8-byte header length (the real one unless overridden), header, data.
std::vector<uint8_t> make_file(const std::string& header, size_t data_bytes,
                               std::optional<uint64_t> header_len = std::nullopt) {
  std::vector<uint8_t> f(8 + header.size() + data_bytes, 0x5a);
  const std::vector<uint8_t> len = u64_le(header_len ? *header_len : header.size());
  std::copy(len.begin(), len.end(), f.begin());
  std::copy(header.begin(), header.end(), f.begin() + 8);
  return f;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

template <typename T>
TensorRecord record_of(const std::string& dtype, const std::vector<T>& values, Shape shape) {
  TensorRecord r;
  r.dtype = dtype;
  r.shape = std::move(shape);
  r.bytes.resize(values.size() * sizeof(T));
  std::memcpy(r.bytes.data(), values.data(), r.bytes.size());
  return r;
}

// ---------------------------------------------------------------- round trips

TEST_F(SafetensorsIO, RoundTripF32AndI64WithMetadata) {
  Rng rng(7);
  Tensor w = Tensor::randn({4, 3, 2, 2}, rng);
  Records recs = {{"conv.weight", TensorRecord::from_tensor(w)},
                  {"labels", TensorRecord::from_int64({3, -1, 1LL << 40}, {3})},
                  {"bn.num_batches_tracked", TensorRecord::from_int64({12}, {})}};
  Metadata meta = {{"format", "pt"}, {"step", "42"}};
  write_safetensors(path("a.safetensors"), recs, meta);

  SafeTensorsFile f = read_safetensors(path("a.safetensors"));
  EXPECT_EQ(f.metadata, meta);
  ASSERT_EQ(f.tensors.size(), 3u);
  const TensorRecord& r = f.at("conv.weight");
  EXPECT_EQ(r.dtype, "F32");
  EXPECT_EQ(r.shape, (Shape{4, 3, 2, 2}));
  Tensor back = r.to_float_tensor();
  EXPECT_EQ(back.shape(), w.shape());
  EXPECT_EQ(back.to_vector(), w.to_vector());  // bit-exact
  EXPECT_EQ(f.at("labels").to_int64(), (std::vector<int64_t>{3, -1, 1LL << 40}));
  EXPECT_EQ(f.at("bn.num_batches_tracked").shape, Shape{});
  EXPECT_EQ(f.at("bn.num_batches_tracked").to_int64(), std::vector<int64_t>{12});
  EXPECT_THROW(f.at("nope"), SafetensorsError);
}

TEST_F(SafetensorsIO, RoundTripEmptyFileAndZeroSizeTensors) {
  write_safetensors(path("empty.safetensors"), {});
  SafeTensorsFile e = read_safetensors(path("empty.safetensors"));
  EXPECT_TRUE(e.tensors.empty());
  EXPECT_TRUE(e.metadata.empty());

  Records recs = {{"a", TensorRecord::from_tensor(Tensor::zeros({0, 4}))},
                  {"b", TensorRecord::from_tensor(Tensor::full({2}, 1.5f))},
                  {"c", TensorRecord::from_int64({})}};
  write_safetensors(path("z.safetensors"), recs);
  SafeTensorsFile f = read_safetensors(path("z.safetensors"));
  EXPECT_EQ(f.at("a").shape, (Shape{0, 4}));
  EXPECT_EQ(f.at("a").to_float_tensor().numel(), 0);
  EXPECT_EQ(f.at("b").to_float_tensor().to_vector(), (std::vector<float>{1.5f, 1.5f}));
  EXPECT_TRUE(f.at("c").to_int64().empty());
}

TEST_F(SafetensorsIO, FileMatchesSerializedBytesAndAlignsData) {
  Records recs = {{"x", TensorRecord::from_tensor(Tensor::full({3}, 2.f))}};
  std::vector<uint8_t> mem = serialize_safetensors(recs, {{"k", "v"}});
  write_safetensors(path("x.safetensors"), recs, {{"k", "v"}});
  std::ifstream in(path("x.safetensors"), std::ios::binary);
  std::vector<uint8_t> disk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(disk, mem);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | mem[i];
  EXPECT_EQ((8 + n) % 8, 0u) << "data section should start 8-byte aligned";
  SafeTensorsFile f = parse_safetensors(mem.data(), mem.size(), "memory");
  EXPECT_EQ(f.at("x").to_float_tensor().to_vector(), (std::vector<float>{2.f, 2.f, 2.f}));
}

TEST_F(SafetensorsIO, WriterRejectsBadRecordsBeforeTouchingTheFile) {
  const std::string p = path("w.safetensors");
  TensorRecord ok = TensorRecord::from_tensor(Tensor::zeros({2}));
  TensorRecord short_bytes = ok;
  short_bytes.bytes.pop_back();
  TensorRecord bad_dtype = ok;
  bad_dtype.dtype = "F7";
  EXPECT_THROW(write_safetensors(p, {{"a", ok}, {"a", ok}}), std::invalid_argument);
  EXPECT_THROW(write_safetensors(p, {{"__metadata__", ok}}), std::invalid_argument);
  EXPECT_THROW(write_safetensors(p, {{"a", short_bytes}}), std::invalid_argument);
  EXPECT_THROW(write_safetensors(p, {{"a", bad_dtype}}), std::invalid_argument);
  EXPECT_THROW(write_safetensors(p, {{"\xff\xfe", ok}}), std::invalid_argument);  // not UTF-8
  EXPECT_FALSE(fs::exists(p));
  EXPECT_TRUE(fs::is_empty(dir_)) << "no temporary file may be left behind";
}

// ---------------------------------------------------------------- dtypes

TEST(SafetensorsDtypes, ConvertToFloat) {
  EXPECT_EQ(record_of<double>("F64", {1.25, -3.0}, {2}).to_float_tensor().to_vector(),
            (std::vector<float>{1.25f, -3.f}));
  // Half: 1, -2, 65504 (largest finite), 2^-24 (smallest subnormal), 2^-14 (smallest normal).
  auto h = record_of<uint16_t>("F16", {0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x8000}, {6})
               .to_float_tensor().to_vector();
  EXPECT_EQ(h[0], 1.f);
  EXPECT_EQ(h[1], -2.f);
  EXPECT_EQ(h[2], 65504.f);
  EXPECT_EQ(h[3], std::ldexp(1.f, -24));
  EXPECT_EQ(h[4], std::ldexp(1.f, -14));
  EXPECT_TRUE(h[5] == 0.f && std::signbit(h[5]));
  auto hs = record_of<uint16_t>("F16", {0x7c00, 0xfc00, 0x7e00, 0x83ff}, {4})
                .to_float_tensor().to_vector();
  EXPECT_EQ(hs[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ(hs[1], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(hs[2]));
  EXPECT_EQ(hs[3], -std::ldexp(1023.f, -24));  // largest negative subnormal
  // bfloat16: the top 16 bits of a float.
  EXPECT_EQ(record_of<uint16_t>("BF16", {0x3f80, 0xc0a0}, {2}).to_float_tensor().to_vector(),
            (std::vector<float>{1.f, -5.f}));
  EXPECT_EQ(record_of<int32_t>("I32", {-7, 9}, {2}).to_float_tensor().to_vector(),
            (std::vector<float>{-7.f, 9.f}));
  EXPECT_EQ(record_of<int8_t>("I8", {-128, 127}, {2}).to_float_tensor().to_vector(),
            (std::vector<float>{-128.f, 127.f}));
  EXPECT_EQ(record_of<uint8_t>("U8", {255, 0}, {2}).to_float_tensor().to_vector(),
            (std::vector<float>{255.f, 0.f}));
  EXPECT_EQ(record_of<uint8_t>("BOOL", {1, 0}, {1, 2}).to_float_tensor().to_vector(),
            (std::vector<float>{1.f, 0.f}));
  EXPECT_EQ(record_of<int64_t>("I64", {-5}, {}).to_float_tensor().item(), -5.f);
}

TEST(SafetensorsDtypes, ConvertToInt64) {
  EXPECT_EQ(record_of<int32_t>("I32", {-7, 9}, {2}).to_int64(), (std::vector<int64_t>{-7, 9}));
  EXPECT_EQ(record_of<int16_t>("I16", {-300}, {1}).to_int64(), (std::vector<int64_t>{-300}));
  EXPECT_EQ(record_of<uint32_t>("U32", {4000000000u}, {1}).to_int64(),
            (std::vector<int64_t>{4000000000LL}));
  EXPECT_EQ(record_of<uint16_t>("U16", {65535}, {1}).to_int64(), (std::vector<int64_t>{65535}));
  EXPECT_EQ(record_of<uint64_t>("U64", {5}, {1}).to_int64(), (std::vector<int64_t>{5}));
  EXPECT_EQ(record_of<uint8_t>("BOOL", {0, 1}, {2}).to_int64(), (std::vector<int64_t>{0, 1}));
  EXPECT_THROW(record_of<uint64_t>("U64", {1ull << 63}, {1}).to_int64(), SafetensorsError);
  EXPECT_THROW(record_of<float>("F32", {1.f}, {1}).to_int64(), SafetensorsError);
  EXPECT_THROW(record_of<float>("F32", {1.f}, {2}).to_float_tensor(), SafetensorsError);
}

TEST(SafetensorsDtypes, Sizes) {
  EXPECT_EQ(dtype_size("F32"), 4u);
  EXPECT_EQ(dtype_size("BF16"), 2u);
  EXPECT_EQ(dtype_size("I64"), 8u);
  EXPECT_EQ(dtype_size("BOOL"), 1u);
  EXPECT_EQ(dtype_size("f32"), 0u);  // names are case-sensitive, as in the format
  EXPECT_EQ(dtype_size("Q4"), 0u);
}

// ---------------------------------------------------------------- malformed files

struct Malformed {
  const char* name;            // fixture file name and test label
  std::vector<uint8_t> bytes;  // the whole file
  const char* expect;          // a phrase the error must contain
};

// A valid 1-tensor entry at [b, e) of shape [n] F32.
std::string f32(uint64_t n, uint64_t b, uint64_t e) {
  return R"({"dtype":"F32","shape":[)" + std::to_string(n) + R"(],"data_offsets":[)" +
         std::to_string(b) + "," + std::to_string(e) + "]}";
}

std::vector<Malformed> malformed_cases() {
  const std::string ok = f32(2, 0, 8);
  return {
      {"empty_file", {}, "shorter than the 8-byte header length"},
      {"five_bytes", {1, 2, 3, 4, 5}, "shorter than the 8-byte header length"},
      {"header_len_zero", make_file("", 16, 0), "header length is 0"},
      {"header_len_over_cap", make_file("{}", 0, 200ull << 20), "exceeds the limit"},
      {"header_len_max_u64", make_file("{}", 0, ~0ull), "exceeds the limit"},
      {"header_len_past_eof", make_file("{}", 0, 3), "runs past the end"},
      {"not_json", make_file(R"({"a": )", 0), "not valid JSON"},
      {"json_then_junk", make_file("{} x", 0), "not valid JSON"},
      {"bad_utf8_name", make_file("{\"\xff\":" + ok + "}", 8), "not valid JSON"},
      {"header_is_array", make_file("[1, 2]", 0), "not a JSON object"},
      {"header_is_string", make_file(R"("hello")", 0), "not a JSON object"},
      {"entry_not_object", make_file(R"({"a": 5})", 0), "entry is not an object"},
      {"too_deep", make_file(R"({"a": [[[[[[[[1]]]]]]]]})", 0), "nested deeper"},
      {"no_dtype", make_file(R"({"a": {"shape":[1],"data_offsets":[0,4]}})", 4), "no dtype"},
      {"dtype_not_string", make_file(R"({"a": {"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4),
       "dtype is not a string"},
      {"unknown_dtype", make_file(R"({"a": {"dtype":"Q4","shape":[1],"data_offsets":[0,4]}})", 4),
       "unknown dtype 'Q4'"},
      {"extra_field",
       make_file(R"({"a": {"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", 4),
       "unexpected field 'x'"},
      {"no_shape", make_file(R"({"a": {"dtype":"F32","data_offsets":[0,4]}})", 4), "no shape"},
      {"shape_not_list", make_file(R"({"a": {"dtype":"F32","shape":4,"data_offsets":[0,4]}})", 4),
       "shape is not a list"},
      {"shape_negative",
       make_file(R"({"a": {"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
       "not a list of non-negative integers"},
      {"shape_float", make_file(R"({"a": {"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})", 4),
       "not a list of non-negative integers"},
      {"shape_string",
       make_file(R"({"a": {"dtype":"F32","shape":["1"],"data_offsets":[0,4]}})", 4),
       "not a list of non-negative integers"},
      {"shape_beyond_int64",
       make_file(R"({"a": {"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,4]}})", 4),
       "overflows"},
      {"size_overflow",
       make_file(R"({"a": {"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})",
                 0),
       "overflows a 64-bit byte count"},
      {"size_overflow_wraps_to_small",  // 2^62 * 4 bytes wraps to 0 in 64 bits
       make_file(R"({"a": {"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})",
                 0),
       "overflows a 64-bit byte count"},
      {"no_offsets", make_file(R"({"a": {"dtype":"F32","shape":[1]}})", 4), "no data_offsets"},
      {"offsets_not_list",
       make_file(R"({"a": {"dtype":"F32","shape":[1],"data_offsets":4}})", 4),
       "data_offsets is not two non-negative integers"},
      {"offsets_one_int",
       make_file(R"({"a": {"dtype":"F32","shape":[1],"data_offsets":[4]}})", 4),
       "data_offsets is not two non-negative integers"},
      {"offsets_three_ints",
       make_file(R"({"a": {"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", 8),
       "data_offsets is not two non-negative integers"},
      {"offsets_negative",
       make_file(R"({"a": {"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4),
       "data_offsets is not two non-negative integers"},
      {"offsets_float",
       make_file(R"({"a": {"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}})", 4),
       "data_offsets is not two non-negative integers"},
      {"offsets_reversed", make_file(R"({"a": )" + f32(1, 4, 0) + "}", 4), "end before they begin"},
      {"offsets_past_data", make_file(R"({"a": )" + f32(2, 0, 8) + "}", 4),
       "outside the data section of 4 bytes"},
      {"offsets_huge", make_file(R"({"a": )" + f32(2, 18446744073709551600ull, 18446744073709551608ull) + "}", 4),
       "outside the data section"},
      {"size_mismatch", make_file(R"({"a": )" + f32(3, 0, 8) + "}", 8),
       "hold 8 bytes but shape [3] of F32 needs 12"},
      {"gap", make_file(R"({"a": )" + f32(1, 0, 4) + R"(, "b": )" + f32(1, 8, 12) + "}", 12),
       "gap of 4 bytes"},
      {"gap_at_start", make_file(R"({"a": )" + f32(1, 4, 8) + "}", 8), "gap of 4 bytes"},
      {"overlap", make_file(R"({"a": )" + f32(2, 0, 8) + R"(, "b": )" + f32(2, 4, 12) + "}", 12),
       "overlaps tensor 'a'"},
      {"same_bytes_twice",
       make_file(R"({"a": )" + f32(2, 0, 8) + R"(, "b": )" + f32(2, 0, 8) + "}", 8), "overlaps"},
      {"data_left_over", make_file(R"({"a": )" + ok + "}", 12), "4 bytes left over"},
      {"data_without_tensors", make_file("{}", 4), "4 bytes left over"},
      {"duplicate_name", make_file(R"({"a": )" + ok + R"(, "a": )" + ok + "}", 8),
       "duplicate tensor name 'a'"},
      {"duplicate_field",
       make_file(R"({"a": {"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
       "duplicate key 'dtype' inside 'a'"},
      {"duplicate_metadata_key",
       make_file(R"({"__metadata__": {"k":"1","k":"2"}, "a": )" + ok + "}", 8),
       "duplicate key 'k' inside '__metadata__'"},
      {"metadata_not_object", make_file(R"({"__metadata__": "x", "a": )" + ok + "}", 8),
       "__metadata__ is not an object"},
      {"metadata_value_not_string",
       make_file(R"({"__metadata__": {"step": 3}, "a": )" + ok + "}", 8),
       "__metadata__ value for 'step' is not a string"},
  };
}

TEST_F(SafetensorsIO, EveryMalformedFileGivesAClearError) {
  for (const Malformed& c : malformed_cases()) {
    SCOPED_TRACE(c.name);
    const std::string p = path(std::string(c.name) + ".safetensors");
    write_bytes(p, c.bytes);
    try {
      read_safetensors(p);
      ADD_FAILURE() << c.name << ": a malformed file was accepted";
    } catch (const SafetensorsError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(p, 0), 0u) << "the error should start with the file's name: " << msg;
      EXPECT_NE(msg.find(c.expect), std::string::npos)
          << "expected \"" << c.expect << "\" in: " << msg;
    }
    // The in-memory entry point makes the same decision.
    EXPECT_THROW(parse_safetensors(c.bytes.data(), c.bytes.size(), c.name), SafetensorsError);
  }
}

TEST_F(SafetensorsIO, HeaderCapIsConfigurable) {
  std::vector<uint8_t> f = serialize_safetensors({{"a", TensorRecord::from_int64({1, 2})}});
  SafetensorsLimits tight;
  tight.max_header_bytes = 16;
  EXPECT_NO_THROW(parse_safetensors(f.data(), f.size(), "mem"));
  EXPECT_THROW(parse_safetensors(f.data(), f.size(), "mem", tight), SafetensorsError);
}

// The default cap is 16 MiB (parsing costs up to ~35 bytes per header byte), and no header field
// holds more than 64 values: longer arrays are refused while parsing, before they cost memory.
TEST_F(SafetensorsIO, HeaderCapAndArrayLengthsBoundTheParseMemory) {
  const std::string big = "{\"__metadata__\":{\"note\":\"" + std::string((16u << 20) - 20, 'x') + "\"}}";
  std::vector<uint8_t> f(8 + big.size());
  const uint64_t n = big.size();
  for (int i = 0; i < 8; ++i) f[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(f.data() + 8, big.data(), big.size());
  try {
    parse_safetensors(f.data(), f.size(), "big");
    ADD_FAILURE() << "a header over 16 MiB was parsed";
  } catch (const SafetensorsError& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the limit of 16777216 bytes"), std::string::npos) << e.what();
  }

  std::string dims = "1";
  for (int i = 1; i < 65; ++i) dims += ",1";
  const std::string text = "{\"t\":{\"dtype\":\"F32\",\"shape\":[" + dims + "],\"data_offsets\":[0,4]}}";
  std::vector<uint8_t> g(8 + text.size() + 4, 0);
  for (int i = 0; i < 8; ++i) g[i] = static_cast<uint8_t>(uint64_t{text.size()} >> (8 * i));
  std::memcpy(g.data() + 8, text.data(), text.size());
  try {
    parse_safetensors(g.data(), g.size(), "dims");
    ADD_FAILURE() << "a 65-dimensional shape was accepted";
  } catch (const SafetensorsError& e) {
    EXPECT_NE(std::string(e.what()).find("dims: header array of more than 64 values inside 't'"), std::string::npos)
        << e.what();
  }
}

TEST_F(SafetensorsIO, MissingFileAndDirectoryAreErrors) {
  try {
    read_safetensors(path("absent.safetensors"));
    ADD_FAILURE();
  } catch (const SafetensorsError& e) {
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
  }
  try {
    read_safetensors(dir_.string());
    ADD_FAILURE();
  } catch (const SafetensorsError& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

// Every truncation and every single-byte corruption of a valid file either parses or throws
// SafetensorsError: never another exception, never a crash (ASan/the fuzzer go further).
TEST(SafetensorsRobustness, TruncationsAndByteFlips) {
  Records recs = {{"w", TensorRecord::from_tensor(Tensor::full({2, 3}, 0.5f))},
                  {"n", TensorRecord::from_int64({4})}};
  const std::vector<uint8_t> good = serialize_safetensors(recs, {{"k", "v"}});
  for (size_t len = 0; len < good.size(); ++len) {
    EXPECT_THROW(parse_safetensors(good.data(), len, "prefix"), SafetensorsError) << len;
  }
  const uint8_t flips[] = {0x00, 0x01, 0x22, 0x2c, 0x30, 0x39, 0x5b, 0x7b, 0x7d, 0x80, 0xff};
  int accepted = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t v : flips) {
      std::vector<uint8_t> bad = good;
      bad[i] = v;
      try {
        parse_safetensors(bad.data(), bad.size(), "flip");
        ++accepted;  // e.g. a changed data byte or metadata character: still a valid file
      } catch (const SafetensorsError&) {
      }
    }
  }
  EXPECT_GT(accepted, 0);
}

// ---------------------------------------------------------------- state dicts

StateDict small_model(Rng& rng, int64_t classes) {
  return {{"conv1.weight", Tensor::randn({8, 3, 3, 3}, rng)},
          {"bn1.weight", Tensor::randn({8}, rng)},
          {"bn1.running_var", Tensor::randn({8}, rng)},
          {"fc.weight", Tensor::randn({classes, 8}, rng)},
          {"fc.bias", Tensor::randn({classes}, rng)}};
}

TEST_F(SafetensorsIO, StateDictRoundTripBumpsVersions) {
  Rng rng(1);
  StateDict src = small_model(rng, 10);
  save_state_dict(path("m.safetensors"), src, {{"arch", "tiny"}});
  StateDict dst = small_model(rng, 10);
  std::vector<uint64_t> before;
  for (auto& [n, t] : dst) before.push_back(t.version());
  LoadReport rep = load_state_dict(path("m.safetensors"), dst, /*strict=*/true);
  EXPECT_TRUE(rep.complete()) << rep.summary();
  EXPECT_EQ(rep.loaded.size(), src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    EXPECT_EQ(dst[i].second.to_vector(), src[i].second.to_vector()) << src[i].first;
    EXPECT_GT(dst[i].second.version(), before[i]) << "a load must invalidate derived caches";
  }
}

TEST_F(SafetensorsIO, LoadIgnoresNumBatchesTrackedAndConvertsIntegers) {
  Rng rng(2);
  StateDict model = small_model(rng, 4);
  Records recs;
  for (auto& [n, t] : model) recs.emplace_back(n, TensorRecord::from_tensor(t));
  recs.emplace_back("bn1.num_batches_tracked", TensorRecord::from_int64({100}, {}));
  recs[1].second = record_of<double>("F64", std::vector<double>(8, 0.25), {8});  // bn1.weight
  write_safetensors(path("pt.safetensors"), recs);
  StateDict dst = small_model(rng, 4);
  LoadReport rep = load_state_dict(path("pt.safetensors"), dst, true);
  EXPECT_TRUE(rep.complete()) << rep.summary();
  EXPECT_EQ(dst[1].second.to_vector(), std::vector<float>(8, 0.25f));
}

// The fine-tuning case: an ImageNet checkpoint (1000 classes) into a 26-class head.
TEST_F(SafetensorsIO, NonStrictLoadsEverythingButTheMismatchedHead) {
  Rng rng(3);
  StateDict imagenet = small_model(rng, 1000);
  imagenet.emplace_back("layer9.extra", Tensor::zeros({2}));
  save_state_dict(path("in.safetensors"), imagenet);

  StateDict face = small_model(rng, 26);
  face.emplace_back("attn.rel_height", Tensor::zeros({5, 4}));
  const std::vector<float> fc_before = face[3].second.to_vector();

  // Strict: throws, lists every problem, changes nothing.
  const std::vector<float> conv_before = face[0].second.to_vector();
  try {
    load_state_dict(path("in.safetensors"), face, true);
    ADD_FAILURE() << "strict load of a mismatched file succeeded";
  } catch (const StateDictMismatch& e) {
    const std::string msg = e.what();
    for (const char* n : {"fc.weight", "fc.bias", "layer9.extra", "attn.rel_height"})
      EXPECT_NE(msg.find(n), std::string::npos) << n << " missing from: " << msg;
    EXPECT_NE(msg.find("expected [26, 8], file has [1000, 8]"), std::string::npos) << msg;
    EXPECT_EQ(e.report().wrong_shape.size(), 2u);
  }
  EXPECT_EQ(face[0].second.to_vector(), conv_before) << "a failed strict load must copy nothing";

  LoadReport rep = load_state_dict(path("in.safetensors"), face, false);
  EXPECT_EQ(rep.loaded, (std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.running_var"}));
  EXPECT_EQ(rep.missing, std::vector<std::string>{"attn.rel_height"});
  EXPECT_EQ(rep.unexpected, std::vector<std::string>{"layer9.extra"});
  ASSERT_EQ(rep.wrong_shape.size(), 2u);
  EXPECT_EQ(rep.wrong_shape[0].name, "fc.weight");
  EXPECT_EQ(rep.wrong_shape[0].expected, (Shape{26, 8}));
  EXPECT_EQ(rep.wrong_shape[0].found, (Shape{1000, 8}));
  EXPECT_EQ(face[0].second.to_vector(), imagenet[0].second.to_vector());
  EXPECT_EQ(face[3].second.to_vector(), fc_before) << "a wrong-shape tensor must stay untouched";
}

TEST_F(SafetensorsIO, SaveRefusesNonFiniteValuesAndKeepsTheGoodFile) {
  Rng rng(4);
  StateDict good = small_model(rng, 3);
  save_state_dict(path("ck.safetensors"), good);
  StateDict bad = small_model(rng, 3);
  bad[2].second.data()[5] = std::nanf("");
  EXPECT_THROW(save_state_dict(path("ck.safetensors"), bad), std::domain_error);
  bad[2].second.data()[5] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(save_state_dict(path("ck.safetensors"), bad), std::domain_error);
  StateDict check = small_model(rng, 3);
  load_state_dict(path("ck.safetensors"), check, true);
  EXPECT_EQ(check[2].second.to_vector(), good[2].second.to_vector());
}

// A NaN or an infinity in any tensor a load would copy (strict or not) throws naming the file, the
// tensor and the element, and nothing at all is copied.
TEST_F(SafetensorsIO, LoadRefusesNonFiniteValuesAndCopiesNothing) {
  Rng rng(5);
  for (const float bad_value : {std::nanf(""), -std::numeric_limits<float>::infinity()}) {
    StateDict file_dict = small_model(rng, 3);
    file_dict[2].second.data()[5] = bad_value;  // bn1.running_var
    Records recs;
    for (auto& [n, t] : file_dict) recs.emplace_back(n, TensorRecord::from_tensor(t));
    write_safetensors(path("nan.safetensors"), recs);
    for (const bool strict : {true, false}) {
      StateDict dst = small_model(rng, 3);
      const std::vector<float> conv_before = dst[0].second.to_vector();
      try {
        load_state_dict(path("nan.safetensors"), dst, strict);
        ADD_FAILURE() << "a non-finite value was loaded";
      } catch (const std::domain_error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find(path("nan.safetensors") + ": tensor 'bn1.running_var' holds"), std::string::npos) << m;
        EXPECT_NE(m.find("at element 5; nothing was loaded"), std::string::npos) << m;
      }
      EXPECT_EQ(dst[0].second.to_vector(), conv_before) << "conv1.weight was copied before the bad tensor";
    }
    EXPECT_THROW(require_finite_tensors(read_safetensors(path("nan.safetensors")), "f"), std::domain_error);
  }
  StateDict fine = small_model(rng, 3);
  save_state_dict(path("fine.safetensors"), fine);
  EXPECT_NO_THROW(require_finite_tensors(read_safetensors(path("fine.safetensors")), "f"));
}

TEST(StateDict, BadTargetsAreRejected) {
  SafeTensorsFile empty;
  EXPECT_THROW(load_state_dict(empty, "f", {{"a", Tensor()}}, false), std::invalid_argument);
  EXPECT_THROW(load_state_dict(empty, "f", {{"a", Tensor::zeros({1})}, {"a", Tensor::zeros({1})}},
                               false),
               std::invalid_argument);
}

// ---------------------------------------------------------------- the Python exporter

bool have_python() { return std::system("python3 -c 'import json, struct' >/dev/null 2>&1") == 0; }

TEST_F(SafetensorsIO, PythonExporterWritesFilesWeRead) {
  const char* src = std::getenv("HSANET_SOURCE_DIR");
  if (!src || !have_python()) GTEST_SKIP() << "python3 or HSANET_SOURCE_DIR not available";
  const std::string script_dir = std::string(src) + "/scripts";
  const std::string out = path("py.safetensors");
  const std::string code =
      "import sys; sys.path.insert(0, sys.argv[1]); import export_torch_weights as e; "
      "e.write_safetensors(sys.argv[2], ["
      "('layer1.0.conv1.weight', 'F32', [2, 1, 1, 2], e.floats_to_bytes([1.5, -2, 0.25, 1e30])), "
      "('bn1.num_batches_tracked', 'I64', [], e.ints_to_bytes([7])), "
      "('empty', 'F32', [0], b'')], {'format': 'pt'})";
  const std::string cmd = "python3 -c \"" + code + "\" '" + script_dir + "' '" + out + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  SafeTensorsFile f = read_safetensors(out);
  EXPECT_EQ(f.metadata, (Metadata{{"format", "pt"}}));
  EXPECT_EQ(f.at("layer1.0.conv1.weight").shape, (Shape{2, 1, 1, 2}));
  EXPECT_EQ(f.at("layer1.0.conv1.weight").to_float_tensor().to_vector(),
            (std::vector<float>{1.5f, -2.f, 0.25f, 1e30f}));
  EXPECT_EQ(f.at("bn1.num_batches_tracked").to_int64(), std::vector<int64_t>{7});
  EXPECT_EQ(f.at("empty").numel(), 0);

  // And the other way: the script's reader understands what we write.
  write_safetensors(path("cc.safetensors"), {{"fc.bias", TensorRecord::from_tensor(Tensor::zeros({26}))}});
  const std::string check =
      "python3 -c \"import sys; sys.path.insert(0, sys.argv[1]); import export_torch_weights as e; "
      "h = e.read_header(sys.argv[2]); assert h['fc.bias']['shape'] == [26], h\" '" +
      script_dir + "' '" + path("cc.safetensors") + "'";
  EXPECT_EQ(std::system(check.c_str()), 0);
}

}  // namespace
}  // namespace hsanet::io
