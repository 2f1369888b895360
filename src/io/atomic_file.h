// atomic_file.h — write a whole file so that a crash or an I/O error never leaves a half-written
// file under its real name (DESIGN.md, "Checkpoints").
//
// The bytes go to `path + ".tmp"` in the same directory (so the rename cannot cross file systems),
// the file is fsync'ed and closed, and only then renamed over `path`; rename() replaces the old
// file in one step, so a reader sees either the whole old file or the whole new one. The directory
// is fsync'ed afterwards, best effort, so the rename itself survives a power cut.
//
// A leftover `path + ".tmp"` (a run killed mid-write) is removed first and the temporary file is
// created exclusively, so a FIFO or a symbolic link left there is never written through.
//
// On any error (directory missing or read-only, a path component that is a regular file, disk
// full, file-size limit) the temporary file is removed, the file under `path` is left exactly as
// it was, and nn::Error is thrown: "cannot write <what> <path>: <strerror>".
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace nn::io {

// One piece of the file's contents; the pieces are written back to back, so a caller can write a
// header and many tensors without first copying them into one buffer.
struct ByteSpan {
  const void* data = nullptr;
  size_t size = 0;
};

// `what` names the kind of file in error messages ("checkpoint", "image").
void write_file_atomically(const std::string& path, const std::vector<ByteSpan>& pieces, const std::string& what);

}  // namespace nn::io
