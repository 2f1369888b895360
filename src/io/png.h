// png.h — PNG files: a grid of generated images (like torchvision.utils.save_image) and raw RGB.
//
// The grid follows torchvision.utils.make_grid(images, nrow, padding, pad_value=0) and the pixel
// values follow save_image(..., normalize=True, value_range=(-1, 1)), so a grid written here is
// byte-for-byte what a PyTorch DCGAN script would save for the same tensor:
//
//   * columns = min(nrow, N), rows = ceil(N / columns); image k sits in row k / columns, column
//     k % columns; the grid is rows * (H + padding) + padding pixels high and
//     columns * (W + padding) + padding wide, and the pixels between and around the images are
//     black (0, 0, 0). A batch of one image (N == 1) is written as the image alone, without
//     padding, as make_grid does.
//   * a value x becomes the byte (all in float32, in this order, as torchvision computes it)
//         c = clamp(x, -1, 1);  u = (c + 1) / 2;  v = u * 255 + 0.5;  byte = trunc(clamp(v, 0, 255))
//     i.e. (x + 1) * 127.5 rounded half up: -1 -> 0, 0 -> 128, 1 -> 255. NaN becomes 0.
//   * images are (N, 3, H, W) or (N, 1, H, W) (grey, repeated into R, G and B), float32 or
//     float64, on any device.
//
// Files are written atomically (io/atomic_file.h); errors are nn::Error
// "cannot write image <path>: <reason>". Covered by tests/test_io.cpp (Png.*).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nn/tensor.h"

namespace nn::io {

// An 8-bit RGB image, rows top to bottom, pixels interleaved: pixels[(y * width + x) * 3 + c].
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;
};

// The byte that save_image writes for the value x (the mapping above).
uint8_t image_value_to_byte(float x);

// The grid above as pixels, without writing it (what write_image_grid_png writes).
RgbImage make_image_grid(const Tensor& images, int64_t nrow = 8, int padding = 2);

// images: (N, 3, H, W) or (N, 1, H, W), values in [-1, 1] (others are clamped).
void write_image_grid_png(const std::string& path, const Tensor& images, int64_t nrow = 8, int padding = 2);

// rgb: height rows of width pixels, 3 bytes each (R, G, B), no row padding.
void write_png_rgb(const std::string& path, int width, int height, const std::vector<uint8_t>& rgb);

}  // namespace nn::io
