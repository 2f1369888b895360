// fuzz_image_folder.cpp — libFuzzer harness of the PNG folder reader behind gan_eval --images
// (io/image_folder.h, decoding with stb_image).
//
// Property: on any bytes as a folder's one .png file, read_png_folder either returns a
// (1, 3, 32, 32) uint8 batch or throws nn::Error (not a PNG, wrong size, wrong channels); anything
// else is a finding.
//
// Seeds: fuzz/corpus/image_folder (32x32 RGB, RGBA and grey PNGs, and an 8x8 one).
#include <cstdint>
#include <cstdlib>

#include "fuzz_util.h"
#include "io/image_folder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = nn::fuzz::scratch_dir();
  nn::fuzz::write_input(dir + "/image.png", data, size);
  try {
    const nn::Tensor images = nn::io::read_png_folder(dir, 32, 32);
    if (images.shape() != nn::Shape({1, 3, 32, 32}) || images.dtype() != nn::DType::U8) std::abort();
  } catch (const nn::Error&) {
  }
  return 0;
}
