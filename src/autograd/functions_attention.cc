// mhsa: the attention core (ops/attention.h) as one differentiable function. The fused qkv
// projection's output is read in place (q, k, v at channel offsets 0, C, 2C of each row, ld 3C);
// the forward saves the probabilities P, which is all the backward needs besides the inputs
// (docs/attention.md derives it).
#include "autograd/functions_attention.h"

#include <stdexcept>
#include <string>

#include "autograd/node.h"
#include "ops/attention.h"
#include "ops/attention_device.h"

namespace hsanet {

Tensor mhsa(const Tensor& qkv, const Tensor& rel_height, const Tensor& rel_width, int heads,
            int window, Tensor* probs_out, ops::Device device) {
  if (!qkv.defined() || !rel_height.defined() || !rel_width.defined())
    throw std::invalid_argument("mhsa: undefined input");
  if (qkv.ndim() != 4 || qkv.size(3) % 3 != 0)
    throw std::invalid_argument("mhsa: qkv must be [B, H, W, 3C], got " + shape_str(qkv.shape()));
  const int64_t C = qkv.size(3) / 3;
  if (heads <= 0 || C % heads != 0)
    throw std::invalid_argument("mhsa: " + std::to_string(heads) + " heads do not divide " +
                                std::to_string(C) + " channels (qkv " + shape_str(qkv.shape()) +
                                ")");
  ops::AttentionDims dims;
  dims.batch = static_cast<int>(qkv.size(0));
  dims.height = static_cast<int>(qkv.size(1));
  dims.width = static_cast<int>(qkv.size(2));
  dims.heads = heads;
  dims.head_dim = static_cast<int>(C / heads);
  dims.window = window;
  dims.ld = 3 * C;  // q, k, v read in place from the fused projection
  dims.ld_out = C;
  ops::check_attention_dims(dims);
  const Shape want_h{dims.rel_rows_h(), dims.head_dim}, want_w{dims.rel_rows_w(), dims.head_dim};
  if (rel_height.shape() != want_h || rel_width.shape() != want_w)
    throw std::invalid_argument("mhsa: relative tables " + shape_str(rel_height.shape()) + " and " +
                                shape_str(rel_width.shape()) + " do not fit a " +
                                std::to_string(dims.height) + "x" + std::to_string(dims.width) +
                                " map with window " + std::to_string(window) + " (expected " +
                                shape_str(want_h) + " and " + shape_str(want_w) + ")");

  Tensor out = Tensor::empty({qkv.size(0), qkv.size(1), qkv.size(2), C});  // [B, H, W, C]
  // P is only kept when a backward can follow or the caller asks for it; inference skips it.
  const bool training = needs_record({&qkv, &rel_height, &rel_width});
  const bool keep = training || probs_out;
  Tensor probs = keep ? Tensor::empty({dims.probs_size()}) : Tensor();  // [B, heads, N, keys]
  const float* q = qkv.data();
  ops::attention_forward_on(device, dims, q, q + C, q + 2 * C, rel_height.data(), rel_width.data(),
                            out.data(), keep ? probs.data() : nullptr);
  if (probs_out)  // [B, heads, N, keys], sharing P's storage (nobody writes it afterwards)
    *probs_out = probs.view({dims.batch, dims.heads, dims.positions(), dims.keys()});
  // Saved for backward: the inputs (through detach: no history, no cycle) and P.
  Tensor qs = qkv.detach(), hs = rel_height.detach(), ws = rel_width.detach();
  return record(
      "mhsa", out, {qkv, rel_height, rel_width}, [=](const Tensor& gout, const NeedsGrad& needs) {
        std::vector<Tensor> g(3);
        // The kernel writes every channel of dq | dk | dv, so empty() suffices.
        if (needs[0]) g[0] = Tensor::empty(qs.shape());  // [B, H, W, 3C]
        if (needs[1]) g[1] = Tensor::empty(hs.shape());
        if (needs[2]) g[2] = Tensor::empty(ws.shape());
        const float* qp = qs.data();
        float* dq = needs[0] ? g[0].data() : nullptr;
        ops::attention_backward_on(device, dims, qp, qp + C, qp + 2 * C, hs.data(), ws.data(),
                                   probs.data(), gout.data(), dq, dq ? dq + C : nullptr,
                                   dq ? dq + 2 * C : nullptr, needs[1] ? g[1].data() : nullptr,
                                   needs[2] ? g[2].data() : nullptr);
        return g;
      });
}

}  // namespace hsanet
