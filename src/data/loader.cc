#include "data/loader.h"

#include <pthread.h>
#include <sched.h>

#include <chrono>
#include <cmath>
#include <stdexcept>

namespace hsanet::data {

DataLoader::DataLoader(const ImageFolder& dataset, std::vector<int> indices, Transform transform,
                       LoaderOptions options)
    : indices_(std::move(indices)),
      num_classes_(dataset.num_classes()),
      limits_(dataset.options().limits),
      transform_(std::move(transform)),
      options_(options) {
  if (options_.batch_size < 1)
    throw std::invalid_argument("DataLoader: batch_size must be at least 1, got " + std::to_string(options_.batch_size));
  if (options_.workers < 0) throw std::invalid_argument("DataLoader: workers must be >= 0");
  if (options_.prefetch < 1) throw std::invalid_argument("DataLoader: prefetch must be at least 1");
  const MixConfig mix = options_.mix();
  if (!(mix.mixup_alpha >= 0 && mix.cutmix_alpha >= 0 && std::isfinite(mix.mixup_alpha) &&
        std::isfinite(mix.cutmix_alpha)))
    throw std::invalid_argument("DataLoader: mixup and cutmix alphas must be finite and >= 0");
  if (!(mix.prob >= 0 && mix.prob <= 1 && mix.switch_prob >= 0 && mix.switch_prob <= 1))
    throw std::invalid_argument("DataLoader: mix prob and switch prob must be in [0, 1]");
  if (options_.world_size < 1 || options_.rank < 0 || options_.rank >= options_.world_size)
    throw std::invalid_argument("DataLoader: rank " + std::to_string(options_.rank) + " outside a world of " +
                                std::to_string(options_.world_size));
  for (int i : indices_) {
    if (i < 0 || i >= dataset.size())
      throw std::invalid_argument("DataLoader: sample index " + std::to_string(i) + " outside the data set of " +
                                  std::to_string(dataset.size()));
    paths_.push_back(dataset.full_path(i));
    labels_.push_back(dataset.samples()[i].label);
  }
}

DataLoader::~DataLoader() { stop_workers(); }

int DataLoader::batches_per_epoch() const {
  const int n = num_samples(), b = options_.batch_size;
  return n / b + (!options_.drop_last && n % b != 0 ? 1 : 0);  // no n + b - 1: b may be INT_MAX
}

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  space_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  ready_.clear();
}

void DataLoader::start_epoch(int epoch) {
  stop_workers();
  epoch_ = epoch;
  const int n = num_samples();
  order_.resize(n);
  for (int i = 0; i < n; ++i) order_[i] = i;
  if (options_.shuffle) {
    // Fisher-Yates from a stream of its own: key_b = all ones is no sample index.
    Rng rng = Rng::derive(options_.seed, static_cast<uint64_t>(epoch), ~uint64_t{0});
    for (int i = n - 1; i > 0; --i) std::swap(order_[i], order_[rng.below(static_cast<uint64_t>(i) + 1)]);
  }
  num_batches_ = batches_per_epoch();
  next_build_ = 0;
  next_consume_ = 0;
  stop_ = false;
  for (int w = 0; w < options_.workers; ++w) workers_.emplace_back(&DataLoader::worker_loop, this);
}

Batch DataLoader::build_batch(int64_t b) const {
  const int bs = options_.batch_size;
  const int global_first = static_cast<int>(b * bs);
  const int global_count = std::min(bs, num_samples() - global_first);
  // This rank's share of the global batch: [lo, hi) of its global_count positions.
  const int P = options_.world_size, r = options_.rank;
  const int base = global_count / P, extra = global_count % P;
  const int lo = r * base + std::min(r, extra), hi = lo + base + (r < extra ? 1 : 0);
  const int first = global_first + lo;
  const int count = hi - lo;
  const int h = transform_.out_height(), w = transform_.out_width();
  Batch batch;
  batch.global_size = global_count;
  batch.images = Tensor::empty({count, h, w, 3});  // [count, h, w, 3]
  const size_t per_image = static_cast<size_t>(h) * w * 3;
  for (int k = 0; k < count; ++k) {
    const int pos = order_[first + k];
    const Image image = decode_image_file(paths_[pos], limits_);
    Rng rng = Rng::derive(options_.seed, static_cast<uint64_t>(epoch_), static_cast<uint64_t>(indices_[pos]));
    transform_.apply(image, rng, batch.images.data() + k * per_image);
    batch.labels.push_back(labels_[pos]);
    batch.indices.push_back(indices_[pos]);
  }
  if (const MixConfig mix = options_.mix(); mix.enabled()) {
    Rng rng = mix_rng(options_.seed, epoch_, b);
    const MixDraw draw = draw_mix(mix, w, h, rng);
    apply_mix(batch.images.data(), count, h, w, 3, draw);
    batch.mix_lambda = draw.lambda;
    batch.mix_labels = flipped_labels(batch.labels);
  }
  return batch;
}

void DataLoader::worker_loop() {
  // SCHED_BATCH: a batch-processing thread that does not preempt others when it wakes. Without it,
  // the consumer's notify after taking a batch wakes this thread, which on a busy machine takes
  // the consumer's own core at once and runs a whole batch before the training step continues.
#ifdef SCHED_BATCH
  sched_param param{};
  (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);  // best effort
#endif
  for (;;) {
    int64_t b;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Bounded queue: build batch b only once b < next_consume_ + prefetch.
      space_cv_.wait(lock, [&] {
        return stop_ || next_build_ >= num_batches_ || next_build_ < next_consume_ + options_.prefetch;
      });
      if (stop_ || next_build_ >= num_batches_) return;
      b = next_build_++;
    }
    Slot slot;
    try {
      slot.batch = build_batch(b);
    } catch (...) {
      slot.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_.emplace(b, std::move(slot));
    }
    ready_cv_.notify_all();
  }
}

bool DataLoader::next(Batch& batch) {
  if (epoch_ < 0) throw std::logic_error("DataLoader::next: call start_epoch(epoch) first");
  if (next_consume_ >= num_batches_) return false;
  const auto t0 = std::chrono::steady_clock::now();
  Slot slot;
  if (options_.workers == 0) {
    try {
      slot.batch = build_batch(next_consume_);
    } catch (...) {
      slot.error = std::current_exception();
    }
    ++next_consume_;
  } else {
    std::unique_lock<std::mutex> lock(mu_);
    ready_cv_.wait(lock, [&] { return ready_.count(next_consume_) > 0; });
    auto it = ready_.find(next_consume_);
    slot = std::move(it->second);
    ready_.erase(it);
    ++next_consume_;
    lock.unlock();
    space_cv_.notify_all();
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (slot.error) std::rethrow_exception(slot.error);
  batch = std::move(slot.batch);
  batch.wait_seconds = waited;
  return true;
}

}  // namespace hsanet::data
