// checksum.cpp — XXH64 and its hexadecimal form (see checksum.h).
#include "io/checksum.h"

#define XXH_INLINE_ALL  // the header carries the implementation: nothing to link
#include <xxhash.h>

namespace nn::io {

uint64_t xxh64(const void* data, size_t size) { return XXH64(data, size, /*seed=*/0); }

std::string checksum_hex(uint64_t value) {
  static const char kDigits[] = "0123456789abcdef";
  std::string text(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4) text[static_cast<size_t>(i)] = kDigits[value & 0xf];
  return text;
}

bool parse_checksum_hex(const std::string& text, uint64_t* value) {
  if (text.size() != 16) return false;
  uint64_t v = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    else return false;
    v = v << 4 | static_cast<uint64_t>(digit);
  }
  *value = v;
  return true;
}

}  // namespace nn::io
