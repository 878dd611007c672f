// The configuration a resumed run continues with: the checkpoint's own, not the editable
// config.json. A value that would change what the run computes (model, data split, optimiser,
// schedule, batch, augmentation: every key but resume_safe_keys()) must equal the checkpoint's,
// whether it comes from an edited config.json or from a flag, unless --allow-change names the key;
// an allowed change is returned so that the run logs it. The safe keys (epochs, threads, ...) keep
// config.json's values, the last ones asked for.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hsanet::train {

// The "config" of RUN's checkpoint (last, else best) as JSON; null when neither can be read.
nlohmann::json checkpoint_config(const std::string& run_dir);

struct ResumeBase {
  nlohmann::json config;             // the base the flags are parsed over
  nlohmann::json reference;          // what the run computes with: the checkpoint's, else config.json
  std::vector<std::string> changes;  // "--lr 0.02 -> 0.5 (config.json)", allowed changes only
  std::vector<std::string> refused;  // "--lr" for each change that was not allowed
};

// `saved`: config.json; `reference`: checkpoint_config (or null: the run has no checkpoint yet,
// and config.json is the reference).
ResumeBase resume_base(const nlohmann::json& saved, const nlohmann::json& reference,
                       const std::set<std::string>& allowed);

// After the flags: records or refuses each flag-given key whose value differs from the reference.
void check_resume_flags(ResumeBase& base, const nlohmann::json& now, const std::vector<std::string>& given,
                        const std::set<std::string>& allowed);

}  // namespace hsanet::train
