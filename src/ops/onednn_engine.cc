#include "ops/onednn_engine.h"

namespace hsanet::ops {

const dnnl::engine& onednn_engine() {
  // A function-local static: created once, on first use, safely even from several threads.
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& onednn_stream() {
  static dnnl::stream stream(onednn_engine());
  return stream;
}

}  // namespace hsanet::ops
