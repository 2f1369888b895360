// checksum.h — the content checksum of checkpoints: XXH64 (xxHash, 64-bit, seed 0) from Debian's
// libxxhash-dev, used header-only (XXH_INLINE_ALL), so no library is linked.
//
// XXH64 is a fixed, published function (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md):
// the same bytes give the same 64 bits on every machine and in every xxHash release, and Python's
// `xxhash` package (xxhash.xxh64) computes it too. It is not a cryptographic hash: it finds damage
// (bit flips, torn writes, a wrong file), not a forger.
//
// Known values (the specification's): XXH64("") = ef46db3751d8e999, XXH64("abc") = 44bc2cf5ad770999.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace nn::io {

uint64_t xxh64(const void* data, size_t size);

// 16 lowercase hexadecimal digits, most significant first (how xxhash's hexdigest() prints it).
std::string checksum_hex(uint64_t value);

// The inverse of checksum_hex; false unless `text` is exactly 16 lowercase hexadecimal digits.
bool parse_checksum_hex(const std::string& text, uint64_t* value);

}  // namespace nn::io
