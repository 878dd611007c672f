// The arithmetic a layer runs in: fp32, or bf16 mixed precision (docs/precision.md says which op
// runs in which type). A layer carries its precision explicitly (nn::Conv2dOptions, the model
// config); nothing here is a process-wide switch.
#pragma once

#include <string>

namespace hsanet::ops {

enum class Precision {
  kF32,   // everything in float32
  kBF16,  // convolutions on bf16 activations and weights, float32 accumulation and outputs;
          // master weights, optimiser state, batch norm, softmax and the loss stay float32
};

// "fp32" | "bf16"; anything else throws std::invalid_argument naming the accepted values.
Precision parse_precision(const std::string& name);
const char* precision_name(Precision p);

// How this CPU runs oneDNN's bf16 kernels: "AMX-BF16" (Sapphire Rapids and later),
// "AVX512-BF16" (Cooper Lake, Zen 4 and later), or "emulated" (AVX-512 without bf16
// instructions, or less: oneDNN converts and computes in float32, slower than fp32 itself).
const char* bf16_instruction_set();
// True when bf16_instruction_set() is a native one.
bool bf16_native();

}  // namespace hsanet::ops
