// The SGD update kernel (ops/sgd.h) against its double reference: every option, sizes with and
// without tails and threads, aligned and unaligned buffers, on every compiled SIMD target.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "highway_targets.h"
#include "ops/parallel.h"
#include "ops/sgd.h"
#include "ops/sgd_ref.h"

namespace hsanet {
namespace {

using testing::for_each_target;
using testing::random_vector;

// Runs the fast kernel on float copies placed `offset` floats into their buffers (offset 1 makes
// every vector unaligned) and returns w followed by buf.
std::vector<float> run_fast(const std::vector<double>& w, const std::vector<double>& g,
                            const std::vector<double>& buf, const ops::SgdStep& s, int offset) {
  const size_t n = w.size();
  std::vector<float> wf(n + offset), gf(n + offset), bf(n + offset);
  for (size_t j = 0; j < n; ++j)
    wf[j + offset] = static_cast<float>(w[j]), gf[j + offset] = static_cast<float>(g[j]),
    bf[j + offset] = static_cast<float>(buf[j]);
  ops::sgd_update(wf.data() + offset, gf.data() + offset, s.momentum != 0.f ? bf.data() + offset : nullptr,
                  static_cast<int64_t>(n), s);
  std::vector<float> out(wf.begin() + offset, wf.end());
  out.insert(out.end(), bf.begin() + offset, bf.end());
  return out;
}

void check_update(int64_t n, const ops::SgdStep& s) {
  SCOPED_TRACE("n " + std::to_string(n) + " momentum " + std::to_string(s.momentum) +
               " dampening " + std::to_string(s.dampening) + " wd " +
               std::to_string(s.weight_decay) + (s.nesterov ? " nesterov" : "") +
               (s.first ? " first" : ""));
  Rng rng(static_cast<uint64_t>(n * 7 + 1));
  std::vector<double> w = random_vector(n, rng), g = random_vector(n, rng), buf = random_vector(n, rng);
  for (auto* v : {&w, &g, &buf})  // exactly representable in float: the inputs agree
    for (double& x : *v) x = static_cast<float>(x);
  std::vector<double> w_ref = w, buf_ref = buf;
  ops::ref::sgd_update(w_ref.data(), g.data(), buf_ref.data(), n, s);

  const std::vector<float> aligned = run_fast(w, g, buf, s, 0);
  for (int64_t j = 0; j < n; ++j) {
    EXPECT_NEAR(aligned[j], w_ref[j], 1e-6 * (1 + std::fabs(w_ref[j]))) << "w at " << j;
    if (s.momentum != 0.f)
      EXPECT_NEAR(aligned[n + j], buf_ref[j], 1e-6 * (1 + std::fabs(buf_ref[j]))) << "buf at " << j;
    else
      EXPECT_EQ(aligned[n + j], static_cast<float>(buf[j])) << "buf touched without momentum";
  }
  // Streaming and partial stores, and where the threads' chunks start, change no bit.
  EXPECT_EQ(run_fast(w, g, buf, s, 1), aligned);
}

TEST(SgdKernel, MatchesReferenceForEveryOption) {
  for_each_target([] {
    for (int64_t n : {1, 5, 16, 17, 100, 1000})
      for (float mom : {0.f, 0.9f})
        for (float damp : {0.f, 0.3f})
          for (float wd : {0.f, 0.01f})
            for (bool nesterov : {false, true})
              for (bool first : {false, true}) {
                if (nesterov && (mom == 0.f || damp != 0.f)) continue;  // as torch refuses
                ops::SgdStep s;
                s.lr = 0.05f, s.momentum = mom, s.dampening = damp, s.weight_decay = wd;
                s.nesterov = nesterov, s.first = first;
                check_update(n, s);
              }
  });
}

TEST(SgdKernel, LargeArraysUseTheThreads) {
  ASSERT_GT(100003, ops::kParallelGrain);
  ops::SgdStep s;
  s.lr = 0.005f, s.momentum = 0.9f, s.weight_decay = 1e-4f;
  check_update(100003, s);
  s.first = true;
  check_update(100003, s);
}

TEST(SgdKernel, MomentumWithoutBufferIsRefused) {
  std::vector<float> w(4), g(4);
  ops::SgdStep s;
  s.momentum = 0.9f;
  EXPECT_THROW(ops::sgd_update(w.data(), g.data(), nullptr, 4, s), std::invalid_argument);
  EXPECT_THROW(ops::sgd_update(w.data(), g.data(), nullptr, -1, ops::SgdStep{}), std::invalid_argument);
}

}  // namespace
}  // namespace hsanet
