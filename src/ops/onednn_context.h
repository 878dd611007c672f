// The process-wide oneDNN CPU engine, shared by every oneDNN-backed kernel.
#pragma once

#include <dnnl.hpp>

namespace hsanet::ops {

dnnl::engine& onednn_engine();

}  // namespace hsanet::ops
