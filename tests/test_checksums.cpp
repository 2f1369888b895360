// Checksummed checkpoints (io/checksum.h, io/safetensors.h "Checksums"): XXH64 gives the
// specification's values, every file written carries one checksum per tensor and one over the
// canonical header, and damage anywhere in a file (every single-bit flip of a small one) is refused
// with an error naming the damaged part. Files without checksums still load, marked unverified.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>

#include "io/checksum.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace nn::test {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes read_all(const std::string& path) { return read_file_bytes(path); }
void write_all(const std::string& path, const Bytes& bytes) { write_file_bytes(path, bytes); }

uint64_t header_length(const Bytes& file) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{file[i]} << (8 * i);
  return n;
}

nlohmann::json header_of(const Bytes& file) {
  return nlohmann::json::parse(file.begin() + 8, file.begin() + 8 + static_cast<long>(header_length(file)));
}

// A safetensors file from its parts, as the format lays it out: the header's length, the header, the data.
Bytes file_of(const std::string& header, const Bytes& data) {
  Bytes out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(uint64_t{header.size()} >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(Checksum, Xxh64GivesTheSpecificationsValues) {
  // xxHash's documented test values (seed 0).
  EXPECT_EQ(io::xxh64("", 0), 0xef46db3751d8e999ull);
  EXPECT_EQ(io::xxh64("abc", 3), 0x44bc2cf5ad770999ull);
  EXPECT_EQ(io::checksum_hex(0xef46db3751d8e999ull), "ef46db3751d8e999");
  EXPECT_EQ(io::checksum_hex(0x1), "0000000000000001");
  uint64_t v = 0;
  EXPECT_TRUE(io::parse_checksum_hex("44bc2cf5ad770999", &v));
  EXPECT_EQ(v, 0x44bc2cf5ad770999ull);
  EXPECT_FALSE(io::parse_checksum_hex("44BC2CF5AD770999", &v)) << "upper case is not the form written";
  EXPECT_FALSE(io::parse_checksum_hex("44bc2cf5ad77099", &v)) << "15 digits";
  EXPECT_FALSE(io::parse_checksum_hex("44bc2cf5ad77099g", &v));
}

// The entries' values, recomputed here from the specification in safetensors.h.
TEST(Checksum, EveryWrittenFileCarriesTensorAndHeaderChecksums) {
  TempDir dir;
  const std::string path = dir / "sums.safetensors";
  const Tensor w = Tensor::from_vector({2}, {1.0, -2.0}, DType::F32);
  const Tensor n = Tensor::from_vector({}, {7}, DType::I64);
  io::save_safetensors(path, {{"w", w}, {"n", n}}, {{"step", "3"}});
  const nlohmann::json meta = header_of(read_all(path))["__metadata__"];
  ASSERT_TRUE(meta.is_object());
  EXPECT_EQ(meta["nn.checksum.algorithm"], "xxh64");

  // XXH64 of each tensor's little-endian bytes: 1.0f, -2.0f and the int64 7.
  const Bytes w_le = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0};
  const Bytes n_le = {7, 0, 0, 0, 0, 0, 0, 0};
  const std::string w_sum = io::checksum_hex(io::xxh64(w_le.data(), w_le.size()));
  const std::string n_sum = io::checksum_hex(io::xxh64(n_le.data(), n_le.size()));
  const std::string tensors_entry = R"({"n":")" + n_sum + R"(","w":")" + w_sum + R"("})";
  EXPECT_EQ(meta["nn.checksum.tensors"], tensors_entry);

  // The canonical header, written out by hand: sorted keys, compact, the header checksum left out.
  const std::string escaped_tensors = R"({\"n\":\")" + n_sum + R"(\",\"w\":\")" + w_sum + R"(\"})";
  const std::string canonical = R"({"metadata":{"nn.checksum.algorithm":"xxh64","nn.checksum.tensors":")" +
                                escaped_tensors + R"(","step":"3"},"tensors":{"n":{"dtype":"I64","shape":[]},)" +
                                R"("w":{"dtype":"F32","shape":[2]}}})";
  EXPECT_EQ(meta["nn.checksum.header"], io::checksum_hex(io::xxh64(canonical.data(), canonical.size())));

  const io::SafetensorsFile f = io::load_safetensors(path);
  EXPECT_TRUE(f.verified);
  EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"step", "3"}}));
}

// A small file with a bit of everything: every single-bit flip anywhere in it (length, JSON,
// padding, data) must be refused, and never with anything but a one-line nn::Error.
TEST(Checksum, EverySingleBitFlipOfASmallFileIsRefused) {
  TempDir dir;
  const std::string good_path = dir / "good.safetensors", path = dir / "flipped.safetensors";
  io::save_safetensors(good_path,
                       {{"a", Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6})},
                        {"b", Tensor::from_vector({2}, {1, 2}, DType::I64)},
                        {"c", Tensor::from_vector({3}, {7, 8, 9}, DType::U8)},
                        {"s", Tensor::full({}, 1.0, DType::F64)}},
                       {{"step", "12"}, {"config", "{\"lr\": 2e-4}"}});
  const Bytes good = read_all(good_path);
  int accepted = 0, tested = 0;
  std::string first_accepted;
  for (size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes bytes = good;
      bytes[byte] ^= static_cast<uint8_t>(1u << bit);
      write_all(path, bytes);
      ++tested;
      try {
        io::load_safetensors(path);
        if (accepted++ == 0) first_accepted = str_cat("byte ", byte, " bit ", bit);
      } catch (const Error& e) {
        EXPECT_FALSE(has(e.what(), "\n")) << e.what();
        EXPECT_TRUE(has(e.what(), path)) << e.what();
      }
    }
  }
  EXPECT_EQ(tested, static_cast<int>(good.size() * 8));
  EXPECT_EQ(accepted, 0) << "silently accepted damage, first at " << first_accepted;
}

TEST(Checksum, DamagedDataNamesTheTensorAndDamagedMetadataTheHeader) {
  TempDir dir;
  const std::string path = dir / "damaged.safetensors";
  io::save_safetensors(path, {{"first", Tensor::zeros({4})}, {"second", Tensor::ones({4})}}, {{"step", "100"}});
  const Bytes good = read_all(path);
  const uint64_t data_start = 8 + header_length(good);

  Bytes bytes = good;
  bytes[data_start + 16 + 5] ^= 0x10;  // inside "second" (float32 tensors in save order: bytes 16..31)
  write_all(path, bytes);
  expect_error_containing([&] { io::load_safetensors(path); },
                          {path, "is corrupt", "tensor 'second' fails its checksum", "its data is damaged"});

  // "step":"100" -> "step":"900": well-formed, but not what was written.
  bytes = good;
  const std::string text(bytes.begin(), bytes.end());
  const size_t at = text.find("\"step\":\"100\"");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 8] = '9';
  write_all(path, bytes);
  expect_error_containing([&] { io::load_safetensors(path); }, {path, "header fails its checksum", "metadata"});
}

TEST(Checksum, FilesWithoutChecksumsLoadUnverifiedAndPartialOnesAreCorrupt) {
  TempDir dir;
  const std::string path = dir / "plain.safetensors";
  // As PyTorch's safetensors writes it: no checksum entries.
  write_all(path, file_of(R"({"__metadata__":{"format":"pt"},"x":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})",
                          {1, 2}));
  const io::SafetensorsFile f = io::load_safetensors(path);
  EXPECT_FALSE(f.verified);
  EXPECT_EQ(f.get("x").numel(), 2);
  const std::string note = io::unverified_note(f);
  EXPECT_TRUE(has(note, path) && has(note, "no checksums") && has(note, "unverified")) << note;

  // One checksum entry of three: damage (or a careless editor), not an old file.
  write_all(path, file_of(R"({"__metadata__":{"nn.checksum.algorithm":"xxh64"},"x":{"dtype":"U8","shape":[2],)"
                          R"("data_offsets":[0,2]}})",
                          {1, 2}));
  expect_error_containing([&] { io::load_safetensors(path); }, {path, "1 of the 3 checksum entries"});

  // Callers cannot write the reserved entries themselves.
  expect_error_containing([&] { io::save_safetensors(path, {{"x", Tensor::zeros({1})}}, {{"nn.checksum.header", "0"}}); },
                          {"reserved for the checksums"});
}

// A file re-saved by another writer, with the tensors in another order (other data_offsets) and
// the metadata copied, still verifies: the header checksum does not cover the offsets.
TEST(Checksum, AnotherWritersTensorOrderStillVerifies) {
  TempDir dir;
  const std::string ours = dir / "ours.safetensors", theirs = dir / "theirs.safetensors";
  io::save_safetensors(ours, {{"a", Tensor::from_vector({2}, {1, 2})}, {"b", Tensor::from_vector({1}, {3})}});
  const Bytes file = read_all(ours);
  nlohmann::ordered_json h = nlohmann::ordered_json::parse(file.begin() + 8, file.begin() + 8 + static_cast<long>(header_length(file)));
  const Bytes data(file.begin() + 8 + static_cast<long>(header_length(file)), file.end());
  // b first, then a.
  nlohmann::ordered_json swapped;
  swapped["__metadata__"] = h["__metadata__"];
  swapped["b"] = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4}}};
  swapped["a"] = {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {4, 12}}};
  Bytes reordered(data.begin() + 8, data.begin() + 12);                     // b
  reordered.insert(reordered.end(), data.begin(), data.begin() + 8);         // then a
  write_all(theirs, file_of(swapped.dump(), reordered));
  const io::SafetensorsFile f = io::load_safetensors(theirs);
  EXPECT_TRUE(f.verified);
  EXPECT_EQ(f.get("a").to_vector(), (std::vector<double>{1, 2}));
  EXPECT_EQ(f.get("b").to_vector(), (std::vector<double>{3}));
}

}  // namespace
}  // namespace nn::test
