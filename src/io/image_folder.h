// image_folder.h — a folder of PNG files read as one uint8 image batch (gan_eval --images).
//
// Every regular file in `dir` whose name ends in .png (any case) is read, in byte order of the
// file names (so "img_00001.png" < "img_00002.png"; a stable, locale-free order), decoded by
// stb_image (libstb-dev) to 8-bit RGB, and stored as uint8 (N, 3, H, W): the R, G, B planes of
// each image, rows top to bottom, the layout of the CIFAR-100 reader's tensor (data/cifar100.h).
// 16-bit PNGs are reduced to 8 bits by stb_image (v >> 8).
//
// Before decoding, each file's bytes are checked (at most 4 MiB; the PNG signature; every chunk's
// length within the file; at most 64 KiB of compressed image data; the header's size equal to the
// one asked for), so no file makes the decoder allocate by a lying length field, inflate more than
// ~64 MiB, or decode an image of the wrong size.
//
// Errors (nn::Error, one line naming the folder or file):
//   "image folder <dir> not found" / "is not a folder" / "has no .png files"
//   "cannot read image <file>: <stb_image's reason>" / ": not a PNG file (no PNG signature)"
//   "image <file> is corrupt: chunk 'IDAT' claims N bytes, more than the file holds" (and the like)
//   "image <file> is WxH, expected 32x32 (...)"
//   "image <file> has K channels (grey|grey+alpha|RGBA), expected RGB"
// Tests: tests/test_inception.cpp (ImageFolder.*).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nn/tensor.h"

namespace nn::io {

// The .png files of `dir` in the order read_png_folder reads them (full paths).
std::vector<std::string> list_png_files(const std::string& dir);

// uint8 (N, 3, height, width) on the CPU; `limit` > 0 reads only the first `limit` files.
Tensor read_png_folder(const std::string& dir, int64_t width, int64_t height, int64_t limit = 0);

}  // namespace nn::io
