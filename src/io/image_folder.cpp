// image_folder.cpp — PNG folders as uint8 image batches (see image_folder.h).
#include "io/image_folder.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <cerrno>
#include <filesystem>
#include <fstream>
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

// A PNG file is a signature and chunks of (length, type, data, CRC); IHDR comes first with the
// width and height. Checked here, on the file's bytes, before stb_image sees them: a damaged or
// hostile file whose length field claims hundreds of megabytes (stb_image would allocate them),
// or whose header declares a huge image (which it would decode), is refused at once, with what
// is wrong. The decoder then only ever runs on a structurally sound 32x32 file.
// A 32x32 image is at most 32 rows of 1 + 32 x 8 bytes (RGBA, 16 bits) once inflated, and its
// compressed data not much more: these caps are far above any real one, and bound what a
// decompression bomb (deflate expands up to ~1000:1) can make the decoder allocate to ~64 MiB.
constexpr size_t kMaxPngBytes = 4 << 20;
constexpr size_t kMaxImageDataBytes = 64 << 10;  // all IDAT chunks together

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::vector<uint8_t> read_checked_png(const std::string& file, int64_t width, int64_t height) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  NN_CHECK(!ec, "cannot read image ", file, ": ", ec.message());
  NN_CHECK(size <= kMaxPngBytes, "image ", file, " is ", size, " bytes, more than a ", width, "x", height,
           " PNG needs (at most ", kMaxPngBytes, " read)");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  std::ifstream in(file, std::ios::binary);
  NN_CHECK(in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())),
           "cannot read image ", file, ": ", std::strerror(errno));
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  NN_CHECK(bytes.size() >= 8 && std::memcmp(bytes.data(), kSignature, 8) == 0, "cannot read image ", file,
           ": not a PNG file (no PNG signature)");
  size_t at = 8, image_data = 0;
  bool first = true;
  while (at < bytes.size()) {
    NN_CHECK(bytes.size() - at >= 12, "image ", file, " is corrupt: a truncated chunk at byte ", at);
    const uint32_t length = big_endian_u32(&bytes[at]);
    const std::string type(reinterpret_cast<const char*>(&bytes[at + 4]), 4);
    NN_CHECK(length <= bytes.size() - at - 12, "image ", file, " is corrupt: chunk '",
             std::string(std::all_of(type.begin(), type.end(), [](unsigned char c) { return std::isalpha(c) != 0; })
                             ? type
                             : "????"),
             "' claims ", length, " bytes, more than the file holds");
    if (type == "IDAT") {
      image_data += length;
      NN_CHECK(image_data <= kMaxImageDataBytes, "image ", file, " has more than ", kMaxImageDataBytes,
               " bytes of compressed image data, far more than a ", width, "x", height, " image needs");
    }
    if (first) {
      NN_CHECK(type == "IHDR" && length == 13, "image ", file, " is corrupt: it does not start with a PNG header");
      const uint32_t w = big_endian_u32(&bytes[at + 8]), h = big_endian_u32(&bytes[at + 12]);
      NN_CHECK(w == width && h == height, "image ", file, " is ", w, "x", h, ", expected ", width, "x", height,
               " (CIFAR-sized images: resize them to ", width, "x", height, " first)");
      first = false;
    }
    at += 12 + length;
    if (type == "IEND") break;
  }
  NN_CHECK(!first, "image ", file, " is corrupt: no PNG header");
  return bytes;
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
    const std::vector<uint8_t> bytes = read_checked_png(file, width, height);
    // Ask for 3 channels; `channels` still reports what the file has, checked below.
    stbi_uc* pixels = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &channels, 3);
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
