#include "apps/train/memory_estimate.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "models/resnet.h"
#include "nn/summary.h"

namespace hsanet::train {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr int kTraceSize = 64;  // small enough to trace in milliseconds, large enough for every stage
constexpr int kPrefetch = 4;    // the loader's default batches decoded ahead

std::string gib(double bytes) { return fmt::format("{:.1f}", bytes / kGiB); }

// Attention logits and their softmax, per image: heads x tokens x (tokens, or the window) floats
// in every attention block of every stage that has them. Stage k's map is img / 2^(k+1) a side.
double attention_bytes_per_image(const models::ModelConfig& m, int img) {
  if (!m.has_attention()) return 0;
  double bytes = 0;
  for (int stage : m.attention_stages) {
    if (stage < 1 || stage > static_cast<int>(m.blocks.size())) continue;
    const double side = std::max(1.0, std::floor(img / std::pow(2.0, stage + 1)));
    const double tokens = side * side;
    const double keys = m.attention == "local" ? static_cast<double>(m.window) * m.window : tokens;
    bytes += 2.0 * 4.0 * m.heads * tokens * keys * m.blocks[stage - 1];
  }
  return bytes;
}

}  // namespace

std::string MemoryEstimate::describe() const {
  return "about " + gib(total()) + " GiB (model and optimiser " + gib(model_bytes) + ", activations of a batch " +
         gib(activation_bytes) + ", prefetched input batches " + gib(loader_bytes) + ")";
}

MemoryEstimate estimate_training_memory(const TrainConfig& cfg, int processes) {
  models::ModelConfig m = cfg.model_config(2);  // the head's size hardly matters
  m.height = m.width = kTraceSize;
  std::shared_ptr<models::ResNet> model = models::build_model(m);
  const nn::ModelSummary s = nn::summarize(*model, kTraceSize, kTraceSize);

  MemoryEstimate e;
  const double states = cfg.opt == "adamw" ? 2 : (cfg.momentum > 0 ? 1 : 0);
  e.model_bytes = static_cast<double>(s.params) * 4.0 * (2 + states);
  const double scale = static_cast<double>(cfg.img_size) * cfg.img_size / (kTraceSize * kTraceSize);
  const double per_image = s.fwd_bwd_mb * 1024 * 1024 * scale + attention_bytes_per_image(m, cfg.img_size);
  const double batch = std::ceil(static_cast<double>(cfg.batch_size) / std::max(1, processes));
  // Evaluation keeps no activations for backward: about half of them for its (larger) batches.
  e.activation_bytes = std::max(batch * per_image, cfg.eval_batch_size * per_image / 2);
  const double image_bytes = 3.0 * 4.0 * cfg.img_size * cfg.img_size;
  e.loader_bytes = (kPrefetch + cfg.workers) * batch * image_bytes;
  return e;
}

uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

void check_fits_in_memory(const TrainConfig& cfg, uint64_t available, int processes) {
  if (available == 0) return;
  const MemoryEstimate e = estimate_training_memory(cfg, processes);
  if (e.total() <= static_cast<double>(available)) return;
  throw std::runtime_error("--img-size " + std::to_string(cfg.img_size) + " with --batch-size " +
                           std::to_string(cfg.batch_size) + " (and --eval-batch-size " +
                           std::to_string(cfg.eval_batch_size) + ") needs at least " + e.describe() +
                           ", more than this machine's " + gib(static_cast<double>(available)) +
                           " GiB of memory; lower --batch-size, --eval-batch-size or --img-size");
}

}  // namespace hsanet::train
