// fuzz_util.h — what the libFuzzer harnesses share: a scratch folder of their own, and writing the
// input there as a file (the readers under test take paths, as the tools do).
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

namespace nn::fuzz {

// A fresh folder under $TMPDIR (or /tmp) for this process, made on first use and reused for every
// input (rewriting one file is cheaper than making a folder per input). Removed by tools/fuzz.sh.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/nn_fuzz_XXXXXX";
    if (!::mkdtemp(pattern.data())) std::abort();
    return pattern;
  }();
  return dir;
}

inline void write_input(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) std::abort();  // the scratch folder itself failed: not a finding of the reader
}

}  // namespace nn::fuzz
