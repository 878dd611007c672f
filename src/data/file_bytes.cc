#include "data/file_bytes.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data_error.h"

namespace hsanet::data {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

// Closes the descriptor on every path out of read_file_bytes.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::vector<uint8_t> read_file_bytes(const std::string& path, int64_t max_bytes) {
  struct stat link_st {};
  if (::lstat(path.c_str(), &link_st) != 0) {
    const int err = errno;
    throw DataError(path, err == ENOENT ? "file does not exist" : "cannot access: " + errno_text(err));
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (S_ISLNK(link_st.st_mode) && (err == ENOENT || err == ELOOP))
      throw DataError(path, "dangling symbolic link (its target does not exist)");
    throw DataError(path, "cannot access: " + errno_text(err));
  }
  if (S_ISDIR(st.st_mode)) throw DataError(path, "is a directory, not an image file");
  if (!S_ISREG(st.st_mode)) throw DataError(path, "not a regular file (a FIFO, socket or device)");

  // O_NONBLOCK: should the path be swapped for a FIFO after the stat, open must not wait for a
  // writer; fstat below then refuses it.
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (file.fd < 0) throw DataError(path, "cannot open: " + errno_text(errno));
  if (::fstat(file.fd, &st) != 0) throw DataError(path, "cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) throw DataError(path, "not a regular file");
  if (st.st_size == 0) throw DataError(path, "empty file (0 bytes)");
  if (st.st_size > max_bytes)
    throw DataError(path, "file is " + std::to_string(st.st_size) + " bytes, over the limit of " +
                              std::to_string(max_bytes));

  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(file.fd, bytes.data() + got, bytes.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw DataError(path, "read error: " + errno_text(errno));
    }
    if (n == 0) throw DataError(path, "file shrank while being read");
    got += static_cast<size_t>(n);
  }
  return bytes;
}

}  // namespace hsanet::data
