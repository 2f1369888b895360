// image_folder.cpp — PNG folders as uint8 image batches (see image_folder.h).
#include "io/image_folder.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <memory>

// The one place stb_image's decoder is compiled, PNG only. STATIC keeps its symbols private to
// this file (as png.cpp does for stb_image_write), so nothing else that embeds stb can clash.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace nn::io {

namespace fs = std::filesystem;

namespace {

bool has_png_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png";
}

const char* channel_words(int channels) {
  switch (channels) {
    case 1: return "grey";
    case 2: return "grey+alpha";
    case 4: return "RGBA";
    default: return "unusual";
  }
}

}  // namespace

std::vector<std::string> list_png_files(const std::string& dir) {
  std::error_code ec;
  NN_CHECK(fs::exists(dir, ec), "image folder ", dir, " not found");
  NN_CHECK(fs::is_directory(dir, ec), "image folder ", dir, " is not a folder");
  std::vector<std::string> files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && has_png_extension(e.path())) files.push_back(e.path().string());
  NN_CHECK(!ec, "cannot list image folder ", dir, ": ", ec.message());
  std::sort(files.begin(), files.end());  // byte order of the names: stable and locale-free
  NN_CHECK(!files.empty(), "image folder ", dir, " has no .png files");
  return files;
}

Tensor read_png_folder(const std::string& dir, int64_t width, int64_t height, int64_t limit) {
  std::vector<std::string> files = list_png_files(dir);
  if (limit > 0 && static_cast<int64_t>(files.size()) > limit) files.resize(static_cast<size_t>(limit));
  const int64_t n = static_cast<int64_t>(files.size());
  const int64_t plane = width * height;
  Tensor out = Tensor::empty({n, 3, height, width}, DType::U8);
  uint8_t* dst = out.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    const std::string& file = files[static_cast<size_t>(i)];
    int w = 0, h = 0, channels = 0;
    // Ask for 3 channels; `channels` still reports what the file has, checked below.
    stbi_uc* pixels = stbi_load(file.c_str(), &w, &h, &channels, 3);
    NN_CHECK(pixels != nullptr, "cannot read image ", file, ": ", stbi_failure_reason());
    // Free the pixels whatever the checks below decide.
    std::unique_ptr<stbi_uc, void (*)(void*)> guard(pixels, stbi_image_free);
    NN_CHECK(w == width && h == height, "image ", file, " is ", w, "x", h, ", expected ", width, "x", height,
             " (CIFAR-sized images: resize them to ", width, "x", height, " first)");
    NN_CHECK(channels == 3, "image ", file, " has ", channels, " channels (", channel_words(channels),
             "), expected RGB");
    // Interleaved RGB rows -> three planes.
    uint8_t* img = dst + i * 3 * plane;
    for (int64_t p = 0; p < plane; ++p)
      for (int64_t c = 0; c < 3; ++c) img[c * plane + p] = pixels[p * 3 + c];
  }
  return out;
}

}  // namespace nn::io
