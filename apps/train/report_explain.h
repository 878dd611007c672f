// The report's attention maps and Grad-CAM: at the end of a run, a few validation faces are
// explained with the best checkpoint (hsanet explain's own code) into RUN_DIR/explain/, where
// report.html finds them.
#pragma once

#include <string>
#include <vector>

#include "apps/train/run_log.h"
#include "data/image_folder.h"
#include "data/split.h"

namespace hsanet::train {

// Up to `count` validation images, each of a different identity where the split allows: full paths.
std::vector<std::string> explain_sample_images(const data::ImageFolder& dataset, const data::Split& split,
                                               int count);

// Explains `images` with RUN_DIR/best.safetensors into RUN_DIR/explain/: every head's map of the
// mean query (attention models) and the Grad-CAM of the predicted and the true identity. A failure
// is logged and never ends the run (hsanet explain can make the maps later).
void write_explain_samples(const std::string& run_dir, const std::vector<std::string>& images, RunLog& log);

}  // namespace hsanet::train
