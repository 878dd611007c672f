// Command-line options that choose and shape a model, shared by every tool.
#pragma once

#include <CLI/CLI.hpp>

#include "models/model_config.h"

namespace hsanet::apps {

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

}  // namespace hsanet::apps
