#include "apps/train/resume_config.h"

#include <algorithm>
#include <filesystem>

#include "apps/train/checkpoint.h"
#include "apps/train/command_line.h"

namespace hsanet::train {

namespace fs = std::filesystem;

nlohmann::json checkpoint_config(const std::string& run_dir) {
  for (const char* name : {"last.safetensors", "best.safetensors"}) {
    const std::string path = (fs::path(run_dir) / name).string();
    if (!fs::exists(path)) continue;
    try {
      const io::SafeTensorsFile file = io::read_safetensors(path);
      if (!is_training_checkpoint(file)) continue;
      return nlohmann::json::parse(file.metadata.at("config"));
    } catch (const std::exception&) {
      continue;  // unreadable: the resume itself reports it (resume.h)
    }
  }
  return nullptr;
}

namespace {

std::string change(const std::string& key, const nlohmann::json& from, const nlohmann::json& to,
                   const std::string& where) {
  return "--" + key + " " + from.dump() + " -> " + to.dump() + " (" + where + ")";
}

void add_refused(ResumeBase& base, const std::string& key) {
  if (std::find(base.refused.begin(), base.refused.end(), "--" + key) == base.refused.end())
    base.refused.push_back("--" + key);
}

}  // namespace

ResumeBase resume_base(const nlohmann::json& saved, const nlohmann::json& reference,
                       const std::set<std::string>& allowed) {
  ResumeBase base;
  base.config = saved;
  base.reference = reference.is_null() ? saved : reference;
  if (reference.is_null()) return base;
  for (const auto& [key, value] : reference.items()) {
    if (resume_safe_keys().count(key)) continue;
    base.config[key] = value;
    if (!saved.contains(key) || saved.at(key) == value) continue;
    // config.json was edited after the checkpoint was written.
    if (allowed.count(key)) {
      base.config[key] = saved.at(key);
      base.changes.push_back(change(key, value, saved.at(key), "edited config.json"));
    } else {
      add_refused(base, key);
    }
  }
  return base;
}

void check_resume_flags(ResumeBase& base, const nlohmann::json& now, const std::vector<std::string>& given,
                        const std::set<std::string>& allowed) {
  const nlohmann::json& reference = base.reference;
  for (const std::string& key : given) {
    if (resume_safe_keys().count(key) || !now.contains(key)) continue;
    // A key the run's configuration lacks (it predates the option) ran at the option's default.
    static const nlohmann::json defaults = [] {
      const TrainConfig fresh;
      return to_json(fresh);
    }();
    const nlohmann::json was = reference.contains(key) ? reference.at(key) : defaults.value(key, nlohmann::json());
    if (now.at(key) == was) continue;
    if (!allowed.count(key)) {
      add_refused(base, key);
      continue;
    }
    const std::string from_file = "--" + key + " ";
    base.changes.erase(std::remove_if(base.changes.begin(), base.changes.end(),
                                      [&](const std::string& c) { return c.rfind(from_file, 0) == 0; }),
                       base.changes.end());
    base.changes.push_back(change(key, was, now.at(key), "--allow-change " + key));
  }
}

}  // namespace hsanet::train
