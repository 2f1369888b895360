// png.cpp — image grids and PNG encoding (mapping and layout in png.h). The PNG encoder is
// stb_image_write; it encodes into memory so that the file itself is written atomically by
// io/atomic_file.h, with real error reporting.
#include "io/png.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "io/atomic_file.h"

// The one place stb_image_write's implementation is compiled. STATIC keeps its symbols private to
// this file, so no other translation unit (or library) that also embeds stb can clash with it;
// the rest of the engine writes PNGs through write_png_rgb. Its code is not ours to make -Wextra
// clean, and unused static functions (the BMP/TGA/JPEG writers) are expected.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace nn::io {
namespace {

// stb calls this with each piece of the encoded PNG.
void append_to_vector(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  const auto* bytes = static_cast<const uint8_t*>(data);
  out->insert(out->end(), bytes, bytes + size);
}

}  // namespace

uint8_t image_value_to_byte(float x) {
  if (std::isnan(x)) return 0;
  const float c = std::min(std::max(x, -1.0f), 1.0f);
  const float u = (c + 1.0f) / 2.0f;
  const float v = u * 255.0f + 0.5f;  // two roundings, as torch's mul then add_ (no FMA: -ffp-contract=off)
  return static_cast<uint8_t>(std::min(std::max(v, 0.0f), 255.0f));
}

RgbImage make_image_grid(const Tensor& images, int64_t nrow, int padding) {
  NN_CHECK(images.defined(), "image grid: undefined tensor");
  NN_CHECK(images.dim() == 4, "image grid: images must be (N, C, H, W), got ", shape_str(images.shape()));
  NN_CHECK(is_floating(images.dtype()), "image grid: images must be float32 or float64, got ",
           dtype_name(images.dtype()));
  const int64_t n = images.size(0), channels = images.size(1), h = images.size(2), w = images.size(3);
  NN_CHECK(channels == 1 || channels == 3, "image grid: images must have 1 or 3 channels, got ",
           shape_str(images.shape()));
  NN_CHECK(n > 0 && h > 0 && w > 0, "image grid: no pixels to draw in ", shape_str(images.shape()));
  NN_CHECK(nrow > 0, "image grid: nrow must be positive, got ", nrow);
  NN_CHECK(padding >= 0, "image grid: padding must be non-negative, got ", padding);

  // make_grid returns a single image as it is, without the padding.
  const int64_t pad = n == 1 ? 0 : padding;
  const int64_t columns = std::min(nrow, n);
  const int64_t rows = (n + columns - 1) / columns;
  const int64_t cell_h = h + pad, cell_w = w + pad;
  const int64_t grid_h = rows * cell_h + pad, grid_w = columns * cell_w + pad;
  // stb_image_write addresses pixels with int, so the whole image must fit in an int of bytes.
  constexpr int64_t kMaxBytes = std::numeric_limits<int>::max();
  NN_CHECK(grid_w <= kMaxBytes / 3 && grid_h <= kMaxBytes / (3 * grid_w), "image grid: a ", grid_w, "x", grid_h,
           " grid is too large for one PNG");

  const Tensor host = images.to(Device::CPU).to(DType::F32);
  const float* src = host.data<float>();
  RgbImage grid;
  grid.width = static_cast<int>(grid_w);
  grid.height = static_cast<int>(grid_h);
  grid.pixels.assign(static_cast<size_t>(grid_w * grid_h * 3), 0);  // the black padding
  for (int64_t k = 0; k < n; ++k) {
    const int64_t top = (k / columns) * cell_h + pad, left = (k % columns) * cell_w + pad;
    for (int64_t c = 0; c < 3; ++c) {
      const float* plane = src + (k * channels + (channels == 1 ? 0 : c)) * h * w;  // grey repeats plane 0
      for (int64_t y = 0; y < h; ++y) {
        uint8_t* out = grid.pixels.data() + ((top + y) * grid_w + left) * 3 + c;
        for (int64_t x = 0; x < w; ++x) out[x * 3] = image_value_to_byte(plane[y * w + x]);
      }
    }
  }
  return grid;
}

void write_image_grid_png(const std::string& path, const Tensor& images, int64_t nrow, int padding) {
  RgbImage grid;
  try {
    grid = make_image_grid(images, nrow, padding);
  } catch (const Error& e) {
    throw_error(str_cat("cannot write image ", path, ": ", e.what()));
  }
  write_png_rgb(path, grid.width, grid.height, grid.pixels);
}

void write_png_rgb(const std::string& path, int width, int height, const std::vector<uint8_t>& rgb) {
  const std::string cannot = str_cat("cannot write image ", path, ": ");
  NN_CHECK(width > 0 && height > 0, cannot, "size ", width, "x", height, " has no pixels");
  NN_CHECK(width <= std::numeric_limits<int>::max() / 3, cannot, "width ", width, " is too large");
  NN_CHECK(rgb.size() == static_cast<size_t>(width) * static_cast<size_t>(height) * 3, cannot, "expected ", width, "x",
           height, "x3 = ", static_cast<size_t>(width) * static_cast<size_t>(height) * 3, " bytes, got ", rgb.size());
  std::vector<uint8_t> encoded;
  const int ok = stbi_write_png_to_func(append_to_vector, &encoded, width, height, 3, rgb.data(), width * 3);
  NN_CHECK(ok != 0 && !encoded.empty(), cannot, "PNG encoding failed (out of memory?)");
  write_file_atomically(path, {{encoded.data(), encoded.size()}}, "image");
}

}  // namespace nn::io
