// safetensors.h — checkpoints in the safetensors format (https://github.com/huggingface/safetensors),
// so the Python `safetensors` package (and through it PyTorch) reads what this engine writes.
//
// The format:
//
//   bytes [0, 8)        N, the header length, a little-endian unsigned 64-bit integer
//   bytes [8, 8+N)      the header: a UTF-8 JSON object
//                         {"__metadata__": {"key": "value", ...},           (optional, string -> string)
//                          "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//   bytes [8+N, EOF)    the data buffer: every tensor's elements, row-major, little-endian;
//                       `begin`/`end` are byte offsets into this buffer (not into the file)
//
// dtypes read and written here: F32, F64, U8, I32, I64 (nn::DType's five).
//
// What the writer does, following the reference implementation:
//   * the header is compact JSON, "__metadata__" first (left out when the metadata is empty), then
//     the tensors in buffer order, each as {"dtype", "shape", "data_offsets"};
//   * the header is padded with spaces to a multiple of 8 bytes, so the buffer starts 8-aligned;
//   * the buffer holds the tensors with 8-byte elements first, then 4-byte, then 1-byte, each group
//     in the order given (a stable sort), with no gaps: every tensor is then naturally aligned in
//     the file, which PyTorch's zero-copy loading wants, and the buffer is exactly covered;
//   * tensors on CUDA are copied to the CPU first; the file is written atomically
//     (io/atomic_file.h): an error leaves any previous file under `path` intact.
//
// What the reader accepts: any file that follows the format, with these rules checked before a
// byte of tensor data is allocated or read, so a corrupt file can neither crash the reader nor
// make it allocate more than the file's size:
//   * the file is at least 8 bytes; N <= 100,000,000 (the reference's limit) and 8 + N <= file size;
//   * the header is valid UTF-8 JSON, an object, with no duplicate keys at any level;
//   * "__metadata__", when present, is an object of strings (or null, read as no metadata);
//   * every other entry is an object with "dtype" (one of the five), "shape" (an array of
//     non-negative integers) and "data_offsets" (two non-negative integers, begin <= end);
//     other fields are ignored, as the reference does;
//   * numel(shape) * element size == end - begin, computed without overflow;
//   * sorted by offset, the tensors tile the buffer exactly: the first begins at 0, each begins
//     where the previous ends (no overlap, no hole), and the last ends at the end of the file.
// Tensors with zero elements (a 0 in the shape, begin == end) are allowed, as the format allows;
// a 0-dim tensor (shape []) holds one element.
//
// Checksums (io/checksum.h: XXH64, seed 0). Every file written here carries, in __metadata__,
//   "nn.checksum.algorithm"  "xxh64"
//   "nn.checksum.tensors"    a JSON object {"<tensor name>": "<16 hex digits>", ...}: each tensor's
//                            XXH64 over its data bytes as stored in the file
//   "nn.checksum.header"     16 hex digits: XXH64 of the canonical form of the rest of the header,
//                            the compact JSON text, keys sorted, UTF-8 unescaped, of
//                            {"metadata": {every metadata entry but this one},
//                             "tensors": {"<name>": {"dtype": "F32", "shape": [2, 3]}, ...}}
//                            (in Python: json.dumps(obj, sort_keys=True, separators=(",", ":"),
//                            ensure_ascii=False)); data_offsets are left out, so a file re-saved by
//                            another writer in another order still verifies, and damage to them
//                            is found by the tiling rule and the tensor checksums.
// The reader verifies the header's checksum before it reads any data and each tensor's as it reads
// it; the first failure is an error naming what is damaged (the header, or the tensor by name).
// A file with none of the three keys (written by PyTorch or an older gan_train) loads with
// `verified` false, and the caller says so in one line; one with only some of them, or with a
// malformed one, is corrupt. The three keys are not returned in `metadata`, and callers may not
// write them. The header may not contain a NUL byte (JSON has none): a damaged byte there is
// refused as such, whatever the parser would make of it.
//
// Errors are nn::Error with one line naming the file:
//   "checkpoint <path> not found", "cannot read checkpoint <path>: <strerror>",
//   "checkpoint <path> is corrupt: <reason>" (a truncated file is reported as corrupt, with
//   "truncated" in the reason), "cannot write checkpoint <path>: <strerror or reason>".
//
// Covered by tests/test_io.cpp (Safetensors.*).
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nn/tensor.h"

namespace nn::io {

// Writes `tensors` (names unique, not "__metadata__"; any dtype, any device) and `metadata`.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  std::string path;  // the file this was read from, for error messages
  // In buffer order (see above: for files written here, larger elements first, then save order).
  // CPU tensors, each with its own storage.
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> metadata;  // without the nn.checksum.* entries
  // True when the file carried checksums and every one matched; false for a file without them.
  bool verified = false;

  // The tensor called `name`; nn::Error naming the file and the tensor when there is none.
  const Tensor& get(const std::string& name) const;
  bool has(const std::string& name) const;
};

SafetensorsFile load_safetensors(const std::string& path);

// The one line a tool prints when it loads a file without checksums:
// "note: <path> has no checksums (written by PyTorch or an older gan_train): its contents are unverified".
std::string unverified_note(const SafetensorsFile& file);

}  // namespace nn::io
