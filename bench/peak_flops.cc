// The arithmetic peak of this CPU, for "what fraction of the peak does a step reach": the float32
// FMA peak (AVX-512 and AVX2) and the bf16 dot-product peak (AVX512-BF16's vdpbf16ps: each
// 32-bit lane adds two bf16 products into a float32 sum, so 4 FLOP per lane), on 1 .. N threads.
//
// Each thread keeps kChains independent accumulators in registers, so the loop is bound by
// throughput, not latency. Reported: the median and the best of kRuns timed runs, in GFLOP/s.
//
//   bench/peak_flops [--millions M]   (M million instructions per thread per run; default 200)
//
// An instruction set the CPU lacks is reported as such, not run.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kChains = 16;  // >= latency (4-6 cycles) x ports (2)
constexpr int kRuns = 7;

// kChains chains of acc = acc * a + b on vectors of V (GCC vector types), one FMA each (the file
// is built with -ffp-contract=fast); returns a value that depends on every accumulator, so
// nothing is optimised away. Inlined into the target-specific wrappers below, whose instruction
// set it then compiles for.
typedef float Floats16 __attribute__((vector_size(64)));
typedef float Floats8 __attribute__((vector_size(32)));
template <class V>
[[gnu::always_inline]] inline float fma_chains(long iters) {
  constexpr int kLanes = sizeof(V) / sizeof(float);
  V acc[kChains];
  const V a = V{} + 0.999999f, b = V{} + 1e-7f;
  for (int i = 0; i < kChains; ++i) acc[i] = V{} + static_cast<float>(i);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * a + b;
  }
  V s = acc[0];
  for (int i = 1; i < kChains; ++i) s += acc[i];
  float total = 0;
  for (int l = 0; l < kLanes; ++l) total += s[l];
  return total;
}

__attribute__((target("avx512f"), noinline)) float fma512(long iters) { return fma_chains<Floats16>(iters); }
__attribute__((target("avx2,fma"), noinline)) float fma256(long iters) { return fma_chains<Floats8>(iters); }

// acc += a.even * b.even + a.odd * b.odd in every float32 lane (32 bf16 products per instruction).
__attribute__((target("avx512f,avx512bf16"), noinline)) float dot_bf16(long iters) {
  __m512 acc[kChains];
  // bf16 pairs of small values (0x3c00 is 2^-7), so the sums stay finite however long the run.
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3c00);  // a vector cast: same 64 bytes
  const __m512bh b = a;
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

struct Kernel {
  const char* name;
  bool supported;
  float (*run)(long);
  double flop_per_instruction;  // lanes x FLOP per lane
};

volatile float g_sink;  // keeps the results alive

// GFLOP/s of `threads` threads each running `iters` loop trips of kChains instructions.
double measure(const Kernel& k, int threads, long iters) {
  const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
  {
    const float v = k.run(iters);
#pragma omp critical
    g_sink = g_sink + v;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(threads) * static_cast<double>(iters) * kChains *
         k.flop_per_instruction / s * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  long millions = 200;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--millions") == 0 && i + 1 < argc) {
      millions = std::atol(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--millions M]\n", argv[0]);
      return 2;
    }
  }
  if (millions <= 0) {
    std::fprintf(stderr, "peak_flops: --millions must be positive\n");
    return 2;
  }
  __builtin_cpu_init();
  const Kernel kernels[] = {
      {"fp32 FMA, 512-bit", __builtin_cpu_supports("avx512f") != 0, fma512, 16 * 2},
      {"fp32 FMA, 256-bit", __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"), fma256,
       8 * 2},
      {"bf16 dot product (vdpbf16ps)", __builtin_cpu_supports("avx512bf16") != 0, dot_bf16, 16 * 4},
  };
  const long iters = millions * 1000000 / kChains;
  const int max_threads = omp_get_max_threads();
  std::printf("%-30s %7s %12s %12s\n", "instruction", "threads", "median GF/s", "best GF/s");
  for (const Kernel& k : kernels) {
    if (!k.supported) {
      std::printf("%-30s %7s %12s %12s\n", k.name, "-", "not on this CPU", "");
      continue;
    }
    for (int t = 1; t <= max_threads; ++t) {
      measure(k, t, iters / 10);  // warm-up: clocks up, threads started
      std::vector<double> rates;
      for (int r = 0; r < kRuns; ++r) rates.push_back(measure(k, t, iters));
      std::sort(rates.begin(), rates.end());
      std::printf("%-30s %7d %12.1f %12.1f\n", k.name, t, rates[kRuns / 2], rates.back());
    }
  }
  return 0;
}
