// atomic_file.cpp — temp file, fsync, rename (see atomic_file.h).
#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nn/check.h"

namespace nn::io {
namespace {

std::string parent_directory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// write() may write less than asked (signals, pipes, quotas): loop until done or a real error.
bool write_all(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {  // no progress and no error code: treat as a full disk rather than spin
      errno = ENOSPC;
      return false;
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Without this the rename may be lost in a power cut even though the data was synced; some file
// systems refuse fsync on a directory, which is harmless, so errors are ignored.
void sync_directory_best_effort(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_file_atomically(const std::string& path, const std::vector<ByteSpan>& pieces, const std::string& what) {
  NN_CHECK(!path.empty(), "cannot write ", what, ": empty path");
  const std::string tmp = path + ".tmp";
  auto fail = [&](int err, int fd) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw_error(str_cat("cannot write ", what, " ", path, ": ", std::strerror(err)));
  };

  // A leftover temporary file (from a run killed mid-write) is removed first, and the new one is
  // created exclusively: whatever was there (a FIFO, which an open for writing would wait on; a
  // symbolic link, which it would follow) is never written through.
  ::unlink(tmp.c_str());  // best effort: the exclusive open below reports whatever is in the way
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    // open() failed, so no temporary file of ours exists and there is nothing to remove.
    const int err = errno;
    throw_error(str_cat("cannot write ", what, " ", path, ": ", std::strerror(err),
                        err == EEXIST ? str_cat(" (", tmp, " is in the way and is not a file)") : std::string()));
  }
  for (const ByteSpan& piece : pieces) {
    if (piece.size > 0 && !write_all(fd, piece.data, piece.size)) fail(errno, fd);
  }
  if (::fsync(fd) != 0) fail(errno, fd);
  // close() can report a deferred write error (NFS, quotas); after it the fd is gone either way.
  if (::close(fd) != 0) fail(errno, -1);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail(errno, -1);
  sync_directory_best_effort(parent_directory(path));
}

}  // namespace nn::io
