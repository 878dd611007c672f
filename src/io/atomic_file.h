// Crash-safe file replacement: a reader of `path` sees either the previous complete file or the
// new complete file, never a torn mixture, whatever moment the writing process dies at.
//
// How: the bytes go to `path.tmp.<pid>` in the same directory (the same filesystem, so rename is
// atomic), which is flushed and fsync'ed before it is renamed over `path`; the directory is then
// fsync'ed so the rename itself survives a power cut. On any error the temporary file is removed
// and the previous `path` is left untouched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hsanet::io {

// An I/O failure; the message names the file and the system's reason (strerror(errno)).
class FileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The sink handed to the producer of a file's bytes. Small writes are gathered in a buffer so
// that a header written field by field does not cost one system call per field.
class AtomicWriter {
 public:
  void write(const void* data, size_t size);
  void write(const std::string& s) { write(s.data(), s.size()); }
  uint64_t bytes_written() const { return written_; }

 private:
  friend void write_file_atomically(const std::string&,
                                    const std::function<void(AtomicWriter&)>&);
  AtomicWriter(int fd, std::string tmp_path) : fd_(fd), tmp_path_(std::move(tmp_path)) {}
  void flush();       // the buffer to the file descriptor
  void write_all(const char* p, size_t n);

  int fd_;
  std::string tmp_path_;    // for error messages
  std::vector<char> buf_;   // pending bytes, at most kBufferSize
  uint64_t written_ = 0;    // bytes accepted so far
  static constexpr size_t kBufferSize = size_t{1} << 20;
};

// Replaces `path` with the bytes `produce` writes. If `produce` throws, its exception propagates
// unchanged after the temporary file is removed; an I/O failure throws FileError.
// Not for two threads of one process writing the same path at once (they share the pid suffix).
void write_file_atomically(const std::string& path,
                           const std::function<void(AtomicWriter&)>& produce);

// Convenience: the whole content at once.
void write_file_atomically(const std::string& path, const std::string& content);

// The name of the temporary file this process uses for `path`: "<path>.tmp.<pid>".
std::string atomic_temp_path(const std::string& path);

// A writer killed mid-write (SIGKILL, power cut) leaves its "<path>.tmp.<pid>" behind. This
// removes those whose process no longer exists and returns how many it removed.
int remove_stale_temp_files(const std::string& path);

}  // namespace hsanet::io
