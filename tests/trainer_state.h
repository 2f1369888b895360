// trainer_state.h — a trainer's whole checkpointed state as plain numbers, for tests that compare
// two runs bit for bit (tests/test_trainer.cpp, test_sngan.cpp, test_fusion.cpp).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "train/trainer.h"

namespace nn::test {

// Every checkpoint tensor (weights, batchnorm statistics and counters, both Adam states) by name.
inline std::map<std::string, std::vector<double>> state_of(const train::Trainer& t) {
  std::map<std::string, std::vector<double>> s;
  for (auto& [name, tensor] : t.checkpoint_tensors()) s[name] = tensor.to_vector();
  return s;
}

}  // namespace nn::test
