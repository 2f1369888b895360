// fuzz_safetensors.cpp — libFuzzer harness of the checkpoint reader (io/safetensors.h).
//
// Property: on any bytes, load_safetensors either returns a file or throws nn::Error, within
// memory bounded by the input's size; any other exception, crash, sanitizer report, leak or
// hang is a finding. A loaded file must also be internally sound (every name found by get).
//
// Seeds: fuzz/corpus/safetensors, written by this harness itself from the engine's writer (so they
// carry checksums): NN_FUZZ_WRITE_SEEDS=DIR ./fuzz_safetensors writes them into DIR and exits.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz_util.h"
#include "io/safetensors.h"

namespace {

void write_seeds(const std::string& dir) {
  using nn::DType;
  using nn::Tensor;
  nn::io::save_safetensors(dir + "/every_dtype.safetensors",
                           {{"f32", Tensor::from_vector({2, 2}, {1, -2, 0.5, 3})},
                            {"f64", Tensor::from_vector({2}, {1e300, -0.0}, DType::F64)},
                            {"u8", Tensor::from_vector({3}, {1, 2, 255}, DType::U8)},
                            {"i32", Tensor::from_vector({1}, {-7}, DType::I32)},
                            {"i64", Tensor::from_vector({}, {42}, DType::I64)},
                            {"empty", Tensor::zeros({0, 3})}},
                           {{"step", "12"}, {"config", "{\"lr\": 2e-4}"}});
  nn::io::save_safetensors(dir + "/checkpoint_like.safetensors",
                           {{"generator.main.0.weight", Tensor::from_vector({2, 1, 1, 1}, {0.25, -0.5})},
                            {"generator.main.1.num_batches_tracked", Tensor::from_vector({}, {3}, DType::I64)},
                            {"optimizer_g.main.0.weight.exp_avg", Tensor::zeros({2, 1, 1, 1})}},
                           {{"format", "gan_train-checkpoint-1"}, {"step", "3"}, {"adam_g_step", "3"}});
  nn::io::save_safetensors(dir + "/no_tensors.safetensors", {});
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("NN_FUZZ_WRITE_SEEDS")) {
    write_seeds(dir);
    std::printf("seeds written to %s\n", dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = nn::fuzz::scratch_dir() + "/input.safetensors";
  nn::fuzz::write_input(path, data, size);
  try {
    const nn::io::SafetensorsFile file = nn::io::load_safetensors(path);
    for (const auto& [name, tensor] : file.tensors)
      if (&file.get(name) == nullptr || !tensor.defined()) std::abort();
  } catch (const nn::Error&) {
    // The reader's one way to say no.
  }
  return 0;
}
