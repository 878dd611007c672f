// DataLoader: every sample exactly once per epoch, per-epoch shuffling, batches that do not depend
// on the number of workers, drop_last, errors raised for the batch that holds the bad file, and
// clean shutdown mid-epoch.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <set>

#include <gtest/gtest.h>

#include "data/loader.h"
#include "data_fixtures/fixture_writers.h"
#include "loader_epoch.h"

namespace hsanet::data {
namespace {

using testing::TempDir;

// 23 images in 3 classes of different sizes, each image a little different.
struct Fixture {
  TempDir dir;
  std::unique_ptr<ImageFolder> folder;
  Fixture() {
    int k = 0;
    const int counts[3] = {5, 8, 10};
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < counts[c]; ++i, ++k) {
        Image im = testing::pattern_image(20 + k % 7, 18 + k % 5);
        im.pixels[0] = static_cast<uint8_t>(k);
        dir.write("class" + std::to_string(c) + "/img" + std::to_string(i) + ".png", testing::make_png_rgb(im));
      }
    folder = std::make_unique<ImageFolder>(dir.path());
  }
  std::vector<int> all() const {
    std::vector<int> v(folder->size());
    for (int i = 0; i < folder->size(); ++i) v[i] = i;
    return v;
  }
};

using testing::run_epoch;

std::vector<int> order_of(const std::vector<Batch>& batches) {
  std::vector<int> order;
  for (const Batch& b : batches) order.insert(order.end(), b.indices.begin(), b.indices.end());
  return order;
}

TEST(DataLoader, EverySampleOncePerEpochWithShapesAndLabels) {
  Fixture fx;
  ASSERT_EQ(fx.folder->size(), 23);
  for (int workers : {0, 1, 2}) {
    LoaderOptions o;
    o.batch_size = 4;
    o.workers = workers;
    DataLoader loader(*fx.folder, fx.all(), Transform(train_transform_config(16)), o);
    EXPECT_EQ(loader.batches_per_epoch(), 6);
    for (int epoch = 0; epoch < 3; ++epoch) {
      const std::vector<Batch> batches = run_epoch(loader, epoch);
      ASSERT_EQ(batches.size(), 6u);
      for (size_t i = 0; i < batches.size(); ++i) {
        const Batch& b = batches[i];
        const int64_t n = i + 1 < batches.size() ? 4 : 3;  // 23 = 5 * 4 + 3: the last batch is kept
        EXPECT_EQ(b.images.shape(), (Shape{n, 16, 16, 3}));
        ASSERT_EQ(b.labels.size(), static_cast<size_t>(n));
        for (int64_t k = 0; k < n; ++k) EXPECT_EQ(b.labels[k], fx.folder->samples()[b.indices[k]].label);
        EXPECT_GE(b.wait_seconds, 0.0);
        for (float v : b.images.to_vector()) ASSERT_TRUE(std::isfinite(v));
      }
      std::vector<int> order = order_of(batches);
      std::sort(order.begin(), order.end());
      EXPECT_EQ(order, fx.all()) << "workers " << workers << " epoch " << epoch;
    }
  }
}

TEST(DataLoader, ShufflesPerEpochReproducibly) {
  Fixture fx;
  LoaderOptions o;
  o.batch_size = 5;
  DataLoader loader(*fx.folder, fx.all(), Transform(eval_transform_config(8)), o);
  const std::vector<int> e0 = order_of(run_epoch(loader, 0));
  const std::vector<int> e1 = order_of(run_epoch(loader, 1));
  EXPECT_NE(e0, e1);
  EXPECT_EQ(order_of(run_epoch(loader, 0)), e0);  // the order is a function of (seed, epoch)
  EXPECT_NE(e0, fx.all());

  o.shuffle = false;
  std::vector<int> subset = {20, 3, 7, 11};
  DataLoader plain(*fx.folder, subset, Transform(eval_transform_config(8)), o);
  EXPECT_EQ(order_of(run_epoch(plain, 4)), subset);
}

TEST(DataLoader, BatchesDoNotDependOnTheNumberOfWorkers) {
  Fixture fx;
  std::vector<std::vector<float>> reference;
  for (int workers : {0, 1, 2, 3}) {
    LoaderOptions o;
    o.batch_size = 3;
    o.workers = workers;
    o.prefetch = workers == 3 ? 1 : 4;
    o.seed = 42;
    DataLoader loader(*fx.folder, fx.all(), Transform(train_transform_config(12)), o);
    std::vector<std::vector<float>> got;
    for (const Batch& b : run_epoch(loader, 2)) got.push_back(b.images.to_vector());
    if (reference.empty()) reference = got;
    else EXPECT_EQ(got, reference) << "workers " << workers;
  }
}

TEST(DataLoader, EachImageIsTheTransformOfItsFileWithItsOwnStream) {
  Fixture fx;
  LoaderOptions o;
  o.batch_size = 4;
  o.seed = 9;
  const Transform t(train_transform_config(10));
  DataLoader loader(*fx.folder, fx.all(), t, o);
  for (const Batch& b : run_epoch(loader, 5)) {
    const std::vector<float> got = b.images.to_vector();
    for (size_t k = 0; k < b.indices.size(); ++k) {
      Rng rng = Rng::derive(9, 5, static_cast<uint64_t>(b.indices[k]));
      std::vector<float> expect(10 * 10 * 3);
      t.apply(fx.folder->load(b.indices[k]), rng, expect.data());
      ASSERT_TRUE(std::equal(expect.begin(), expect.end(), got.begin() + k * expect.size()));
    }
  }
}

TEST(DataLoader, DropLastDropsOnlyAShortFinalBatch) {
  Fixture fx;
  LoaderOptions o;
  o.batch_size = 4;
  o.drop_last = true;
  DataLoader loader(*fx.folder, fx.all(), Transform(eval_transform_config(8)), o);
  EXPECT_EQ(loader.batches_per_epoch(), 5);
  const std::vector<Batch> batches = run_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 5u);
  for (const Batch& b : batches) EXPECT_EQ(b.images.size(0), 4);
  std::set<int> seen;
  for (int i : order_of(batches)) EXPECT_TRUE(seen.insert(i).second);  // no repeats
  // An exact multiple loses nothing.
  const std::vector<int> all = fx.all();
  const std::vector<int> twenty(all.begin(), all.begin() + 20);
  DataLoader exact(*fx.folder, twenty, Transform(eval_transform_config(8)), o);
  EXPECT_EQ(order_of(run_epoch(exact, 0)).size(), 20u);
}

// A batch size near INT_MAX is one batch of everything (counting batches must not overflow).
TEST(DataLoader, AHugeBatchSizeGivesOneBatch) {
  Fixture fx;
  LoaderOptions o;
  o.batch_size = 2147483647;
  o.workers = 0;
  DataLoader loader(*fx.folder, fx.all(), Transform(eval_transform_config(8)), o);
  EXPECT_EQ(loader.batches_per_epoch(), 1);
  const std::vector<Batch> batches = run_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].images.size(0), 23);
}

TEST(DataLoader, AFileThatBreaksAfterValidationFailsItsBatchOnly) {
  Fixture fx;
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = false;
  DataLoader loader(*fx.folder, fx.all(), Transform(eval_transform_config(8)), o);
  const std::string victim = fx.folder->full_path(5);  // second batch
  fx.dir.write(fx.folder->samples()[5].path, {'o', 'o', 'p', 's'});
  loader.start_epoch(0);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  try {
    loader.next(b);
    FAIL() << "the damaged file went unnoticed";
  } catch (const DataError& e) {
    EXPECT_EQ(e.file(), victim);
  }
  int rest = 0;
  while (loader.next(b)) ++rest;
  EXPECT_EQ(rest, 4);
}

TEST(DataLoader, AbandonedEpochsAndEarlyDestructionDoNotHang) {
  Fixture fx;
  LoaderOptions o;
  o.batch_size = 2;
  o.workers = 2;
  o.prefetch = 2;
  {
    DataLoader loader(*fx.folder, fx.all(), Transform(eval_transform_config(8)), o);
    loader.start_epoch(0);
    Batch b;
    ASSERT_TRUE(loader.next(b));
    loader.start_epoch(1);  // abandon epoch 0 with workers blocked on a full queue
    const std::vector<Batch> batches = [&] {
      std::vector<Batch> out;
      while (loader.next(b)) out.push_back(b);
      return out;
    }();
    EXPECT_EQ(order_of(batches).size(), 23u);
    loader.start_epoch(2);
    ::usleep(20000);  // let the workers fill the queue, then destroy the loader mid-epoch
  }
  SUCCEED();
}

TEST(DataLoader, ArgumentsAreChecked) {
  Fixture fx;
  LoaderOptions o;
  o.batch_size = 0;
  EXPECT_THROW(DataLoader(*fx.folder, fx.all(), Transform(eval_transform_config(8)), o), std::invalid_argument);
  o.batch_size = 2;
  EXPECT_THROW(DataLoader(*fx.folder, {0, 99}, Transform(eval_transform_config(8)), o), std::invalid_argument);
  DataLoader loader(*fx.folder, fx.all(), Transform(eval_transform_config(8)), o);
  Batch b;
  EXPECT_THROW(loader.next(b), std::logic_error);
  DataLoader empty(*fx.folder, {}, Transform(eval_transform_config(8)), o);
  empty.start_epoch(0);
  EXPECT_FALSE(empty.next(b));
}

TEST(DataLoader, BundledSetGivesFullSizeBatches) {
  const ImageFolder orl(testing::source_dir() + "/data/orl_faces");
  const Split split = stratified_split(orl, 0.2, 1);
  LoaderOptions o;
  o.batch_size = 4;
  DataLoader loader(orl, split.train, Transform(train_transform_config(224)), o);
  EXPECT_EQ(loader.batches_per_epoch(), 80);
  loader.start_epoch(0);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.images.shape(), (Shape{4, 224, 224, 3}));
  const std::vector<float> v = b.images.to_vector();
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  EXPECT_LT(*lo, -1.0f);  // normalised: dark pixels well below the mean, bright ones above
  EXPECT_GT(*hi, 1.0f);
}

}  // namespace
}  // namespace hsanet::data
