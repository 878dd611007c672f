#include "ops/precision.h"

#include <stdexcept>

#include <dnnl.hpp>

namespace hsanet::ops {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kF32;
  if (name == "bf16") return Precision::kBF16;
  throw std::invalid_argument("unknown precision '" + name + "' (expected fp32 or bf16)");
}

const char* precision_name(Precision p) { return p == Precision::kBF16 ? "bf16" : "fp32"; }

const char* bf16_instruction_set() {
  // oneDNN's own answer: the instruction set its kernels dispatch to on this CPU (capped by
  // ONEDNN_MAX_CPU_ISA when that is set), so the line we print is what will run.
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_amx: return "AMX-BF16";
    case dnnl::cpu_isa::avx512_core_bf16: return "AVX512-BF16";
    default: return "emulated";
  }
}

bool bf16_native() { return std::string(bf16_instruction_set()) != "emulated"; }

}  // namespace hsanet::ops
