// Command-line options that choose and shape a model, shared by every tool: the apps and the
// benchmarks (which may not know apps/).
#pragma once

#include <CLI/CLI.hpp>

#include "models/model_config.h"
#include "ops/attention_device.h"
#include "ops/conv2d.h"
#include "ops/precision.h"

namespace hsanet::cli {

inline void add_model_options(CLI::App& app, models::ModelConfig& cfg, bool with_name = true) {
  if (with_name)
    app.add_option("--model", cfg.name, "resnet50 | botnet50 | hsanet_x | hsanet_3x3")
        ->check(CLI::IsMember(models::model_names()))
        ->capture_default_str();
  app.add_option("--classes", cfg.num_classes, "number of classes")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--attention", cfg.attention, "global | local (K x K window)")
      ->check(CLI::IsMember({"global", "local"}))
      ->capture_default_str();
  app.add_option("--window", cfg.window, "local attention window K (odd)")->capture_default_str();
  app.add_option("--attention-stages", cfg.attention_stages, "stages (1-4) that hold attention blocks")
      ->capture_default_str();
  app.add_option("--heads", cfg.heads, "attention heads")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--width-mult", cfg.width_mult, "scales the stage widths (tiny test models)")
      ->capture_default_str();
  app.add_option("--blocks", cfg.blocks, "bottlenecks per stage (4 numbers)")->expected(4)->capture_default_str();
}

// --attention-device cpu|cuda: where the attention core runs; the rest of the network stays on
// the CPU and the copies to and from the device are explicit (ops/attention_device.h).
inline void add_attention_device_option(CLI::App& app, std::string& device) {
  app.add_option("--attention-device", device, "where the attention core runs: cpu | cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
}

// --conv-algorithm fast|direct: Winograd for the 3x3 stride-1 layers (and im2col for stage 4's
// strided 3x3) where they pay, or oneDNN's direct 3x3 kernels, for the smallest rounding error
// (ops/conv2d.h, docs/conv.md, docs/winograd.md).
inline void add_conv_algorithm_option(CLI::App& app, std::string& algorithm) {
  app.add_option("--conv-algorithm", algorithm,
                 "fast (Winograd for 3x3 stride-1 layers) | direct (smallest rounding error)")
      ->check(CLI::IsMember({"fast", "direct"}))
      ->capture_default_str();
}

// --precision fp32|bf16: float32, or bf16 mixed precision for the convolutions (docs/precision.md).
inline void add_precision_option(CLI::App& app, std::string& precision) {
  app.add_option("--precision", precision,
                 "fp32 | bf16 (mixed precision: bf16 convolutions, float32 weights and state)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
}
// The line a tool prints about its precision, and the instruction set that will run it:
// "precision: bf16 (AVX512-BF16)", or a warning that this CPU only emulates bf16.
inline std::string precision_line(ops::Precision p) {
  if (p == ops::Precision::kF32) return "precision: fp32";
  const std::string isa = ops::bf16_instruction_set();
  if (ops::bf16_native()) return "precision: bf16 (" + isa + ")";
  return "precision: bf16 (emulated: this CPU has no bf16 instructions, so bf16 runs slower than "
         "fp32 here)";
}

// The device of --attention-device, checked: throws with the reason when CUDA was not built or
// no GPU is present, so that a tool fails at startup.
inline ops::Device usable_attention_device(const std::string& device) {
  const ops::Device d = ops::parse_device(device);
  ops::require_device(d);
  return d;
}

}  // namespace hsanet::cli
