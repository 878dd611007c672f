// ImageFolder: listing rules, the train/ + val/ layout, validation that names every offender, and
// the skip-bad-files option. Folders are built at run time in a temporary directory.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>

#include "data/data_error.h"
#include "data/decode_memory.h"
#include "data/image_folder.h"
#include "data_fixtures/fixture_writers.h"

namespace hsanet::data {
namespace {

using testing::TempDir;

testing::Bytes good_png(int seed = 0) { return testing::make_png_rgb(testing::pattern_image(10 + seed % 5, 12)); }

std::vector<std::string> paths(const ImageFolder& f) {
  std::vector<std::string> out;
  for (const Sample& s : f.samples()) out.push_back(s.path);
  return out;
}

bool has_offender(const std::vector<Offender>& list, const std::string& file, const std::string& reason) {
  for (const Offender& o : list)
    if (o.file == file && o.reason.find(reason) != std::string::npos) return true;
  return false;
}

TEST(DataFolder, ClassesSortedHiddenAndStrayFilesIgnored) {
  TempDir dir;
  dir.write("bob/2.png", good_png());
  dir.write("bob/10.PNG", good_png());  // extension case does not matter
  dir.write("bob/.hidden.png", good_png());
  dir.write("bob/notes.txt", {'h', 'i'});
  dir.write("alice/a.bmp", testing::make_bmp24(testing::pattern_image(9, 9)));
  dir.write("Zed/z.jpg", testing::make_jpeg(testing::pattern_image(16, 16)));
  dir.write(".git/x.png", good_png());  // hidden folder: not a class
  dir.write("README.txt", {'r'});       // files beside the classes are not data
  const ImageFolder f(dir.path());
  EXPECT_EQ(f.classes(), (std::vector<std::string>{"Zed", "alice", "bob"}));  // byte order, as Python
  EXPECT_EQ(paths(f), (std::vector<std::string>{"Zed/z.jpg", "alice/a.bmp", "bob/10.PNG", "bob/2.png"}));
  EXPECT_EQ(f.samples()[3].label, 2);
  EXPECT_FALSE(f.has_explicit_split());
  EXPECT_TRUE(f.validate().empty());
  EXPECT_EQ(f.full_path(1), dir.path() + "/alice/a.bmp");
  EXPECT_EQ(f.load(1).width, 9);
}

TEST(DataFolder, BundledOrlFacesLoadByDefault) {
  std::ostringstream warnings;
  const ImageFolder f = ImageFolder::open(testing::source_dir() + "/data/orl_faces", {}, warnings);
  EXPECT_EQ(warnings.str(), "");
  ASSERT_EQ(f.num_classes(), 40);
  EXPECT_EQ(f.classes()[0], "s1");
  EXPECT_EQ(f.classes()[1], "s10");
  EXPECT_EQ(f.size(), 400);
  for (int c : f.class_counts()) EXPECT_EQ(c, 10);
  EXPECT_EQ(f.samples()[0].path, "s1/1.pgm");
  EXPECT_EQ(f.samples()[1].path, "s1/10.pgm");
}

TEST(DataFolder, LfwDevelopmentSetValidates) {
  const std::string root = testing::source_dir() + "/../shared/data/lfw_dev26";
  if (!std::filesystem::is_directory(root)) GTEST_SKIP() << "the shared LFW development set is not present";
  ImageFolderOptions o;
  o.validate_threads = 2;
  std::ostringstream warnings;
  const ImageFolder f = ImageFolder::open(root, o, warnings);
  EXPECT_GE(f.num_classes(), 20);
  EXPECT_GT(f.size(), 300);
}

TEST(DataFolder, MissingRootAndRootWithoutClasses) {
  TempDir dir;
  const std::string missing = dir / "nope";
  try {
    ImageFolder f(missing);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_EQ(e.file(), missing);
    EXPECT_NE(e.reason().find("does not exist"), std::string::npos);
  }
  const std::string file = dir.write("file", {'x'});
  EXPECT_THROW(ImageFolder{file}, DataError);
  dir.write("empty_root/readme.txt", {'x'});
  try {
    ImageFolder f(dir / "empty_root");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(e.reason().find("no class folders"), std::string::npos);
  }
}

TEST(DataFolder, EveryOffenderIsListedAndOpenRefusesByDefault) {
  TempDir dir;
  dir.write("a/ok.png", good_png());
  dir.write("a/ok2.png", good_png(1));
  dir.write("a/empty.jpg", {});
  dir.write("a/text.jpg", {'h', 'e', 'l', 'l', 'o'});
  dir.mkdir("a/folder.jpg");
  ASSERT_EQ(::symlink((dir / "gone.png").c_str(), (dir / "a/link.png").c_str()), 0);
  dir.write("a/anim.gif", {'G', 'I', 'F', '8', '9', 'a'});
  testing::Bytes cut = testing::make_jpeg(testing::pattern_image(40, 40));
  cut.resize(cut.size() * 2 / 3);
  dir.write("b/cut.jpg", cut);
  dir.write("b/fine.bmp", testing::make_bmp24(testing::pattern_image(12, 12)));
  dir.mkdir("c_empty");
  dir.write("d/only.txt", {'x'});

  const ImageFolder f(dir.path());
  const std::vector<Offender> bad = f.validate(2);
  EXPECT_EQ(bad.size(), 8u) << format_offenders(bad);
  EXPECT_TRUE(has_offender(bad, dir / "a/empty.jpg", "empty file"));
  EXPECT_TRUE(has_offender(bad, dir / "a/text.jpg", "text file"));
  EXPECT_TRUE(has_offender(bad, dir / "a/folder.jpg", "is a directory"));
  EXPECT_TRUE(has_offender(bad, dir / "a/link.png", "dangling symbolic link"));
  EXPECT_TRUE(has_offender(bad, dir / "a/anim.gif", ".gif images are not supported"));
  EXPECT_TRUE(has_offender(bad, dir / "b/cut.jpg", "truncated"));
  EXPECT_TRUE(has_offender(bad, dir / "c_empty", "class folder has no images"));
  EXPECT_TRUE(has_offender(bad, dir / "d", "class folder has no images"));
  EXPECT_TRUE(std::is_sorted(bad.begin(), bad.end(), [](auto& x, auto& y) { return x.file < y.file; }));

  std::ostringstream warnings;
  try {
    (void)ImageFolder::open(dir.path(), {}, warnings);
    FAIL() << "open() accepted a data set with bad files";
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("8 unusable files"), std::string::npos) << msg;
    for (const Offender& o : bad) EXPECT_NE(msg.find(o.file + ": " + o.reason), std::string::npos) << o.file;
  }
}

TEST(DataFolder, SkipBadDropsOffendersAndEmptyClassesWithWarnings) {
  TempDir dir;
  dir.write("a/ok.png", good_png());
  dir.write("a/bad.png", {1, 2, 3});
  dir.write("b/bad.jpg", {});
  dir.write("c/ok.png", good_png(2));
  dir.write("c/ok2.png", good_png(3));
  ImageFolderOptions o;
  o.skip_bad = true;
  std::ostringstream warnings;
  const ImageFolder f = ImageFolder::open(dir.path(), o, warnings);
  EXPECT_EQ(f.classes(), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(paths(f), (std::vector<std::string>{"a/ok.png", "c/ok.png", "c/ok2.png"}));
  EXPECT_EQ(f.samples()[1].label, 1);  // c renumbered after b was dropped
  const std::string w = warnings.str();
  EXPECT_NE(w.find("skipping " + (dir / "a/bad.png")), std::string::npos) << w;
  EXPECT_NE(w.find("skipping " + (dir / "b/bad.jpg")), std::string::npos) << w;
  EXPECT_NE(w.find("1 class(es) left without images were dropped"), std::string::npos) << w;
  EXPECT_TRUE(f.validate().empty());
}

TEST(DataFolder, UnreadableFileIsAnOffender) {
  TempDir dir;
  dir.write("a/ok.png", good_png());
  const std::string locked = dir.write("a/locked.png", good_png());
  ASSERT_EQ(::chmod(locked.c_str(), 0), 0);
  if (::access(locked.c_str(), R_OK) == 0)
    GTEST_SKIP() << "running with privileges that ignore permission bits (root): cannot make a file unreadable";
  EXPECT_TRUE(has_offender(ImageFolder(dir.path()).validate(), locked, "Permission denied"));
}

TEST(DataFolder, ExplicitTrainAndValFolders) {
  TempDir dir;
  dir.write("train/x/1.png", good_png());
  dir.write("train/x/2.png", good_png());
  dir.write("train/y/1.png", good_png());
  dir.write("val/x/3.png", good_png());
  dir.write("val/y/2.png", good_png());
  dir.write("val/ghost/1.png", good_png());  // a class that training never sees
  dir.write("README", {'r'});
  const ImageFolder f(dir.path());
  ASSERT_TRUE(f.has_explicit_split());
  EXPECT_EQ(f.classes(), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(paths(f), (std::vector<std::string>{"train/x/1.png", "train/x/2.png", "train/y/1.png", "val/x/3.png",
                                                "val/y/2.png"}));
  EXPECT_EQ(f.samples()[3].subset, Subset::Val);
  EXPECT_EQ(f.samples()[4].label, 1);
  const std::vector<Offender> bad = f.validate();
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].file, dir / "val/ghost");
  EXPECT_NE(bad[0].reason.find("not in train/"), std::string::npos);

  // Forcing the flat layout reads train and val as two classes.
  ImageFolderOptions flat;
  flat.layout = FolderLayout::Flat;
  const ImageFolder g(dir.path(), flat);
  EXPECT_EQ(g.classes(), (std::vector<std::string>{"train", "val"}));
  // Forcing the train/val layout where val/ is missing is an error.
  TempDir other;
  other.write("train/x/1.png", good_png());
  ImageFolderOptions tv;
  tv.layout = FolderLayout::TrainVal;
  EXPECT_THROW(ImageFolder(other.path(), tv), DataError);
}

// The decoders' budgets of all validation threads together stay under one capacity: here room for
// two 64x64 decodes (about 17 MB each) while eight threads validate.
TEST(DataFolder, ValidationThreadsShareOneDecodeMemoryBound) {
  TempDir dir;
  for (int i = 0; i < 24; ++i)
    dir.write("c" + std::to_string(i % 2) + "/" + std::to_string(i) + ".png",
              testing::make_png_rgb(testing::pattern_image(64, 64)));
  DecodeMemory& memory = DecodeMemory::process();
  const uint64_t capacity = memory.capacity();
  memory.set_capacity(uint64_t{40} << 20);
  memory.reset_peak();
  const ImageFolder f(dir.path());
  EXPECT_TRUE(f.validate(8).empty());
  EXPECT_GT(memory.peak(), uint64_t{16} << 20) << "decodes reserve their budget";
  EXPECT_LE(memory.peak(), uint64_t{40} << 20);
  EXPECT_EQ(memory.reserved(), 0u);
  memory.set_capacity(capacity);
}

TEST(DataFolder, DecodeMemoryReservesWithinItsCapacity) {
  DecodeMemory m(100);
  bool ok = false;
  {
    DecodeMemory::Lease a = m.try_reserve(60, ok);
    EXPECT_TRUE(ok);
    DecodeMemory::Lease b = m.try_reserve(60, ok);
    EXPECT_FALSE(ok) << "120 of 100 reserved";
    DecodeMemory::Lease c = m.try_reserve(40, ok);
    EXPECT_TRUE(ok);
    EXPECT_EQ(m.reserved(), 100u);
  }
  EXPECT_EQ(m.reserved(), 0u);
  EXPECT_EQ(m.peak(), 100u);
  DecodeMemory::Lease big = m.try_reserve(500, ok);  // larger than the capacity: alone, it may run
  EXPECT_TRUE(ok);
  DecodeMemory::Lease more = m.try_reserve(1, ok);
  EXPECT_FALSE(ok);
}

}  // namespace
}  // namespace hsanet::data
