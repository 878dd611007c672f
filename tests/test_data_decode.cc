// Decoding: every accepted format decodes to the right pixels, and every bad input named in the
// data-layer issue fails with a DataError that names the file and the reason (never a crash, a
// hang or a silently wrong picture). Bad files are written at run time into a temporary folder.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "base/random.h"
#include "data/data_error.h"
#include "data/decode.h"
#include "data/header_check.h"
#include "data_fixtures/fixture_writers.h"

namespace hsanet::data {
namespace {

using testing::Bytes;
using testing::TempDir;

// Runs f, which must throw a DataError whose file is `file` and whose reason contains `reason`.
void expect_data_error(const std::function<void()>& f, const std::string& file, const std::string& reason) {
  try {
    f();
    ADD_FAILURE() << "expected a DataError for " << file << " (" << reason << "), got none";
  } catch (const DataError& e) {
    EXPECT_EQ(e.file(), file);
    EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    EXPECT_NE(e.reason().find(reason), std::string::npos) << "reason \"" << e.reason() << "\" lacks \"" << reason
                                                          << "\"";
  }
}

void expect_file_error(const TempDir& dir, const std::string& rel, const Bytes& bytes, const std::string& reason,
                       const DecodeLimits& limits = {}) {
  const std::string path = dir.write(rel, bytes);
  expect_data_error([&] { (void)decode_image_file(path, limits); }, path, reason);
}

Image decode_bytes(const Bytes& b, const DecodeLimits& limits = {}) {
  return decode_image_memory(b.data(), b.size(), "memory", limits);
}

// Largest and mean absolute channel difference between two same-sized images.
std::pair<int, double> difference(const Image& a, const Image& b) {
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  int worst = 0;
  double sum = 0;
  for (size_t i = 0; i < a.pixels.size() && i < b.pixels.size(); ++i) {
    const int d = std::abs(int{a.pixels[i]} - int{b.pixels[i]});
    worst = std::max(worst, d);
    sum += d;
  }
  return {worst, sum / static_cast<double>(a.pixels.size())};
}

size_t find_marker(const Bytes& jpeg, uint8_t marker) {
  for (size_t i = 0; i + 1 < jpeg.size(); ++i)
    if (jpeg[i] == 0xFF && jpeg[i + 1] == marker) return i;
  return std::string::npos;
}

std::string fixture(const std::string& name) { return testing::source_dir() + "/tests/data_fixtures/" + name; }

// ---------------------------------------------------------------------------- accepted formats

TEST(DataDecode, Crc32MatchesTheStandardCheckValue) {
  const std::string s = "123456789";
  EXPECT_EQ(crc32(reinterpret_cast<const uint8_t*>(s.data()), s.size()), 0xCBF43926u);
}

TEST(DataDecode, PngRgbIsExact) {
  const Image im = testing::pattern_image(20, 12);
  EXPECT_EQ(decode_bytes(testing::make_png_rgb(im)).pixels, im.pixels);
}

TEST(DataDecode, PngInterlacedIsExact) {
  const Image im = testing::pattern_image(19, 13);
  const Bytes png = testing::make_png(19, 13, 2, 8, std::vector<uint16_t>(im.pixels.begin(), im.pixels.end()), {},
                                      /*interlace=*/true);
  EXPECT_EQ(decode_bytes(png).pixels, im.pixels);
}

TEST(DataDecode, GreyPngBecomesThreeEqualChannels) {
  std::vector<uint16_t> grey(10 * 9);
  for (size_t i = 0; i < grey.size(); ++i) grey[i] = static_cast<uint16_t>(i * 2);
  const Image out = decode_bytes(testing::make_png(10, 9, 0, 8, grey));
  ASSERT_EQ(out.width, 10);
  for (size_t i = 0; i < grey.size(); ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(out.pixels[i * 3 + c], grey[i]);
}

TEST(DataDecode, SixteenBitPngKeepsTheHighByte) {
  // Decision: 16-bit PNGs are accepted and reduced to 8 bits (high byte), as stb and PIL do.
  std::vector<uint16_t> rgb(8 * 8 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint16_t>(i * 997 + 0x1234);
  const Image out = decode_bytes(testing::make_png(8, 8, 2, 16, rgb));
  for (size_t i = 0; i < rgb.size(); ++i) EXPECT_EQ(out.pixels[i], rgb[i] >> 8) << i;
  std::vector<uint16_t> grey(8 * 8, 0xABCD);
  const Image g = decode_bytes(testing::make_png(8, 8, 0, 16, grey));
  for (uint8_t v : g.pixels) EXPECT_EQ(v, 0xAB);
}

TEST(DataDecode, AlphaIsDroppedAndPalettesExpand) {
  std::vector<uint16_t> rgba;
  for (int i = 0; i < 8 * 8; ++i) rgba.insert(rgba.end(), {uint16_t(i), uint16_t(2 * i), uint16_t(3 * i), 7});
  const Image out = decode_bytes(testing::make_png(8, 8, 6, 8, rgba));
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(out.pixels[i * 3 + 0], i);
    EXPECT_EQ(out.pixels[i * 3 + 2], 3 * i);
  }
  std::vector<uint16_t> grey_alpha;
  for (int i = 0; i < 64; ++i) grey_alpha.insert(grey_alpha.end(), {uint16_t(i), 0});
  EXPECT_EQ(decode_bytes(testing::make_png(8, 8, 4, 8, grey_alpha)).pixels[5 * 3 + 1], 5);

  const Bytes palette = {10, 20, 30, 200, 100, 50};
  std::vector<uint16_t> idx(8 * 8);
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i % 2;
  const Image pal = decode_bytes(testing::make_png(8, 8, 3, 8, idx, palette));
  EXPECT_EQ(pal.pixels[0], 10);
  EXPECT_EQ(pal.pixels[3 + 0], 200);
  EXPECT_EQ(pal.pixels[3 + 2], 50);
}

TEST(DataDecode, BmpBottomUpAndTopDownAreExact) {
  const Image im = testing::pattern_image(13, 9);  // 13 * 3 = 39: rows need padding
  EXPECT_EQ(decode_bytes(testing::make_bmp24(im, false)).pixels, im.pixels);
  EXPECT_EQ(decode_bytes(testing::make_bmp24(im, true)).pixels, im.pixels);
}

TEST(DataDecode, PnmAnyMaxvalIsRescaled) {
  std::vector<uint16_t> grey = {0, 50, 100, 25};
  grey.resize(8 * 8, 100);
  const Image g = decode_bytes(testing::make_pnm('5', 8, 8, 100, grey));
  EXPECT_EQ(g.pixels[0], 0);
  EXPECT_EQ(g.pixels[3], 128);  // 50 / 100 * 255 = 127.5, rounded up
  EXPECT_EQ(g.pixels[6], 255);
  EXPECT_EQ(g.pixels[9], 64);
  EXPECT_EQ(g.pixels[10], 64);  // grey replicated

  std::vector<uint16_t> wide(8 * 8 * 3, 65535);
  wide[0] = 0;
  wide[1] = 32768;
  const Image w = decode_bytes(testing::make_pnm('6', 8, 8, 65535, wide));
  EXPECT_EQ(w.pixels[0], 0);
  EXPECT_EQ(w.pixels[1], 128);
  EXPECT_EQ(w.pixels[2], 255);

  const Image im = testing::pattern_image(9, 8);
  const Bytes ppm = testing::make_pnm('6', 9, 8, 255, std::vector<uint16_t>(im.pixels.begin(), im.pixels.end()));
  EXPECT_EQ(decode_bytes(ppm).pixels, im.pixels);
}

TEST(DataDecode, BaselineJpegIsClose) {
  const Image im = testing::pattern_image(48, 40);
  const auto [worst, mean] = difference(decode_bytes(testing::make_jpeg(im)), im);
  EXPECT_LT(worst, 24);
  EXPECT_LT(mean, 3.0);
}

TEST(DataDecode, ProgressiveJpegIsAccepted) {
  // Decision: progressive JPEGs are common from the web and stb decodes them: accepted.
  const Image out = decode_image_file(fixture("progressive.jpg"));
  const auto [worst, mean] = difference(out, testing::pattern_image(48, 40));
  EXPECT_LT(worst, 24);
  EXPECT_LT(mean, 3.0);
}

TEST(DataDecode, CmykJpegWithAdobeMarkerIsConvertedToRgb) {
  // Decision: CMYK/YCCK JPEGs with Adobe's APP14 marker are accepted (stb converts them);
  // without the marker four components are ambiguous and the file is refused.
  const Image out = decode_image_file(fixture("cmyk_adobe.jpg"));
  const auto [worst, mean] = difference(out, testing::pattern_image(48, 40));
  EXPECT_LT(worst, 24);
  EXPECT_LT(mean, 3.0);
  const std::string no_marker = fixture("cmyk_no_adobe.jpg");
  expect_data_error([&] { (void)decode_image_file(no_marker); }, no_marker, "colour space is ambiguous");
}

TEST(DataDecode, LibjpegBaselineAndGreyJpegsDecode) {
  // A second encoder's files (4:2:0 chroma subsampling, one-component grey).
  const auto [worst, mean] = difference(decode_image_file(fixture("libjpeg_baseline.jpg")),
                                        testing::pattern_image(48, 40));
  EXPECT_LT(worst, 32);
  EXPECT_LT(mean, 3.0);
  const Image grey = decode_image_file(fixture("libjpeg_grey.jpg"));
  ASSERT_EQ(grey.width, 48);
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 48; ++x) {
      const uint8_t* p = grey.at(x, y);
      ASSERT_EQ(p[0], p[1]);
      ASSERT_EQ(p[0], p[2]);
      ASSERT_NEAR(p[0], 40 + 4 * x, 6);
    }
}

TEST(DataDecode, JpegWithBytesAfterTheEndMarkerIsAccepted) {
  Bytes jpeg = testing::make_jpeg(testing::pattern_image(16, 16));
  jpeg.insert(jpeg.end(), {'j', 'u', 'n', 'k', 0, 0});
  EXPECT_EQ(decode_bytes(jpeg).width, 16);
}

TEST(DataDecode, BundledOrlFaceDecodesAsGrey) {
  const std::string path = testing::source_dir() + "/data/orl_faces/s1/1.pgm";
  const Image im = decode_image_file(path);
  EXPECT_EQ(im.width, 92);
  EXPECT_EQ(im.height, 112);
  for (size_t i = 0; i < im.pixels.size(); i += 3) {
    ASSERT_EQ(im.pixels[i], im.pixels[i + 1]);
    ASSERT_EQ(im.pixels[i], im.pixels[i + 2]);
  }
}

TEST(DataDecode, LfwColourJpegDecodes) {
  const std::string dir = testing::source_dir() + "/../shared/data/lfw_dev26/George_Robertson";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << "the shared LFW development set is not present";
  const Image im = decode_image_file(dir + "/George_Robertson_0001.jpg");
  EXPECT_EQ(im.width, 250);
  EXPECT_EQ(im.height, 250);
  int coloured = 0;
  for (size_t i = 0; i < im.pixels.size(); i += 3) coloured += im.pixels[i] != im.pixels[i + 2];
  EXPECT_GT(coloured, 1000);
}

// ---------------------------------------------------------------------------- files that fail

TEST(DataDecode, ZeroByteFile) {
  TempDir dir;
  expect_file_error(dir, "empty.jpg", {}, "empty file");
}

TEST(DataDecode, TextRenamedToJpg) {
  TempDir dir;
  const std::string text = "<html><body>404 Not Found</body></html>\n";
  expect_file_error(dir, "page.jpg", Bytes(text.begin(), text.end()), "text file");
}

TEST(DataDecode, JpegTruncatedInTheHeader) {
  TempDir dir;
  Bytes jpeg = testing::make_jpeg(testing::pattern_image(32, 32));
  jpeg.resize(30);  // inside the first quantisation table
  expect_file_error(dir, "head.jpg", jpeg, "truncated in its header");
}

TEST(DataDecode, JpegTruncatedHalfWay) {
  TempDir dir;
  Bytes jpeg = testing::make_jpeg(testing::pattern_image(64, 64));
  const size_t scan = find_marker(jpeg, 0xDA);
  ASSERT_NE(scan, std::string::npos);
  jpeg.resize(scan + (jpeg.size() - scan) / 2);  // half-way through the compressed pixels
  expect_file_error(dir, "half.jpg", jpeg, "truncated");
  // stb alone would have returned a picture here (grey below the cut): the check is ours.
}

TEST(DataDecode, PngWithABadCrc) {
  TempDir dir;
  Bytes png = testing::make_png_rgb(testing::pattern_image(16, 16));
  png[png.size() - 12 - 20] ^= 0x01;  // one bit inside IDAT's pixel data
  expect_file_error(dir, "crc.png", png, "bad CRC in chunk IDAT");
  // A wrong CRC on an ancillary chunk is corruption too.
  Bytes png2 = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  auto add = [&](const Bytes& c) { png2.insert(png2.end(), c.begin(), c.end()); };
  add(testing::png_chunk("IHDR", testing::png_ihdr(8, 8, 8, 0)));
  add(testing::png_chunk("tEXt", {'a', 0, 'b'}, 0xDEAD));
  expect_file_error(dir, "crc2.png", png2, "bad CRC in chunk tEXt");
}

TEST(DataDecode, PngTruncated) {
  TempDir dir;
  Bytes png = testing::make_png_rgb(testing::pattern_image(16, 16));
  png.resize(png.size() / 2);
  expect_file_error(dir, "cut.png", png, "PNG truncated");
  png.resize(20);
  expect_file_error(dir, "cut2.png", png, "PNG truncated");
}

TEST(DataDecode, HeaderClaiming100000x100000) {
  TempDir dir;
  Bytes png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  auto add = [&](const Bytes& c) { png.insert(png.end(), c.begin(), c.end()); };
  add(testing::png_chunk("IHDR", testing::png_ihdr(100000, 100000, 8, 2)));
  add(testing::png_chunk("IDAT", testing::zlib_stored({0, 1, 2, 3})));
  add(testing::png_chunk("IEND", {}));
  expect_file_error(dir, "huge.png", png, "100000x100000, over the limit");

  Bytes jpeg = testing::make_jpeg(testing::pattern_image(16, 16));
  const size_t sof = find_marker(jpeg, 0xC0);
  ASSERT_NE(sof, std::string::npos);
  jpeg[sof + 5] = 0xEA;  // height 60000
  jpeg[sof + 6] = 0x60;
  jpeg[sof + 7] = 0xEA;  // width 60000
  jpeg[sof + 8] = 0x60;
  expect_file_error(dir, "huge.jpg", jpeg, "60000x60000, over the limit");

  // Within the side limit but over the pixel budget.
  DecodeLimits limits;
  limits.max_pixels = 100;
  expect_file_error(dir, "many.png", testing::make_png_rgb(testing::pattern_image(16, 16)), "over the limit of 100",
                    limits);
}

TEST(DataDecode, OneByOneAndOneByFiveThousand) {
  // Decision: sides under min_side (8) are refused: no face fits, and a 1x5000 strip resized by
  // its short side would be enormous. The limit is an option.
  TempDir dir;
  expect_file_error(dir, "dot.png", testing::make_png(1, 1, 0, 8, {128}), "1x1: too small");
  const std::vector<uint16_t> strip(5000, 7);
  expect_file_error(dir, "strip.png", testing::make_png(1, 5000, 0, 8, strip), "1x5000: too small");

  DecodeLimits loose;
  loose.min_side = 1;
  EXPECT_EQ(decode_bytes(testing::make_png(1, 1, 0, 8, {128}), loose).pixels, (std::vector<uint8_t>{128, 128, 128}));
  expect_file_error(dir, "strip2.png", testing::make_png(1, 5000, 0, 8, strip), "aspect ratio", loose);
}

TEST(DataDecode, GifAndPsdRenamedToJpg) {
  TempDir dir;
  Bytes gif = {'G', 'I', 'F', '8', '9', 'a', 16, 0, 16, 0, 0x80, 0, 0};
  gif.resize(64, 0);
  expect_file_error(dir, "anim.jpg", gif, "GIF image (unsupported format)");
  Bytes psd = {'8', 'B', 'P', 'S', 0, 1, 0, 0, 0, 0, 0, 0, 0, 3};
  psd.resize(64, 0);
  expect_file_error(dir, "layers.jpg", psd, "Photoshop (PSD) image");
  Bytes tiff = {'I', 'I', '*', 0, 8, 0, 0, 0};
  expect_file_error(dir, "scan.jpg", tiff, "TIFF image");
  Bytes webp = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', ' '};
  expect_file_error(dir, "web.jpg", webp, "WebP image");
  expect_file_error(dir, "noise.jpg", {0x01, 0x02, 0x00, 0xFE}, "unrecognised content (first bytes 0x01 0x02");
}

TEST(DataDecode, UnreadableFile) {
  TempDir dir;
  const std::string path = dir.write("locked.png", testing::make_png_rgb(testing::pattern_image(8, 8)));
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  if (::access(path.c_str(), R_OK) == 0)
    GTEST_SKIP() << "running with privileges that ignore permission bits (root): cannot make a file unreadable";
  expect_data_error([&] { (void)decode_image_file(path); }, path, "cannot open: Permission denied");
}

TEST(DataDecode, MissingFileAndDanglingSymlink) {
  TempDir dir;
  const std::string missing = dir / "missing.jpg";
  expect_data_error([&] { (void)decode_image_file(missing); }, missing, "file does not exist");
  const std::string link = dir / "link.jpg";
  ASSERT_EQ(::symlink((dir / "nowhere.jpg").c_str(), link.c_str()), 0);
  expect_data_error([&] { (void)decode_image_file(link); }, link, "dangling symbolic link");
  // A symbolic link to a good file is fine.
  const std::string target = dir.write("real.png", testing::make_png_rgb(testing::pattern_image(8, 8)));
  const std::string good_link = dir / "good.png";
  ASSERT_EQ(::symlink(target.c_str(), good_link.c_str()), 0);
  EXPECT_EQ(decode_image_file(good_link).width, 8);
}

TEST(DataDecode, DirectoryNamedLikeAnImageAndAFifo) {
  TempDir dir;
  const std::string folder = dir.mkdir("x.jpg");
  expect_data_error([&] { (void)decode_image_file(folder); }, folder, "is a directory");
  const std::string fifo = dir / "pipe.jpg";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_data_error([&] { (void)decode_image_file(fifo); }, fifo, "not a regular file");  // and no hang
}

TEST(DataDecode, FileOverTheSizeLimit) {
  TempDir dir;
  DecodeLimits limits;
  limits.max_file_bytes = 100;
  expect_file_error(dir, "big.bmp", testing::make_bmp24(testing::pattern_image(16, 16)), "over the limit of 100",
                    limits);
}

TEST(DataDecode, UnsupportedVariantsAreNamed) {
  TempDir dir;
  Bytes jpeg = testing::make_jpeg(testing::pattern_image(16, 16));
  const size_t sof = find_marker(jpeg, 0xC0);
  Bytes twelve = jpeg;
  twelve[sof + 4] = 12;
  expect_file_error(dir, "twelve.jpg", twelve, "12-bit JPEG is not supported");
  Bytes arith = jpeg;
  arith[sof + 1] = 0xC9;
  expect_file_error(dir, "arith.jpg", arith, "arithmetic-coded JPEG is not supported");

  Bytes rle = testing::make_bmp24(testing::pattern_image(8, 8));
  rle[30] = 1;  // compression field of BITMAPINFOHEADER
  expect_file_error(dir, "rle.bmp", rle, "run-length-compressed BMP");
  Bytes plain = {'P', '2', '\n', '8', ' ', '8', '\n', '2', '5', '5', '\n', '0'};
  expect_file_error(dir, "plain.pgm", plain, "P2 (plain-text or 1-bit) is not supported");

  Bytes png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  auto add = [&](const Bytes& c) { png.insert(png.end(), c.begin(), c.end()); };
  add(testing::png_chunk("IHDR", testing::png_ihdr(8, 8, 8, 0)));
  add(testing::png_chunk("ABCD", {1, 2, 3}));
  expect_file_error(dir, "critical.png", png, "unknown critical chunk ABCD");
}

TEST(DataDecode, JpegTablesAreCheckedBeforeStbTrustsThem) {
  // stb_image 2.27 overruns its arrays on a Huffman table with more than 256 codes and reads
  // uninitialised memory for a table that was never defined: both are refused beforehand.
  TempDir dir;
  const Bytes jpeg = testing::make_jpeg(testing::pattern_image(16, 16));
  const size_t dht = find_marker(jpeg, 0xC4);
  ASSERT_NE(dht, std::string::npos);
  Bytes crowded = jpeg;
  crowded[dht + 5] = 3;  // three codes of length 1: only two exist
  expect_file_error(dir, "crowded.jpg", crowded, "more codes of length 1 than fit");

  Bytes undefined = jpeg;
  const size_t sos = find_marker(jpeg, 0xDA);
  undefined[sos + 6] = 0x33;  // first scan component: DC and AC table 3, never defined
  expect_file_error(dir, "undefined.jpg", undefined, "never defined");
}

// Inputs the fuzzer once crashed stb_image with (see docs/data.md): each must now fail cleanly.
TEST(DataDecode, FuzzRegressionsFailCleanly) {
  const std::string dir = testing::source_dir() + "/tests/data_fixtures/fuzz_regressions";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string path = entry.path().string();
    ++files;
    expect_data_error([&] { (void)decode_image_file(path); }, path, "");
  }
  EXPECT_GE(files, 1);
  const std::string huffman = dir + "/jpeg_huffman_overflow.jpg";
  expect_data_error([&] { (void)decode_image_file(huffman); }, huffman, "Huffman table");
}

TEST(DataDecode, BmpAndPnmTruncated) {
  TempDir dir;
  Bytes bmp = testing::make_bmp24(testing::pattern_image(16, 16));
  bmp.resize(bmp.size() - 10);
  expect_file_error(dir, "cut.bmp", bmp, "BMP truncated");
  Bytes pgm = testing::make_pnm('5', 16, 16, 255, std::vector<uint16_t>(256, 9));
  pgm.resize(pgm.size() - 1);
  expect_file_error(dir, "cut.pgm", pgm, "PNM truncated");
  expect_file_error(dir, "head.pgm", {'P', '5', '\n', '1', '6'}, "PNM truncated in its header");
}

// The JPEG parameters that stb_image 2.27's known JPEG bugs live next to, refused by our checks
// with a clear reason: a progressive scan's Al (CVE-2022-28041 overflows the DC value shifted by
// it) and a Huffman table's code counts (CVE-2022-28042 is in the Huffman decoder). These files
// are NOT reproductions of the CVEs: stb 2.27 refuses both itself ("bad SOS", "bad code lengths",
// checked with an ASan build of stb alone), and the CVEs' triggers lie in entropy-coded data,
// which our checks do not read (docs/data.md).
TEST(DataDecode, ScanParametersAndHuffmanCountsNearTheCvesAreRefused) {
  const Bytes original = testing::read_bytes(fixture("progressive.jpg"));
  ASSERT_NO_THROW((void)decode_bytes(original));
  // The first scan (at 0xE4: 3 components, a DC first scan, Ah 0 Al 1) and the first DHT (at
  // 0xB1: DC table 0, four codes of lengths 1-4).
  ASSERT_EQ(original.at(0xE4 + 1), 0xDA);
  ASSERT_EQ(original.at(0xE4 + 13), 0x01);
  ASSERT_EQ(original.at(0xB1 + 1), 0xC4);
  ASSERT_EQ(original.at(0xB1 + 5), 1);

  Bytes al15 = original;
  al15[0xE4 + 13] = 0x0F;  // Al 15 (T.81 allows at most 13)
  expect_data_error([&] { (void)check_header(al15.data(), al15.size(), "al15.jpg"); }, "al15.jpg",
                    "invalid progressive scan parameters");

  Bytes oversubscribed = original;
  oversubscribed[0xB1 + 5] = 3;  // three codes of length 1 (two exist); still four symbols
  oversubscribed[0xB1 + 7] = 0;
  oversubscribed[0xB1 + 8] = 0;
  expect_data_error([&] { (void)check_header(oversubscribed.data(), oversubscribed.size(), "oversubscribed.jpg"); },
                    "oversubscribed.jpg", "Huffman table has more codes of length 1");
}

// Regression files for stb_image 2.27's reports (tests/data_fixtures/cve/, written by
// make_cve_files.py; docs/data.md, section 7). Under clang's UBSan, stb 2.27 alone reports on both.
//  - CVE-2022-28042: a DHT table of 400 symbols overruns stb's 257-entry tables ("index 257 out of
//    bounds" in stbi__jpeg_huff_decode). Our check refuses the table before stb sees it.
//  - CVE-2022-28041: the DC values of a progressive scan with Al 13 overflow int. The trigger is in
//    the entropy-coded data, which no header check reads; decode.cc is compiled with -fwrapv, so
//    the file decodes to a garbage picture with defined arithmetic. Only the sanitizer build can
//    tell the difference: scripts/fuzz_decode.sh replays these files first, and stops on any
//    undefined behaviour.
//  - CVE-2021-37789: sampling factors that are not integer ratios (Y 3x2, Cb 2x1) make stb 2.27
//    upsample Cb over the full width from lines two thirds as wide: ASan reports a heap-buffer-
//    overflow read in stbi__resample_row_v_2 once stb's own fix ("bad H") is taken out. Our
//    header check refuses the frame before stb sees it.
TEST(DataDecode, StbCveRegressionFiles) {
  const std::string dir = testing::source_dir() + "/tests/data_fixtures/cve";
  const std::string dht = dir + "/cve_2022_28042_dht.jpg";
  expect_data_error([&] { (void)decode_image_file(dht); }, dht, "Huffman table with 400 symbols");

  const std::string sampling = dir + "/cve_2021_37789_sampling.jpg";
  expect_data_error([&] { (void)decode_image_file(sampling); }, sampling,
                    "component 1 has sampling factors 2x1, not a whole fraction of 3x2");

  const std::string prog_dc = dir + "/cve_2022_28041_prog_dc.jpg";
  const Image image = decode_image_file(prog_dc);  // 80x8, at the minimum side
  EXPECT_EQ(image.width, 80);
  EXPECT_EQ(image.height, 8);
}

// Headers claiming 2^31 - 1 pixels a side: the size in the message is exact, not an overflowed
// 64-bit product (2147483647 x 3 x 2147483647 bytes, and 8589934588-byte rows x 2147483647).
TEST(DataDecode, HugeHeaderSizesAreReportedExactly) {
  const std::string ppm = "P6\n2147483647 2147483647\n255\n";
  const Bytes pnm_bytes(ppm.begin(), ppm.end());
  expect_data_error([&] { (void)check_header(pnm_bytes.data(), pnm_bytes.size(), "huge.ppm"); }, "huge.ppm",
                    "needs 13835058042397261827 bytes of samples");

  Bytes bmp(54, 0);
  auto le32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) bmp[at + i] = static_cast<uint8_t>(v >> (8 * i));
  };
  bmp[0] = 'B', bmp[1] = 'M';
  le32(10, 54);          // pixel data offset
  le32(14, 40);          // BITMAPINFOHEADER
  le32(18, 0x7FFFFFFF);  // width
  le32(22, 0x7FFFFFFF);  // height
  bmp[26] = 1;           // planes
  bmp[28] = 32;          // bits per pixel
  expect_data_error([&] { (void)check_header(bmp.data(), bmp.size(), "huge.bmp"); }, "huge.bmp",
                    "needs 18446744056529682436 bytes of pixels");
}

// A deflate stream that inflates to ~26 MB from ~160 kB: literal 0, then copies of 258 bytes at
// distance 1 (fixed Huffman codes), inside a PNG that claims 64x64 grey (4 kB of rows).
TEST(DataDecode, PngDecompressionBombIsStopped) {
  Bytes z = {0x78, 0x01};
  uint32_t acc = 0;
  int nbits = 0;
  auto bits = [&](uint32_t v, int n) {  // LSB first
    acc |= v << nbits;
    nbits += n;
    while (nbits >= 8) {
      z.push_back(static_cast<uint8_t>(acc));
      acc >>= 8;
      nbits -= 8;
    }
  };
  auto code = [&](uint32_t c, int n) {  // Huffman codes go MSB first
    for (int i = n - 1; i >= 0; --i) bits((c >> i) & 1, 1);
  };
  bits(1, 1);                 // BFINAL
  bits(1, 2);                 // fixed Huffman
  code(0x30, 8);              // literal 0
  for (int i = 0; i < 100000; ++i) {
    code(0xC5, 8);            // length symbol 285: 258 bytes
    code(0, 5);               // distance code 0: distance 1
  }
  code(0, 7);                 // end of block
  bits(0, 7);
  z.insert(z.end(), {0, 0, 0, 0});  // Adler-32 (never reached)

  Bytes png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  auto add = [&](const Bytes& c) { png.insert(png.end(), c.begin(), c.end()); };
  add(testing::png_chunk("IHDR", testing::png_ihdr(64, 64, 8, 0)));
  add(testing::png_chunk("IDAT", z));
  add(testing::png_chunk("IEND", {}));
  TempDir dir;
  expect_file_error(dir, "bomb.png", png, "decompresses to more than a 64x64 image needs");
}

// Random damage to good files of every format: each decode must return a picture of the size
// its header states or throw DataError. Anything else (another exception, a crash) fails.
TEST(DataDecode, DamagedFilesFailCleanly) {
  const Image im = testing::pattern_image(24, 20);
  std::vector<Bytes> seeds = {testing::make_png_rgb(im), testing::make_jpeg(im), testing::make_bmp24(im),
                              testing::make_pnm('6', 24, 20, 255, std::vector<uint16_t>(im.pixels.begin(),
                                                                                         im.pixels.end())),
                              testing::read_bytes(fixture("progressive.jpg")),
                              testing::read_bytes(fixture("cmyk_adobe.jpg"))};
  Rng rng(2024);
  int decoded = 0, refused = 0;
  for (const Bytes& seed : seeds) {
    for (int trial = 0; trial < 300; ++trial) {
      Bytes b = seed;
      switch (rng.below(3)) {
        case 0:  // flip a few bytes
          for (uint64_t k = 0, n = 1 + rng.below(4); k < n; ++k) b[rng.below(b.size())] ^= 1 + rng.below(255);
          break;
        case 1:  // cut
          b.resize(1 + rng.below(b.size() - 1));
          break;
        default:  // overwrite a header byte with an extreme value
          b[rng.below(std::min<size_t>(b.size(), 64))] = rng.below(2) ? 0xFF : 0x00;
      }
      try {
        const Image out = decode_bytes(b);
        EXPECT_GE(out.width, 8);
        EXPECT_EQ(out.pixels.size(), static_cast<size_t>(out.width) * out.height * 3);
        ++decoded;
      } catch (const DataError& e) {
        EXPECT_FALSE(e.reason().empty());
        ++refused;
      }
    }
  }
  EXPECT_GT(refused, 500);
  EXPECT_GT(decoded, 10);  // JPEG has no checksum: damaged entropy data still decodes
}

}  // namespace
}  // namespace hsanet::data
