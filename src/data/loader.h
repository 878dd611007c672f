// The data layer's front door: from an image folder on disk to NHWC float batches.
//
// Typical use by a training program (every type below is in namespace hsanet::data):
//
//   ImageFolderOptions fo;                          // fo.skip_bad = true to drop bad files
//   ImageFolder data = ImageFolder::open("data/orl_faces", fo, std::cerr);
//                                                   // throws DataError listing every bad file
//   Split split = stratified_split(data, 0.2, seed);   // or read_split_csv(run + "/split.csv", data)
//   std::string csv = format_split_csv(data, split);   // the program writes it to run/split.csv
//   std::string names = format_class_list(data.classes(), run + "/classes.txt");
//
//   DataLoader train(data, split.train, Transform(train_transform_config(224)),
//                    {.batch_size = 4, .shuffle = true, .drop_last = true, .seed = seed, .workers = 1});
//   DataLoader val(data, split.val, Transform(eval_transform_config(224)),
//                  {.batch_size = 16, .shuffle = false, .seed = seed});
//   for (int epoch = 0; epoch < epochs; ++epoch) {
//     train.start_epoch(epoch);
//     Batch b;
//     while (train.next(b)) {        // b.images: [B, 224, 224, 3], b.labels: [B]
//       ... step ...; log b.wait_seconds (time the step waited for data; ~0 when the loader keeps up)
//     }
//   }
//
// Loading: worker threads (std::thread, not OpenMP: they must not join the compute threads' team;
// scheduled SCHED_BATCH so that waking one never preempts the training step) decode and augment
// whole batches ahead of the consumer, at most `prefetch` batches ahead (a bounded queue: memory
// stays at prefetch batches), and next() hands them out in order. Every
// sample of `indices` appears exactly once per epoch; the order is reshuffled each epoch from
// (seed, epoch); the augmentation of each sample is drawn from Rng::derive(seed, epoch, sample
// index), so batches are identical whatever the number of workers. One worker is the default: on a
// two-core machine a second one would take a core from the training step, and one already decodes
// and augments far faster than a step consumes (see docs/data.md for measurements).
//
// Mixing (options.mixup_alpha, cutmix_alpha: off by default) happens last, on the finished batch: its draws come from
// mix_rng(seed, epoch, batch number), so they too are independent of the workers. Under sharding
// every rank mixes its own share with that share flipped, with the global batch's lambda.
//
// A file that fails to decode while loading (changed since validation) raises its DataError from
// next() for the batch that holds it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "autograd/tensor.h"
#include "data/data_error.h"
#include "data/decode.h"
#include "data/image_folder.h"
#include "data/mix.h"
#include "data/split.h"
#include "data/transforms.h"

namespace hsanet::data {

struct Batch {
  Tensor images;              // [B, H, W, 3] NHWC float32, normalised
  std::vector<int> labels;    // [B] class indices
  std::vector<int> indices;   // [B] sample indices into the ImageFolder
  double wait_seconds = 0.0;  // how long next() blocked before this batch was ready
  int global_size = 0;        // samples in this step over all ranks (= labels.size() unsharded)
  // Mixup/cutmix (LoaderOptions::mixup_alpha, cutmix_alpha): each image i was mixed with image B-1-i of this batch.
  // The soft target is mix_lambda of labels[i] and 1 - mix_lambda of mix_labels[i]
  // (data/mix.h, mixed_targets). mix_labels is empty when mixing is off; an unmixed batch of a
  // mixing run has mix_lambda 1.
  double mix_lambda = 1.0;
  std::vector<int> mix_labels;  // [B] labels[B-1-i]
};

struct LoaderOptions {
  int batch_size = 4;
  bool shuffle = true;     // reshuffle the order every epoch
  bool drop_last = false;  // drop a last batch smaller than batch_size (batch norm in training
                           // mode needs at least 2 samples per batch)
  uint64_t seed = 1;       // shuffling and augmentation
  int workers = 1;         // decoding threads; 0 decodes inside next() on the calling thread
  int prefetch = 4;        // batches decoded ahead of the consumer, at most
  // Mixup / cutmix of each batch (data/mix.h; alphas 0: off), drawn from mix_rng(seed, epoch,
  // batch). Plain numbers rather than a MixConfig member, so that designated initializers may
  // leave them out without a missing-initializer warning.
  double mixup_alpha = 0, cutmix_alpha = 0;
  double mix_prob = 1.0, mix_switch_prob = 0.5;
  MixConfig mix() const { return {mixup_alpha, cutmix_alpha, mix_prob, mix_switch_prob}; }
  // Data-parallel sharding: batch_size is the global batch; rank `rank` of `world_size` takes its
  // contiguous share of every global batch of the epoch's order (the first count % world_size
  // ranks one more), so that the union over ranks of one step is the one-process batch.
  int rank = 0;
  int world_size = 1;
};

class DataLoader {
 public:
  // `indices` are sample indices into `dataset` (e.g. Split::train). The loader copies the paths
  // and labels it needs; the ImageFolder need not outlive it. Throws std::invalid_argument on
  // bad options or an index out of range.
  DataLoader(const ImageFolder& dataset, std::vector<int> indices, Transform transform, LoaderOptions options = {});
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Begins epoch `epoch` (any order; an unfinished epoch is abandoned) and starts the workers.
  void start_epoch(int epoch);
  // The next batch of the current epoch; false when the epoch is done.
  bool next(Batch& batch);

  int num_samples() const { return static_cast<int>(indices_.size()); }
  int num_classes() const { return num_classes_; }  // the data set's: what the labels index
  int batches_per_epoch() const;
  int epoch() const { return epoch_; }
  const LoaderOptions& options() const { return options_; }

 private:
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };
  Batch build_batch(int64_t b) const;
  void worker_loop();
  void stop_workers();

  std::vector<int> indices_;       // [n] sample indices into the data set
  std::vector<std::string> paths_;  // [n] full paths
  std::vector<int> labels_;        // [n]
  int num_classes_ = 0;
  DecodeLimits limits_;
  Transform transform_;
  LoaderOptions options_;

  int epoch_ = -1;
  std::vector<int> order_;  // [n] positions into indices_, this epoch's order
  int64_t num_batches_ = 0;

  std::mutex mu_;
  std::condition_variable ready_cv_;  // a batch was finished
  std::condition_variable space_cv_;  // the consumer took a batch, or stop
  bool stop_ = false;
  int64_t next_build_ = 0;    // the next batch a worker will start
  int64_t next_consume_ = 0;  // the next batch next() returns
  std::map<int64_t, Slot> ready_;
  std::vector<std::thread> workers_;
};

}  // namespace hsanet::data
