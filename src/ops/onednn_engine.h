// The oneDNN engine and stream every oneDNN primitive in hsanet runs on. Primitives and memories
// made on different engines cannot be mixed, and making an engine or a stream per call would cost
// more than a small op, so there is one of each per process.
#pragma once

#include <dnnl.hpp>

namespace hsanet::ops {

// The process-wide CPU engine (created on first use).
dnnl::engine& onednn_engine();

// The stream primitives execute on (created on first use, on onednn_engine()). oneDNN's CPU
// stream here runs on the OpenMP runtime: it is in-order, and wait() returns once the work is done.
dnnl::stream& onednn_stream();

}  // namespace hsanet::ops
