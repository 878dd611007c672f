#include "io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace hsanet::io {

namespace {

// "<what> '<path>': <reason>" with the reason read from errno at the failure.
[[noreturn]] void throw_errno(const std::string& what, const std::string& path, int err) {
  throw FileError(what + " '" + path + "': " + std::system_category().message(err));
}

std::string parent_directory(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Makes the rename durable: the new directory entry is only on disk once the directory is synced.
void fsync_directory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno("cannot open directory to sync it", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // EINVAL: this filesystem cannot sync directories (some network and FUSE mounts); the rename
  // has happened and there is nothing more to do.
  if (rc != 0 && err != EINVAL) throw_errno("cannot sync directory", dir, err);
}

}  // namespace

std::string atomic_temp_path(const std::string& path) {
  return path + ".tmp." + std::to_string(static_cast<long>(::getpid()));
}

void AtomicWriter::write_all(const char* p, size_t n) {
  while (n > 0) {
    ssize_t k = ::write(fd_, p, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot write", tmp_path_, errno);
    }
    // A short write (disk nearly full, a file-size limit) is retried: the next call reports why.
    p += k;
    n -= static_cast<size_t>(k);
  }
}

void AtomicWriter::flush() {
  if (buf_.empty()) return;
  write_all(buf_.data(), buf_.size());
  buf_.clear();
}

void AtomicWriter::write(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  written_ += size;
  if (buf_.size() + size <= kBufferSize) {
    buf_.insert(buf_.end(), p, p + size);
    return;
  }
  // Large blocks (tensor data) go straight to the file after whatever is pending.
  flush();
  write_all(p, size);
}

void write_file_atomically(const std::string& path,
                           const std::function<void(AtomicWriter&)>& produce) {
  const std::string tmp = atomic_temp_path(path);
  // O_NOFOLLOW: never write through a symlink planted at the temporary name. No O_EXCL: a file
  // left by an earlier process that had our pid is simply overwritten.
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd < 0) throw_errno("cannot create temporary file", tmp, errno);
  try {
    AtomicWriter w(fd, tmp);
    produce(w);
    w.flush();
    // The data must be on disk before the rename makes it visible under the real name:
    // otherwise a crash can leave `path` naming a file of zeros.
    if (::fsync(fd) != 0) throw_errno("cannot sync", tmp, errno);
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0) throw_errno("cannot close", tmp, errno);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      throw_errno("cannot rename '" + tmp + "' over", path, errno);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_directory(parent_directory(path));
}

void write_file_atomically(const std::string& path, const std::string& content) {
  write_file_atomically(path, [&](AtomicWriter& w) { w.write(content); });
}

int remove_stale_temp_files(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const std::string prefix = target.filename().string() + ".tmp.";
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  int removed = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid == ::getpid()) continue;
    // kill(pid, 0) probes for the process without signalling it; ESRCH: no such process.
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
    if (::unlink(it->path().c_str()) == 0) ++removed;
  }
  return removed;
}

}  // namespace hsanet::io
