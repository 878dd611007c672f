// DataError: everything that can go wrong between a file on disk and a batch. The message always
// names the file (or folder) and the reason, so that a user can find and fix the offender.
#pragma once

#include <stdexcept>
#include <string>

namespace hsanet::data {

class DataError : public std::runtime_error {
 public:
  DataError(const std::string& file, const std::string& reason)
      : std::runtime_error(file.empty() ? reason : file + ": " + reason),
        file_(file),
        reason_(reason) {}
  const std::string& file() const { return file_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string file_;
  std::string reason_;
};

}  // namespace hsanet::data
