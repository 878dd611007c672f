#include "ops/onednn_engine.h"

namespace hsanet::ops {

// Function-local statics: created once, on first use, safely even from several threads.
dnnl::engine& onednn_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& onednn_stream() {
  static dnnl::stream stream(onednn_engine());
  return stream;
}

}  // namespace hsanet::ops
