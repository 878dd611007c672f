#include "ops/onednn_engine.h"

namespace hsanet::ops {

dnnl::stream& onednn_stream() {
  // A function-local static: created once, on first use, safely even from several threads.
  static dnnl::stream stream(onednn_engine());
  return stream;
}

}  // namespace hsanet::ops
