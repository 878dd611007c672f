// Data loading throughput: decode, decode + augment at 224x224, and the threaded loader with 1 and
// 2 workers, in images/s, for the bundled ORL faces (92x112 grey PGM) and, when present, the
// shared LFW development set (250x250 colour JPEG). Then the question that matters for training:
// does the loader keep ahead of a training step? BM_KeepsAhead consumes batches of 4 with a
// simulated step (the consumer thread busy for step_ms) and reports the mean and worst time the
// step waited for data.
//
//   build/bin/bench_loader [--benchmark_filter=...]
// Data roots: $HSANET_ORL_DIR, $HSANET_LFW_DIR, else the repository's data/orl_faces and
// ../shared/data/lfw_dev26.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "data/loader.h"

namespace {

using namespace hsanet;
using namespace hsanet::data;

std::string root_for(const char* env, const std::string& fallback) {
  const char* v = std::getenv(env);
  return v && *v ? v : std::string(HSANET_SOURCE_DIR) + "/" + fallback;
}

// Data sets are listed once per process (listing is not what is measured).
const ImageFolder* dataset(int which) {
  static std::unique_ptr<ImageFolder> sets[2];
  static bool tried[2] = {false, false};
  if (!tried[which]) {
    tried[which] = true;
    const std::string root = which == 0 ? root_for("HSANET_ORL_DIR", "data/orl_faces")
                                        : root_for("HSANET_LFW_DIR", "../shared/data/lfw_dev26");
    if (std::filesystem::is_directory(root)) sets[which] = std::make_unique<ImageFolder>(root);
  }
  return sets[which].get();
}

// LFW gets the reference's central 60% crop (the face region); ORL is used whole.
double crop_fraction(int which) { return which == 0 ? 1.0 : 0.6; }

// Arg 0: data set (0 ORL, 1 LFW).
void BM_Decode(benchmark::State& state) {
  const ImageFolder* ds = dataset(static_cast<int>(state.range(0)));
  if (!ds) return state.SkipWithError("data set not present");
  int i = 0;
  for (auto _ : state) {
    Image im = ds->load(i);
    benchmark::DoNotOptimize(im.pixels.data());
    i = (i + 1) % ds->size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(ds == dataset(0) ? "orl" : "lfw");
}

// Args: data set, train (1) or eval (0) transform; output 224x224.
void BM_DecodeAugment(benchmark::State& state) {
  const int which = static_cast<int>(state.range(0));
  const ImageFolder* ds = dataset(which);
  if (!ds) return state.SkipWithError("data set not present");
  const bool train = state.range(1) != 0;
  const Transform t(train ? train_transform_config(224, crop_fraction(which))
                          : eval_transform_config(224, crop_fraction(which)));
  std::vector<float> out(224 * 224 * 3);
  int i = 0;
  uint64_t n = 0;
  for (auto _ : state) {
    Rng rng = Rng::derive(1, 0, n++);
    t.apply(ds->load(i), rng, out.data());
    benchmark::DoNotOptimize(out.data());
    i = (i + 1) % ds->size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(which == 0 ? "orl" : "lfw") + (train ? " train" : " eval"));
}

// Args: data set, workers. One iteration = one epoch over the training split, batch 4, train
// transform at 224, the consumer taking batches as fast as they come.
void BM_Loader(benchmark::State& state) {
  const int which = static_cast<int>(state.range(0));
  const ImageFolder* ds = dataset(which);
  if (!ds) return state.SkipWithError("data set not present");
  const Split split = stratified_split(*ds, 0.2, 1);
  LoaderOptions o;
  o.batch_size = 4;
  o.workers = static_cast<int>(state.range(1));
  DataLoader loader(*ds, split.train, Transform(train_transform_config(224, crop_fraction(which))), o);
  int epoch = 0;
  int64_t images = 0;
  for (auto _ : state) {
    loader.start_epoch(epoch++);
    Batch b;
    while (loader.next(b)) images += b.images.size(0);
  }
  state.SetItemsProcessed(images);
  state.SetLabel(std::string(which == 0 ? "orl" : "lfw") + " workers=" + std::to_string(o.workers));
}

// Args: data set, simulated step in ms. 1 worker, batch 4, 20 steps per iteration. The step spins
// on the consumer thread (a training step keeps its cores busy; sleeping would flatter the loader).
void BM_KeepsAhead(benchmark::State& state) {
  const int which = static_cast<int>(state.range(0));
  const ImageFolder* ds = dataset(which);
  if (!ds) return state.SkipWithError("data set not present");
  const auto step = std::chrono::milliseconds(state.range(1));
  const Split split = stratified_split(*ds, 0.2, 1);
  LoaderOptions o;
  o.batch_size = 4;
  o.workers = 1;
  DataLoader loader(*ds, split.train, Transform(train_transform_config(224, crop_fraction(which))), o);
  double wait_sum = 0, wait_max = 0, steps = 0, first_sum = 0;
  int epoch = 0;
  for (auto _ : state) {
    loader.start_epoch(epoch++);
    Batch b;
    for (int s = 0; s < 20 && loader.next(b); ++s) {
      // The first batch of an epoch cannot have been prepared ahead: reported apart.
      if (s == 0) {
        first_sum += b.wait_seconds;
      } else {
        wait_sum += b.wait_seconds;
        wait_max = std::max(wait_max, b.wait_seconds);
        steps += 1;
      }
      const auto until = std::chrono::steady_clock::now() + step;
      while (std::chrono::steady_clock::now() < until) {
      }
    }
  }
  state.counters["wait_ms_mean"] = 1e3 * wait_sum / std::max(1.0, steps);
  state.counters["wait_ms_max"] = 1e3 * wait_max;
  state.counters["first_batch_ms"] = 1e3 * first_sum / std::max<double>(1, state.iterations());
  state.SetLabel(std::string(which == 0 ? "orl" : "lfw") + " step=" + std::to_string(state.range(1)) + "ms");
}

BENCHMARK(BM_Decode)->Arg(0)->Arg(1)->Repetitions(5)->ReportAggregatesOnly(true)->UseRealTime();
BENCHMARK(BM_DecodeAugment)
    ->Args({0, 1})->Args({0, 0})->Args({1, 1})->Args({1, 0})
    ->Repetitions(5)->ReportAggregatesOnly(true)->UseRealTime();
BENCHMARK(BM_Loader)
    ->Args({0, 1})->Args({0, 2})->Args({1, 1})->Args({1, 2})
    ->Unit(benchmark::kMillisecond)->Iterations(2)->Repetitions(3)->ReportAggregatesOnly(true)->UseRealTime();
BENCHMARK(BM_KeepsAhead)
    ->Args({0, 100})->Args({1, 100})->Args({1, 20})
    ->Unit(benchmark::kMillisecond)->Iterations(2)->Repetitions(3)->ReportAggregatesOnly(true)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
