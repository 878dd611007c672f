// Split: the Python-compatible generator, the stratified split (the same files as the PyTorch
// reference for the same seed), and the split and class-list files.
#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "data/data_error.h"
#include "data/python_random.h"
#include "data/split.h"
#include "data_fixtures/fixture_writers.h"

namespace hsanet::data {
namespace {

using testing::TempDir;

// Values printed by CPython 3.11: random.Random(seed).getrandbits(32) and random.shuffle.
TEST(DataSplit, PythonRandomMatchesCPython) {
  PythonRandom a(1);
  for (uint32_t v : {577090037u, 2444712010u, 3639700191u, 3445702192u, 3280387012u}) EXPECT_EQ(a.getrandbits(32), v);
  PythonRandom b(0);
  for (uint32_t v : {3626764237u, 1654615998u, 3255389356u}) EXPECT_EQ(b.getrandbits(32), v);
  PythonRandom c((uint64_t{1} << 40) + 5);  // a seed of two 32-bit words
  for (uint32_t v : {2166296868u, 2220160828u, 1153647273u}) EXPECT_EQ(c.getrandbits(32), v);

  std::vector<int> x(10);
  for (int i = 0; i < 10; ++i) x[i] = i;
  PythonRandom(1).shuffle(x);
  EXPECT_EQ(x, (std::vector<int>{6, 8, 9, 7, 5, 3, 0, 4, 1, 2}));
  std::vector<int> y(1000);
  for (int i = 0; i < 1000; ++i) y[i] = i;
  PythonRandom(12345).shuffle(y);
  EXPECT_EQ(std::vector<int>(y.begin(), y.begin() + 10),
            (std::vector<int>{669, 944, 291, 633, 922, 752, 781, 258, 657, 615}));
}

std::set<std::string> val_paths(const ImageFolder& f, const Split& s) {
  std::set<std::string> out;
  for (int i : s.val) out.insert(f.samples()[i].path);
  return out;
}

TEST(DataSplit, OrlSplitMatchesThePyTorchReference) {
  // train_torch.py's stratified_split on data/orl_faces with seed 1 and fraction 0.2.
  const std::string expected_text =
      "s1/6 s1/8 s10/4 s10/8 s11/7 s11/8 s12/7 s12/2 s13/2 s13/1 s14/3 s14/9 s15/1 s15/10 s16/6 s16/8 s17/2 "
      "s17/10 s18/10 s18/9 s19/6 s19/9 s2/6 s2/3 s20/10 s20/5 s21/4 s21/10 s22/2 s22/9 s23/2 s23/4 s24/5 s24/3 "
      "s25/1 s25/10 s26/4 s26/6 s27/6 s27/2 s28/8 s28/4 s29/5 s29/6 s3/5 s3/3 s30/6 s30/5 s31/2 s31/8 s32/2 "
      "s32/1 s33/5 s33/9 s34/8 s34/1 s35/8 s35/1 s36/8 s36/2 s37/7 s37/3 s38/3 s38/10 s39/3 s39/5 s4/7 s4/5 "
      "s40/9 s40/3 s5/5 s5/3 s6/3 s6/1 s7/10 s7/8 s8/6 s8/3 s9/9 s9/7";
  std::set<std::string> expected;
  std::istringstream in(expected_text);
  for (std::string w; in >> w;) expected.insert(w + ".pgm");
  const ImageFolder f(testing::source_dir() + "/data/orl_faces");
  const Split s = stratified_split(f, 0.2, 1);
  EXPECT_EQ(s.val.size(), 80u);
  EXPECT_EQ(s.train.size(), 320u);
  EXPECT_EQ(val_paths(f, s), expected);

  // Seed 7, fraction 0.3: 3 per class; the reference's first nine.
  const Split t = stratified_split(f, 0.3, 7);
  EXPECT_EQ(t.val.size(), 120u);
  const std::set<std::string> v = val_paths(f, t);
  for (const char* p : {"s1/8.pgm", "s1/3.pgm", "s1/10.pgm", "s10/10.pgm", "s10/2.pgm", "s10/4.pgm", "s11/3.pgm",
                        "s11/5.pgm", "s11/2.pgm"})
    EXPECT_TRUE(v.count(p)) << p;
}

TEST(DataSplit, StratifiedCountsDisjointCompleteAndSeeded) {
  TempDir dir;
  const testing::Bytes png = testing::make_png_rgb(testing::pattern_image(8, 8));
  for (int c = 0; c < 14; ++c)
    for (int i = 0; i < c + 2; ++i) {
      std::ostringstream rel;
      rel << 'c' << c << '/' << i << ".png";
      dir.write(rel.str(), png);
    }
  const ImageFolder f(dir.path());
  for (double frac : {0.0, 0.1, 0.2, 0.25, 0.5}) {
    const Split s = stratified_split(f, frac, 3);
    std::vector<int> all = s.train;
    all.insert(all.end(), s.val.begin(), s.val.end());
    std::sort(all.begin(), all.end());
    ASSERT_EQ(all.size(), static_cast<size_t>(f.size()));
    for (int i = 0; i < f.size(); ++i) ASSERT_EQ(all[i], i);  // each sample in exactly one subset
    std::vector<int> per_class(f.num_classes(), 0);
    for (int i : s.val) per_class[f.samples()[i].label]++;
    for (int c = 0; c < f.num_classes(); ++c) {
      const int n = f.class_counts()[c];
      EXPECT_EQ(per_class[c], std::max(1, round_half_up(frac * n))) << "class " << c << " fraction " << frac;
    }
  }
  EXPECT_EQ(stratified_split(f, 0.2, 3).val, stratified_split(f, 0.2, 3).val);
  EXPECT_NE(stratified_split(f, 0.2, 3).val, stratified_split(f, 0.2, 4).val);
  EXPECT_THROW(stratified_split(f, 1.0, 3), DataError);
}

TEST(DataSplit, ClassTooSmallForASplit) {
  TempDir dir;
  const testing::Bytes png = testing::make_png_rgb(testing::pattern_image(8, 8));
  dir.write("a/1.png", png);
  dir.write("a/2.png", png);
  dir.write("solo/1.png", png);
  const ImageFolder f(dir.path());
  try {
    (void)stratified_split(f, 0.2, 1);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_EQ(e.file(), dir / "solo");
    EXPECT_NE(e.reason().find("too few"), std::string::npos);
  }
}

TEST(DataSplit, ExplicitFoldersDecide) {
  TempDir dir;
  const testing::Bytes png = testing::make_png_rgb(testing::pattern_image(8, 8));
  dir.write("train/a/1.png", png);
  dir.write("train/a/2.png", png);
  dir.write("val/a/3.png", png);
  const ImageFolder f(dir.path());
  const Split s = stratified_split(f, 0.5, 99);
  EXPECT_EQ(s.train, (std::vector<int>{0, 1}));
  EXPECT_EQ(s.val, (std::vector<int>{2}));
}

TEST(DataSplit, CsvRoundTripWithAwkwardNames) {
  TempDir dir;
  const testing::Bytes png = testing::make_png_rgb(testing::pattern_image(8, 8));
  for (const char* p : {"a, b/x.png", "a, b/y \"q\".png", "a, b/z.png", "c/1.png", "c/2.png", "c/3.png"})
    dir.write(p, png);
  const ImageFolder f(dir.path());
  const Split s = stratified_split(f, 0.34, 5);
  const std::string csv_text = format_split_csv(f, s);
  const std::string csv = dir.write("split.csv", testing::Bytes(csv_text.begin(), csv_text.end()));
  const Split r = read_split_csv(csv, f);
  EXPECT_EQ(r.train, s.train);
  EXPECT_EQ(r.val, s.val);
  std::ifstream in(csv);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "path,label,subset");

  const std::string class_text = format_class_list(f.classes(), "classes.txt");
  const std::string classes = dir.write("classes.txt", testing::Bytes(class_text.begin(), class_text.end()));
  EXPECT_EQ(read_class_list(classes), f.classes());
}

TEST(DataSplit, CsvFieldQuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(data::csv_field("plain name.jpg"), "plain name.jpg");
  EXPECT_EQ(data::csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(data::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(data::csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(data::csv_field(""), "");
}

TEST(DataSplit, CsvThatDoesNotMatchTheDataSetIsRefused) {
  TempDir dir;
  const testing::Bytes png = testing::make_png_rgb(testing::pattern_image(8, 8));
  dir.write("data/a/1.png", png);
  dir.write("data/b/1.png", png);
  const ImageFolder f(dir / "data");
  auto expect_refused = [&](const std::string& text, const std::string& reason) {
    const std::string file = dir.write("s.csv", testing::Bytes(text.begin(), text.end()));
    try {
      (void)read_split_csv(file, f);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const DataError& e) {
      EXPECT_EQ(e.file(), file);
      EXPECT_NE(e.reason().find(reason), std::string::npos) << e.reason();
    }
  };
  expect_refused("file,class,subset\n", "first line");
  expect_refused("path,label,subset\na/1.png,0,train\nz/9.png,1,val\n", "line 3: z/9.png is not in the data set");
  expect_refused("path,label,subset\nb/1.png,0,val\n", "class list changed");
  expect_refused("path,label,subset\na/1.png,0,train\na/1.png,0,val\n", "appears twice");
  expect_refused("path,label,subset\na/1.png,0,test\n", "unknown subset");
  expect_refused("path,label,subset\na/1.png,0\n", "expected 3 fields");
  expect_refused("path,label,subset\n\"a/1.png,0,train\n", "unterminated");
  EXPECT_THROW(read_split_csv(dir / "missing.csv", f), DataError);
}

}  // namespace
}  // namespace hsanet::data
