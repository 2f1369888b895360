// rng.h — the engine's random state: a seed and a counter for the shared Philox generator
// (kernels/rng_math.h). Every random fill or dropout mask takes a slice of counters and
// advances the offset, so a run is reproducible from (seed, offset), which checkpoints save.
#pragma once
#include <cstdint>

namespace nn {

struct Generator {
  uint64_t seed = 0;
  uint64_t offset = 0;  // next unused Philox counter

  explicit Generator(uint64_t seed_ = 0, uint64_t offset_ = 0) : seed(seed_), offset(offset_) {}

  // Reserves the counters for n random elements and returns the first one.
  uint64_t take(uint64_t n) {
    uint64_t start = offset;
    offset += (n + 3) / 4;
    return start;
  }
};

}  // namespace nn
