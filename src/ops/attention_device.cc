// The attention device setting and the host-pointer entry points (attention_device.h).
//
// On cuda, q, k and v go to one device buffer [B, N, 3C] at channel offsets 0, C, 2C (the fused
// qkv layout), whatever their host layout: when the host already holds them fused (k = q + C,
// v = q + 2C, the engine's case) that is one strided copy instead of three. dq, dk, dv come back
// the same way. Every copy is synchronous and timed.
#include "ops/attention_device.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>

#include "ops/cuda/attention_cuda.h"
#include "ops/cuda/device_buffer.h"

namespace hsanet::ops {

Device parse_device(std::string_view name) {
  if (name == "cpu") return Device::cpu;
  if (name == "cuda") return Device::cuda;
  throw std::invalid_argument("unknown device '" + std::string(name) +
                              "': expected 'cpu' or 'cuda'");
}

const char* device_name(Device device) { return device == Device::cuda ? "cuda" : "cpu"; }

namespace {

// Guards the statistics and the device buffers below.
std::mutex g_mutex;
AttentionTransferStats g_stats;

// Device buffers kept between calls, grown when a call needs more.
struct Staging {
  DeviceBuffer qkv, rel_h, rel_w, out, probs, dout, dqkv, drel_h, drel_w;
};
Staging& staging() {
  static Staging s;
  return s;
}

float* ensure(DeviceBuffer& buffer, int64_t count) {
  if (buffer.size() < size_t(count)) {
    buffer = DeviceBuffer();  // free the old one first: the device may not hold both
    buffer = DeviceBuffer(size_t(count));
  }
  return buffer.data();
}

class Stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

void require_cuda() {
  const std::string why = cuda_unavailable_reason();
  if (!why.empty()) throw std::runtime_error("attention on cuda: " + why);
}

struct Layout {
  int64_t rows, C, ld, ldo, rel_h, rel_w, probs;  // floats
};

Layout layout_of(const AttentionDims& dims) {
  check_attention_dims(dims);
  Layout l;
  l.rows = int64_t(dims.batch) * dims.positions();
  l.C = dims.channels();
  l.ld = dims.qkv_stride();
  l.ldo = dims.out_stride();
  l.rel_h = int64_t(dims.rel_rows_h()) * dims.head_dim;
  l.rel_w = int64_t(dims.rel_rows_w()) * dims.head_dim;
  l.probs = dims.probs_size();
  return l;
}

// The dims the kernels see: q, k, v (and dq, dk, dv) fused with stride 3C, out and dout packed.
AttentionDims device_dims(const AttentionDims& dims, const Layout& l) {
  AttentionDims d = dims;
  d.ld = 3 * l.C;
  d.ld_out = l.C;
  return d;
}

// Host q, k, v -> device qkv [rows, 3C]. Returns the bytes moved.
int64_t upload_qkv(float* qkv, const Layout& l, const float* q, const float* k, const float* v) {
  if (l.ld >= 3 * l.C && k == q + l.C && v == q + 2 * l.C) {
    copy_rows_to_device(qkv, 3 * l.C, q, l.ld, l.rows, 3 * l.C);
  } else {
    copy_rows_to_device(qkv, 3 * l.C, q, l.ld, l.rows, l.C);
    copy_rows_to_device(qkv + l.C, 3 * l.C, k, l.ld, l.rows, l.C);
    copy_rows_to_device(qkv + 2 * l.C, 3 * l.C, v, l.ld, l.rows, l.C);
  }
  return 3 * l.rows * l.C * int64_t(sizeof(float));
}

void add_upload(int64_t bytes, double seconds) {
  g_stats.bytes_to_device += bytes;
  g_stats.seconds_to_device += seconds;
}

void add_download(int64_t bytes, double seconds) {
  g_stats.bytes_to_host += bytes;
  g_stats.seconds_to_host += seconds;
}

void forward_cuda(const AttentionDims& dims, const float* q, const float* k, const float* v,
                  const float* rel_h, const float* rel_w, float* out, float* probs) {
  const Layout l = layout_of(dims);
  if (!q || !k || !v || !rel_h || !rel_w || !out)
    throw std::invalid_argument("attention_forward_on(cuda): q, k, v, rel_h, rel_w and out must not be null");
  require_cuda();
  std::lock_guard<std::mutex> lock(g_mutex);
  Staging& st = staging();
  float* qkv = ensure(st.qkv, l.rows * 3 * l.C);
  float* d_rel_h = ensure(st.rel_h, l.rel_h);
  float* d_rel_w = ensure(st.rel_w, l.rel_w);
  float* d_out = ensure(st.out, l.rows * l.C);
  float* d_probs = probs ? ensure(st.probs, l.probs) : nullptr;

  Stopwatch up;
  int64_t bytes = upload_qkv(qkv, l, q, k, v);
  st.rel_h.upload(rel_h, size_t(l.rel_h));
  st.rel_w.upload(rel_w, size_t(l.rel_w));
  bytes += (l.rel_h + l.rel_w) * int64_t(sizeof(float));
  add_upload(bytes, up.seconds());

  Stopwatch run;
  attention_forward_cuda(device_dims(dims, l), qkv, qkv + l.C, qkv + 2 * l.C, d_rel_h, d_rel_w,
                         d_out, d_probs);
  cuda_synchronize();
  g_stats.seconds_compute += run.seconds();

  Stopwatch down;
  copy_rows_to_host(out, l.ldo, d_out, l.C, l.rows, l.C);
  bytes = l.rows * l.C * int64_t(sizeof(float));
  if (probs) {
    st.probs.download(probs, size_t(l.probs));
    bytes += l.probs * int64_t(sizeof(float));
  }
  add_download(bytes, down.seconds());
  ++g_stats.calls;
}

void backward_cuda(const AttentionDims& dims, const float* q, const float* k, const float* v,
                   const float* rel_h, const float* rel_w, const float* probs, const float* dout,
                   float* dq, float* dk, float* dv, float* drel_h, float* drel_w) {
  const Layout l = layout_of(dims);
  if (!q || !k || !v || !rel_h || !rel_w || !probs || !dout)
    throw std::invalid_argument(
        "attention_backward_on(cuda): q, k, v, rel_h, rel_w, probs and dout must not be null");
  require_cuda();
  std::lock_guard<std::mutex> lock(g_mutex);
  Staging& st = staging();
  float* qkv = ensure(st.qkv, l.rows * 3 * l.C);
  float* d_rel_h = ensure(st.rel_h, l.rel_h);
  float* d_rel_w = ensure(st.rel_w, l.rel_w);
  float* d_probs = ensure(st.probs, l.probs);
  float* d_dout = ensure(st.dout, l.rows * l.C);
  float* dqkv = (dq || dk || dv) ? ensure(st.dqkv, l.rows * 3 * l.C) : nullptr;
  float* d_drel_h = drel_h ? ensure(st.drel_h, l.rel_h) : nullptr;
  float* d_drel_w = drel_w ? ensure(st.drel_w, l.rel_w) : nullptr;

  Stopwatch up;
  int64_t bytes = upload_qkv(qkv, l, q, k, v);
  st.rel_h.upload(rel_h, size_t(l.rel_h));
  st.rel_w.upload(rel_w, size_t(l.rel_w));
  st.probs.upload(probs, size_t(l.probs));
  copy_rows_to_device(d_dout, l.C, dout, l.ldo, l.rows, l.C);
  bytes += (l.rel_h + l.rel_w + l.probs + l.rows * l.C) * int64_t(sizeof(float));
  add_upload(bytes, up.seconds());

  Stopwatch run;
  attention_backward_cuda(device_dims(dims, l), qkv, qkv + l.C, qkv + 2 * l.C, d_rel_h, d_rel_w,
                          d_probs, d_dout, dq ? dqkv : nullptr, dk ? dqkv + l.C : nullptr,
                          dv ? dqkv + 2 * l.C : nullptr, d_drel_h, d_drel_w);
  cuda_synchronize();
  g_stats.seconds_compute += run.seconds();

  Stopwatch down;
  bytes = 0;
  if (dq && l.ld >= 3 * l.C && dk == dq + l.C && dv == dq + 2 * l.C) {
    copy_rows_to_host(dq, l.ld, dqkv, 3 * l.C, l.rows, 3 * l.C);
    bytes += 3 * l.rows * l.C * int64_t(sizeof(float));
  } else {
    float* host[3] = {dq, dk, dv};
    for (int i = 0; i < 3; ++i)
      if (host[i]) {
        copy_rows_to_host(host[i], l.ld, dqkv + i * l.C, 3 * l.C, l.rows, l.C);
        bytes += l.rows * l.C * int64_t(sizeof(float));
      }
  }
  if (drel_h) {
    st.drel_h.download(drel_h, size_t(l.rel_h));
    bytes += l.rel_h * int64_t(sizeof(float));
  }
  if (drel_w) {
    st.drel_w.download(drel_w, size_t(l.rel_w));
    bytes += l.rel_w * int64_t(sizeof(float));
  }
  add_download(bytes, down.seconds());
  ++g_stats.calls;
}

}  // namespace

void require_device(Device device) {
  if (device == Device::cuda) require_cuda();
}

AttentionTransferStats attention_transfer_stats() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_stats;
}

void reset_attention_transfer_stats() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_stats = AttentionTransferStats{};
}

void release_attention_device_buffers() {
  std::lock_guard<std::mutex> lock(g_mutex);
  staging() = Staging{};
}

void attention_forward_on(Device device, const AttentionDims& dims, const float* q, const float* k,
                          const float* v, const float* rel_h, const float* rel_w, float* out,
                          float* probs) {
  if (device == Device::cpu) {
    attention_forward(dims, q, k, v, rel_h, rel_w, out, probs);
    return;
  }
  forward_cuda(dims, q, k, v, rel_h, rel_w, out, probs);
}

void attention_backward_on(Device device, const AttentionDims& dims, const float* q,
                           const float* k, const float* v, const float* rel_h, const float* rel_w,
                           const float* probs, const float* dout, float* dq, float* dk, float* dv,
                           float* drel_h, float* drel_w) {
  if (device == Device::cpu) {
    attention_backward(dims, q, k, v, rel_h, rel_w, probs, dout, dq, dk, dv, drel_h, drel_w);
    return;
  }
  backward_cuda(dims, q, k, v, rel_h, rel_w, probs, dout, dq, dk, dv, drel_h, drel_w);
}

}  // namespace hsanet::ops
