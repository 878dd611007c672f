// A JSON file read whole, with errors that name it. Error is the exception type the caller's
// command maps to its exit code (std::invalid_argument for command-line input, std::runtime_error
// for files of a run).
#pragma once

#include <fstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace hsanet::train {

template <class Error = std::runtime_error>
nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read '" + path + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON (" + e.what() + ")");
  }
}

}  // namespace hsanet::train
