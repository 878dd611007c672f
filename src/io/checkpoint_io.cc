#include "io/checkpoint_io.h"

#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

namespace hsanet::io {

namespace {

// BatchNorm's step counter: PyTorch saves it, the engine has no use for it.
bool ignored(const std::string& name) {
  static const std::string suffix = "num_batches_tracked";
  return name.size() >= suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The index of the first NaN or infinity in `t`, or -1.
int64_t first_non_finite(const Tensor& t) {
  const float* p = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    if (!std::isfinite(p[i])) return i;
  return -1;
}

[[noreturn]] void throw_non_finite(const std::string& source, const std::string& name, const Tensor& t, int64_t i) {
  throw std::domain_error(source + ": tensor '" + name + "' holds " + std::to_string(t.data()[i]) + " at element " +
                          std::to_string(i) + "; nothing was loaded");
}

}  // namespace

void require_finite_tensors(const SafeTensorsFile& file, const std::string& source) {
  for (const auto& [name, record] : file.tensors) {
    if (ignored(name) || record.dtype.empty() || record.dtype[0] != 'F') continue;  // integers are finite
    const Tensor t = record.to_float_tensor();
    if (const int64_t i = first_non_finite(t); i >= 0) throw_non_finite(source, name, t, i);
  }
}

std::string LoadReport::summary() const {
  std::string s;
  for (const auto& n : missing) s += "missing: " + n + "\n";
  for (const auto& n : unexpected) s += "unexpected: " + n + "\n";
  for (const auto& w : wrong_shape)
    s += "wrong shape: " + w.name + ": expected " + shape_str(w.expected) + ", file has " +
         shape_str(w.found) + "\n";
  return s;
}

void save_state_dict(const std::string& path, const StateDict& dict, const Metadata& metadata,
                     bool require_finite) {
  std::vector<std::pair<std::string, TensorRecord>> records;
  records.reserve(dict.size());
  for (const auto& [name, t] : dict) {
    if (!t.defined())
      throw std::invalid_argument("save_state_dict: tensor '" + name + "' is undefined");
    if (require_finite) {
      const float* p = t.data();
      for (int64_t i = 0, n = t.numel(); i < n; ++i) {
        if (!std::isfinite(p[i]))
          throw std::domain_error("save_state_dict: tensor '" + name + "' holds " +
                                  std::to_string(p[i]) + " at element " + std::to_string(i) +
                                  "; not overwriting '" + path + "'");
      }
    }
    records.emplace_back(name, TensorRecord::from_tensor(t));
  }
  write_safetensors(path, records, metadata);  // rejects duplicate names before any I/O
}

LoadReport load_state_dict(const SafeTensorsFile& file, const std::string& source,
                           const StateDict& targets, bool strict) {
  LoadReport report;
  std::set<std::string> wanted;
  std::vector<std::pair<const Tensor*, const TensorRecord*>> matches;
  for (const auto& [name, t] : targets) {
    if (!t.defined())
      throw std::invalid_argument("load_state_dict: target '" + name + "' is undefined");
    if (!wanted.insert(name).second)
      throw std::invalid_argument("load_state_dict: target name '" + name + "' appears twice");
    if (ignored(name)) continue;
    auto it = file.tensors.find(name);
    if (it == file.tensors.end()) {
      report.missing.push_back(name);
    } else if (it->second.shape != t.shape()) {
      report.wrong_shape.push_back({name, t.shape(), it->second.shape});
    } else {
      matches.emplace_back(&t, &it->second);
      report.loaded.push_back(name);
    }
  }
  for (const auto& [name, r] : file.tensors)
    if (!wanted.count(name) && !ignored(name)) report.unexpected.push_back(name);

  // Strict loads are all-or-nothing: check everything first so a mismatch leaves the model as
  // it was rather than half overwritten.
  if (strict && !report.complete())
    throw StateDictMismatch(source + ": state dict does not match the model:\n" + report.summary(),
                            report);
  // Converted and checked before the first copy: a NaN or infinity anywhere loads nothing.
  std::vector<Tensor> values;
  values.reserve(matches.size());
  for (size_t k = 0; k < matches.size(); ++k) {
    values.push_back(matches[k].second->to_float_tensor());
    if (const int64_t i = first_non_finite(values.back()); i >= 0)
      throw_non_finite(source, report.loaded[k], values.back(), i);
  }
  for (size_t k = 0; k < matches.size(); ++k) {
    Tensor dst = *matches[k].first;  // shares the target's storage
    dst.copy_from(values[k]);
    dst.bump_version();
  }
  return report;
}

LoadReport load_state_dict(const std::string& path, const StateDict& targets, bool strict) {
  return load_state_dict(read_safetensors(path), path, targets, strict);
}

}  // namespace hsanet::io
