// One oneDNN CPU engine and one stream for the whole process. Every oneDNN primitive in hsanet is
// created on this engine and executed on this stream: primitives and memories made on different
// engines cannot be mixed, and creating an engine per call would cost more than a small op.
#pragma once

#include <dnnl.hpp>

namespace hsanet::ops {

// The process-wide CPU engine (created on first use; thread-safe initialisation).
const dnnl::engine& onednn_engine();
// The stream primitives execute on. oneDNN's CPU stream here runs on the OpenMP runtime, so a
// call returns once the primitive has finished; the stream is in-order.
dnnl::stream& onednn_stream();

}  // namespace hsanet::ops
