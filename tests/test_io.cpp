// Tests for src/io: safetensors checkpoints (round trips, the bytes on disk, a hand-made file,
// every kind of corruption, fuzzing, atomic writes), PNG image grids and the loss plot.
//
// The interop checks here need no Python: the format is checked byte by byte with an independent
// JSON parse, and a file built by hand from the specification must load.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "io/plot.h"
#include "io/png.h"
#include "io/safetensors.h"
#include "test_util.h"

// stb_image decodes the PNGs written here. STATIC keeps it private to this file.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace nn::test {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;
using io::load_safetensors;
using io::save_safetensors;

Bytes read_bytes(const std::string& path) { return read_file_bytes(path); }
void write_bytes(const std::string& path, const Bytes& bytes) { write_file_bytes(path, bytes); }

void append_u64_le(Bytes& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A safetensors file from its parts, exactly as the specification lays it out.
Bytes make_file(const std::string& header, const Bytes& data) {
  Bytes out;
  append_u64_le(out, header.size());
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes tensor_bytes(const Tensor& t) {
  const auto* p = static_cast<const uint8_t*>(t.raw());
  return Bytes(p, p + t.nbytes());
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ================================================================== safetensors

// One tensor of each dtype with values that lose information if anything is converted on the way:
// a NaN payload, -0, denormals, the integer limits, int64 values beyond double's 53 bits.
std::vector<std::pair<std::string, Tensor>> every_dtype_tensors() {
  Tensor f32 = Tensor::from_vector({2, 3}, {1.0, -2.5, 3.25e-3, 0.0, 1e30, -7.0}, DType::F32);
  f32.data<float>()[3] = -0.0f;
  Tensor f64 = Tensor::from_vector({4}, {1.0 / 3.0, -0.0, 4.9e-324, 1.7976931348623157e308}, DType::F64);
  Tensor nan = Tensor::from_vector({1}, {0.0}, DType::F32);
  const uint32_t nan_bits = 0x7fc01234u;  // a quiet NaN with a payload: must survive bit for bit
  std::memcpy(nan.data<float>(), &nan_bits, 4);
  Tensor u8 = Tensor::from_vector({5}, {0, 1, 127, 128, 255}, DType::U8);
  Tensor i32 = Tensor::empty({2, 2}, DType::I32);
  const int32_t i32_values[] = {std::numeric_limits<int32_t>::min(), -1, 0, std::numeric_limits<int32_t>::max()};
  std::memcpy(i32.data<int32_t>(), i32_values, sizeof(i32_values));
  Tensor i64 = Tensor::empty({3}, DType::I64);
  const int64_t i64_values[] = {std::numeric_limits<int64_t>::min(), (int64_t{1} << 62) + 1,
                                std::numeric_limits<int64_t>::max()};
  std::memcpy(i64.data<int64_t>(), i64_values, sizeof(i64_values));
  return {
      {"generator.main.0.weight", f32},
      {"f64", f64},
      {"nan", nan},
      {"u8", u8},
      {"i32", i32},
      {"step", i64},
      {"scalar", Tensor::full({}, 42.0, DType::F32)},  // 0-dim: one element
      {"empty", Tensor::zeros({0, 3}, DType::F32)},    // zero elements: allowed, begin == end
      {"empty_i64", Tensor::zeros({0}, DType::I64)},
  };
}

void expect_same_tensors(const std::vector<std::pair<std::string, Tensor>>& expected, const io::SafetensorsFile& got) {
  ASSERT_EQ(got.tensors.size(), expected.size());
  for (const auto& [name, want] : expected) {
    ASSERT_TRUE(got.has(name)) << name;
    const Tensor& t = got.get(name);
    EXPECT_EQ(t.dtype(), want.dtype()) << name;
    EXPECT_EQ(t.shape(), want.shape()) << name;
    EXPECT_EQ(t.device(), Device::CPU) << name;
    EXPECT_EQ(tensor_bytes(t), tensor_bytes(want)) << name << ": bytes differ";
  }
}

TEST(Safetensors, RoundTripsEveryDtypeZeroDimEmptyTensorsAndMetadata) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  const auto tensors = every_dtype_tensors();
  const std::map<std::string, std::string> metadata = {
      {"config", R"({"preset": "dcgan", "lr": 0.0002})"},  // JSON inside a string: escaped on the way
      {"step", "1200"},
      {"note", "line one\nline two \"quoted\" \\ tab\t und ümlaut"},
      {"empty", ""},
  };
  save_safetensors(path, tensors, metadata);
  EXPECT_FALSE(fs::exists(path + ".tmp")) << "the temporary file must be renamed away";

  const io::SafetensorsFile file = load_safetensors(path);
  expect_same_tensors(tensors, file);
  EXPECT_EQ(file.metadata, metadata);
  EXPECT_EQ(file.path, path);

  // Buffer order: 8-byte elements first, then 4-byte, then 1-byte, each in save order.
  std::vector<std::string> order;
  for (const auto& entry : file.tensors) order.push_back(entry.first);
  EXPECT_EQ(order, (std::vector<std::string>{"f64", "step", "empty_i64", "generator.main.0.weight", "nan", "i32",
                                             "scalar", "empty", "u8"}));

  // No metadata, no tensors: still a valid file.
  save_safetensors(path, {});
  const io::SafetensorsFile nothing = load_safetensors(path);
  EXPECT_TRUE(nothing.tensors.empty());
  EXPECT_TRUE(nothing.metadata.empty());
}

TEST(Safetensors, WritesTheFormatByteForByte) {
  TempDir dir;
  const std::string path = dir.file("format.safetensors");
  Tensor w = Tensor::from_vector({2, 2}, {1.0, -2.0, 0.5, 3.0}, DType::F32);
  Tensor counter = Tensor::from_vector({}, {7}, DType::I64);
  Tensor bytes = Tensor::from_vector({3}, {1, 2, 3}, DType::U8);
  save_safetensors(path, {{"w", w}, {"bytes", bytes}, {"counter", counter}}, {{"format", "pt"}});

  const Bytes file = read_bytes(path);
  ASSERT_GE(file.size(), 8u);
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= uint64_t{file[i]} << (8 * i);
  ASSERT_LE(8 + header_len, file.size());
  EXPECT_EQ((8 + header_len) % 8, 0u) << "the data buffer must start 8-aligned";
  const std::string header(file.begin() + 8, file.begin() + 8 + static_cast<long>(header_len));
  EXPECT_EQ(header.front(), '{');
  const size_t json_end = header.find_last_not_of(' ');
  EXPECT_EQ(header[json_end], '}');
  EXPECT_LT(header.size() - json_end - 1, 8u) << "padding is spaces, fewer than 8";

  const nlohmann::json j = nlohmann::json::parse(header);  // independent of the reader under test
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), 4u);
  // The caller's metadata, and the three checksum entries (test_checksums.cpp checks their values).
  ASSERT_TRUE(j["__metadata__"].is_object());
  EXPECT_EQ(j["__metadata__"].size(), 4u);
  EXPECT_EQ(j["__metadata__"]["format"], "pt");
  EXPECT_EQ(j["__metadata__"]["nn.checksum.algorithm"], "xxh64");
  EXPECT_TRUE(j["__metadata__"].contains("nn.checksum.tensors"));
  EXPECT_TRUE(j["__metadata__"].contains("nn.checksum.header"));
  EXPECT_EQ(j["w"]["dtype"], "F32");
  EXPECT_EQ(j["w"]["shape"], (nlohmann::json{2, 2}));
  EXPECT_EQ(j["counter"]["dtype"], "I64");
  EXPECT_EQ(j["counter"]["shape"], nlohmann::json::array());
  EXPECT_EQ(j["bytes"]["dtype"], "U8");
  // I64 (8-byte) first, then F32, then U8; contiguous; exactly covering the buffer.
  EXPECT_EQ(j["counter"]["data_offsets"], (nlohmann::json{0, 8}));
  EXPECT_EQ(j["w"]["data_offsets"], (nlohmann::json{8, 24}));
  EXPECT_EQ(j["bytes"]["data_offsets"], (nlohmann::json{24, 27}));
  EXPECT_EQ(file.size(), 8 + header_len + 27);

  const uint8_t* data = file.data() + 8 + header_len;
  const Bytes counter_le = {7, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(Bytes(data, data + 8), counter_le);
  // 1.0f, -2.0f, 0.5f, 3.0f as little-endian IEEE-754 single precision.
  const Bytes w_le = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x40, 0x40};
  EXPECT_EQ(Bytes(data + 8, data + 24), w_le);
  EXPECT_EQ(Bytes(data + 24, data + 27), (Bytes{1, 2, 3}));

  // Without the caller's metadata, "__metadata__" holds the checksums alone.
  save_safetensors(path, {{"w", w}});
  const Bytes plain = read_bytes(path);
  uint64_t plain_len = 0;
  for (int i = 0; i < 8; ++i) plain_len |= uint64_t{plain[i]} << (8 * i);
  const nlohmann::json k = nlohmann::json::parse(plain.begin() + 8, plain.begin() + 8 + static_cast<long>(plain_len));
  EXPECT_EQ(k["__metadata__"].size(), 3u);
  EXPECT_EQ(load_safetensors(path).metadata.size(), 0u) << "the checksum entries are not returned as metadata";
}

TEST(Safetensors, LoadsAFileBuiltByHandFromTheSpecification) {
  TempDir dir;
  const std::string path = dir.file("by_hand.safetensors");
  // Keys deliberately out of buffer order, metadata last, no padding, spaces inside the JSON.
  const std::string header = R"({"b": {"dtype": "I32", "shape": [2], "data_offsets": [8, 16]},)"
                             R"( "a": {"shape": [1, 2], "dtype": "F32", "data_offsets": [0, 8]},)"
                             R"( "z": {"dtype": "F64", "shape": [0], "data_offsets": [16, 16]},)"
                             R"( "c": {"dtype": "U8", "shape": [], "data_offsets": [16, 17]},)"
                             R"( "__metadata__": {"format": "pt"}})";
  const Bytes data = {
      0x00, 0x00, 0xc0, 0x3f,  // a[0] = 1.5f
      0x00, 0x00, 0x00, 0xc0,  // a[1] = -2.0f
      0x07, 0x00, 0x00, 0x00,  // b[0] = 7
      0xff, 0xff, 0xff, 0xff,  // b[1] = -1
      0xc8,                    // c = 200
  };
  write_bytes(path, make_file(header, data));
  const io::SafetensorsFile file = load_safetensors(path);
  ASSERT_EQ(file.tensors.size(), 4u);
  EXPECT_EQ(file.tensors[0].first, "a");  // buffer order
  EXPECT_EQ(file.tensors[1].first, "b");
  EXPECT_EQ(file.get("a").shape(), (Shape{1, 2}));
  EXPECT_EQ(file.get("a").to_vector(), (std::vector<double>{1.5, -2.0}));
  EXPECT_EQ(file.get("b").dtype(), DType::I32);
  EXPECT_EQ(file.get("b").to_vector(), (std::vector<double>{7, -1}));
  EXPECT_EQ(file.get("c").dtype(), DType::U8);
  EXPECT_EQ(file.get("c").shape(), Shape{});
  EXPECT_EQ(file.get("c").item(), 200);
  EXPECT_EQ(file.get("z").dtype(), DType::F64);
  EXPECT_EQ(file.get("z").numel(), 0);
  EXPECT_EQ(file.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));

  // Extra fields in an entry are ignored, as the reference reader does; null metadata is none.
  write_bytes(
      path, make_file(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":[1]},"__metadata__":null})", {9}));
  EXPECT_EQ(load_safetensors(path).get("x").item(), 9);
}

TEST(Safetensors, GetNamesTheFileAndTheMissingTensor) {
  TempDir dir;
  const std::string path = dir.file("get.safetensors");
  save_safetensors(path, {{"present", Tensor::zeros({1})}});
  const io::SafetensorsFile file = load_safetensors(path);
  EXPECT_TRUE(file.has("present"));
  EXPECT_FALSE(file.has("absent"));
  expect_error_containing([&] { file.get("absent"); }, {path, "'absent'", "'present'"});
}

TEST(Safetensors, SaveRejectsBadArgumentsAndWritesNothing) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  Tensor t = Tensor::zeros({2});
  expect_error_containing([&] { save_safetensors(path, {{"a", t}, {"a", t}}); }, {path, "two tensors", "'a'"});
  expect_error_containing([&] { save_safetensors(path, {{"__metadata__", t}}); }, {path, "reserved"});
  expect_error_containing([&] { save_safetensors(path, {{"u", Tensor()}}); }, {path, "undefined"});
  expect_error_containing([&] { save_safetensors(path, {{std::string("bad\xff"), t}}); }, {path, "UTF-8"});
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

// ------------------------------------------------------------------ corrupt files

struct CorruptCase {
  const char* what;
  Bytes bytes;
  const char* expect;  // a word the message must contain besides the path
};

std::string entry(const std::string& body) { return R"({"t":)" + body + "}"; }

std::vector<CorruptCase> corrupt_cases() {
  const Bytes eight(8, 0);  // data for one F32 (2,) tensor
  const std::string good_entry = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  auto with_length = [](uint64_t n, const Bytes& rest) {
    Bytes out;
    append_u64_le(out, n);
    out.insert(out.end(), rest.begin(), rest.end());
    return out;
  };
  return {
      {"empty file", {}, "truncated"},
      {"5 bytes", {1, 2, 3, 4, 5}, "truncated"},
      {"header length past the end", with_length(100, Bytes(20, ' ')), "truncated"},
      {"header length over 100 MB", with_length(200'000'000, Bytes(20, ' ')), "limit"},
      {"header length 2^64-1", with_length(~uint64_t{0}, Bytes(20, ' ')), "limit"},
      {"header not JSON", make_file("{\"t\": {dtype", {}), "JSON"},
      {"header cut short", make_file(R"({"t":{"dtype":"F32")", {}), "JSON"},
      {"header with a NUL byte", make_file(std::string("{\"a\"\0:1}", 8), {}), "JSON"},
      {"header with invalid UTF-8", make_file("{\"\xff\xfe\":1}", {}), "JSON"},
      {"header is an array", make_file("[1,2]", {}), "not an object"},
      {"header is a string", make_file("\"abc\"", {}), "not an object"},
      {"header is empty", make_file("", {}), "JSON"},
      {"entry is a number", make_file(entry("5"), {}), "not an object"},
      {"entry without dtype", make_file(entry(R"({"shape":[2],"data_offsets":[0,8]})"), eight), "dtype"},
      {"entry without shape", make_file(entry(R"({"dtype":"F32","data_offsets":[0,8]})"), eight), "shape"},
      {"entry without offsets", make_file(entry(R"({"dtype":"F32","shape":[2]})"), eight), "data_offsets"},
      {"dtype a number", make_file(entry(R"({"dtype":3,"shape":[2],"data_offsets":[0,8]})"), eight), "dtype"},
      {"dtype unknown", make_file(entry(R"({"dtype":"F17","shape":[2],"data_offsets":[0,8]})"), eight), "F17"},
      {"dtype unsupported", make_file(entry(R"({"dtype":"F16","shape":[4],"data_offsets":[0,8]})"), eight), "F16"},
      {"shape not an array", make_file(entry(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})"), eight), "shape"},
      {"shape negative", make_file(entry(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), eight), "shape"},
      {"shape fractional", make_file(entry(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})"), eight), "shape"},
      {"shape a string", make_file(entry(R"({"dtype":"F32","shape":["2"],"data_offsets":[0,8]})"), eight), "shape"},
      {"shape 1e30", make_file(entry(R"({"dtype":"F32","shape":[1e30],"data_offsets":[0,8]})"), eight), "shape"},
      {"dim over int64", make_file(entry(R"({"dtype":"U8","shape":[9223372036854775808,0],"data_offsets":[0,0]})"), {}),
       "int64"},
      {"numel overflows",
       make_file(entry(R"({"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]})"), {}), "int64"},
      {"bytes overflow", make_file(entry(R"({"dtype":"I64","shape":[4611686018427387904],"data_offsets":[0,0]})"), {}),
       "too large"},
      {"offsets one number", make_file(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[8]})"), eight),
       "data_offsets"},
      {"offsets negative", make_file(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[-8,0]})"), eight),
       "data_offsets"},
      {"offsets not an array", make_file(entry(R"({"dtype":"F32","shape":[2],"data_offsets":"0,8"})"), eight),
       "data_offsets"},
      {"offsets reversed", make_file(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})"), eight),
       "begin > end"},
      {"size mismatch", make_file(entry(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), eight),
       "needs 12 bytes"},
      {"data truncated", make_file(entry(R"({"dtype":"F32","shape":[4],"data_offsets":[0,16]})"), eight), "truncated"},
      {"offsets far past the end",
       make_file(entry(R"({"dtype":"U8","shape":[8],"data_offsets":[18446744073709551600,18446744073709551608]})"),
                 eight),
       "no tensor"},
      {"first tensor not at 0", make_file(entry(R"({"dtype":"F32","shape":[1],"data_offsets":[4,8]})"), eight),
       "no tensor"},
      {"overlapping tensors",
       make_file(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
           eight),
       "overlaps"},
      {"hole between tensors",
       make_file(
           R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}})",
           eight),
       "no holes"},
      {"bytes after the last tensor", make_file(entry(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})"), eight),
       "belong to no tensor"},
      {"metadata not an object", make_file(R"({"__metadata__":[1]})", {}), "__metadata__"},
      {"metadata value a number", make_file(R"({"__metadata__":{"step":12}})", {}), "not a string"},
      {"metadata value null", make_file(R"({"__metadata__":{"step":null}})", {}), "not a string"},
      {"duplicate tensor name", make_file(R"({"t":)" + good_entry + R"(,"t":)" + good_entry + "}", eight), "twice"},
      {"duplicate field", make_file(entry(R"({"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]})"), eight),
       "twice"},
      {"nested too deep", make_file(entry(R"({"x":[[[[[[[[[[[[1]]]]]]]]]]]]})"), {}), "deeper"},
  };
}

TEST(Safetensors, CorruptFilesGiveOneLineErrorsNamingTheFile) {
  TempDir dir;
  const std::string path = dir.file("corrupt.safetensors");
  for (const CorruptCase& c : corrupt_cases()) {
    SCOPED_TRACE(c.what);
    write_bytes(path, c.bytes);
    const std::string msg = error_message([&] { load_safetensors(path); });
    ASSERT_FALSE(msg.empty()) << "loaded without an error";
    EXPECT_TRUE(contains(msg, "checkpoint " + path)) << msg;
    EXPECT_TRUE(contains(msg, "is corrupt")) << msg;
    EXPECT_TRUE(contains(msg, c.expect)) << "expected '" << c.expect << "' in: " << msg;
    EXPECT_FALSE(contains(msg, "\n")) << msg;
  }
}

TEST(Safetensors, MissingOrUnreadableFilesSaySo) {
  TempDir dir;
  const std::string missing = dir.file("nope.safetensors");
  expect_error_containing([&] { load_safetensors(missing); }, {"checkpoint " + missing + " not found"});
  const std::string directory = dir.file("a_directory");
  fs::create_directory(directory);
  expect_error_containing([&] { load_safetensors(directory); }, {"cannot read checkpoint " + directory});
}

// Random damage to a valid file: every load must either succeed or throw nn::Error, never crash
// or throw anything else. (Run under ASan/UBSan this also shows it never reads out of bounds.)
TEST(Safetensors, FuzzedFilesLoadOrThrowNnError) {
  TempDir dir;
  const std::string good_path = dir.file("good.safetensors"), path = dir.file("fuzzed.safetensors");
  save_safetensors(good_path,
                   {{"a", Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6})},
                    {"b", Tensor::from_vector({4}, {1, 2, 3, 4}, DType::I64)},
                    {"c", Tensor::from_vector({3}, {7, 8, 9}, DType::U8)},
                    {"s", Tensor::full({}, 1.0, DType::F64)}},
                   {{"step", "12"}, {"config", "{\"lr\": 2e-4}"}});
  const Bytes good = read_bytes(good_path);
  uint64_t header_end = 8;
  for (int i = 0; i < 8; ++i) header_end += uint64_t{good[i]} << (8 * i);

  std::mt19937 rng(20240611);  // fixed seed: the same 200 files every run
  int loaded = 0, rejected = 0;
  for (int trial = 0; trial < 200; ++trial) {
    Bytes bytes = good;
    const int kind = static_cast<int>(rng() % 4);
    if (kind == 0 || kind == 3) {  // flip bits, mostly in the header where they matter
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        const size_t at = (rng() % 4 != 0) ? rng() % header_end : rng() % bytes.size();
        bytes[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
      }
    }
    if (kind == 1 || kind == 3) bytes.resize(rng() % bytes.size());            // truncate
    if (kind == 2) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());  // overwrite one byte
    write_bytes(path, bytes);
    try {
      load_safetensors(path);
      ++loaded;
    } catch (const Error& e) {
      ++rejected;
      EXPECT_TRUE(contains(e.what(), path)) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "trial " << trial << ": not an nn::Error: " << e.what();
    } catch (...) {
      ADD_FAILURE() << "trial " << trial << ": threw something that is not a std::exception";
    }
  }
  EXPECT_EQ(loaded + rejected, 200);
  EXPECT_GT(rejected, 100) << "most damage to a small file should be detected";
}

// ------------------------------------------------------------------ atomic writes

TEST(Safetensors, OverwritingReplacesTheFileAndLeavesNoTemporary) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_safetensors(path, {{"x", Tensor::full({2}, 1.0)}});
  save_safetensors(path, {{"y", Tensor::full({3}, 2.0)}});
  const io::SafetensorsFile file = load_safetensors(path);
  EXPECT_FALSE(file.has("x"));
  EXPECT_EQ(file.get("y").to_vector(), (std::vector<double>{2, 2, 2}));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(Safetensors, SavingWhereNoFileCanBeCreatedThrows) {
  TempDir dir;
  // The parent "directory" is a regular file: open() fails with ENOTDIR, even for root (a
  // read-only directory would not stop root).
  const std::string blocker = dir.file("not_a_directory");
  write_bytes(blocker, {1, 2, 3});
  const std::string path = blocker + "/ckpt.safetensors";
  expect_error_containing(
      [&] {
        save_safetensors(path, {{"x", Tensor::zeros({2})}});
      },
      {"cannot write checkpoint " + path + ": Not a directory"});
  EXPECT_EQ(read_bytes(blocker), (Bytes{1, 2, 3}));
}

// Makes writes past `bytes` fail with EFBIG (a full disk as far as the writer can tell) for the
// life of the guard. SIGXFSZ is ignored meanwhile, so the write returns the error instead of the
// signal killing the process. Applies to root as well.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    saved_handler_ = signal(SIGXFSZ, SIG_IGN);
    rlimit limited = saved_;
    limited.rlim_cur = bytes;
    ok_ = setrlimit(RLIMIT_FSIZE, &limited) == 0;
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    signal(SIGXFSZ, saved_handler_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  sighandler_t saved_handler_ = SIG_DFL;
  bool ok_ = false;
};

TEST(Safetensors, AFailedWriteLeavesThePreviousCheckpointIntact) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_safetensors(path, {{"old", Tensor::full({4}, 3.0)}}, {{"step", "100"}});
  const Bytes before = read_bytes(path);
  std::string msg;
  bool limited = false;
  {
    // Only capture while the limit holds: gtest's own output may go to a large regular file.
    FileSizeLimit limit(4096);
    limited = limit.ok();
    // 64 KiB of data cannot be written under a 4 KiB file-size limit: the write fails midway.
    if (limited)
      msg = error_message([&] { save_safetensors(path, {{"new", Tensor::zeros({16384})}}, {{"step", "200"}}); });
  }
  ASSERT_TRUE(limited) << "setrlimit(RLIMIT_FSIZE) failed";
  EXPECT_TRUE(contains(msg, "cannot write checkpoint " + path + ": File too large")) << msg;
  EXPECT_EQ(read_bytes(path), before) << "the old checkpoint must be untouched";
  EXPECT_FALSE(fs::exists(path + ".tmp")) << "the half-written temporary file must be removed";
  EXPECT_EQ(load_safetensors(path).metadata.at("step"), "100");
}

TEST(Safetensors, CudaTensorsAreSavedFromTheHost) {
  NN_SKIP_WITHOUT_CUDA();
  TempDir dir;
  const std::string path = dir.file("cuda.safetensors");
  Tensor gpu = Tensor::from_vector({2, 2}, {1, 2, 3, 4}, DType::F32, Device::CUDA);
  Tensor counts = Tensor::from_vector({2}, {5, 6}, DType::I64, Device::CUDA);
  save_safetensors(path, {{"w", gpu}, {"n", counts}});
  const io::SafetensorsFile file = load_safetensors(path);
  EXPECT_EQ(file.get("w").to_vector(), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(file.get("n").to_vector(), (std::vector<double>{5, 6}));
}

// ================================================================== PNG

struct DecodedPng {
  int width = 0, height = 0;
  Bytes rgb;
  std::array<uint8_t, 3> at(int x, int y) const {
    const size_t i = (static_cast<size_t>(y) * width + x) * 3;
    return {rgb[i], rgb[i + 1], rgb[i + 2]};
  }
};

DecodedPng decode_png(const std::string& path) {
  DecodedPng png;
  int channels = 0;
  unsigned char* pixels = stbi_load(path.c_str(), &png.width, &png.height, &channels, 3);
  if (pixels == nullptr) {
    ADD_FAILURE() << "stb_image cannot read " << path << ": " << stbi_failure_reason();
    return png;
  }
  png.rgb.assign(pixels, pixels + static_cast<size_t>(png.width) * png.height * 3);
  stbi_image_free(pixels);
  return png;
}

using Rgb = std::array<uint8_t, 3>;

// (N, 3, h, w) images, image k filled with the constant colour values[k] (per channel, in [-1, 1]).
Tensor constant_images(const std::vector<std::array<double, 3>>& values, int64_t h, int64_t w) {
  std::vector<double> data;
  for (const auto& rgb : values)
    for (double v : rgb) data.insert(data.end(), static_cast<size_t>(h * w), v);
  return Tensor::from_vector({static_cast<int64_t>(values.size()), 3, h, w}, data);
}

TEST(Png, ValueMappingIsTorchvisionsRoundHalfUp) {
  EXPECT_EQ(io::image_value_to_byte(-1.0f), 0);
  EXPECT_EQ(io::image_value_to_byte(0.0f), 128);  // 127.5 rounds up
  EXPECT_EQ(io::image_value_to_byte(1.0f), 255);
  EXPECT_EQ(io::image_value_to_byte(-0.5f), 64);  // 63.75
  EXPECT_EQ(io::image_value_to_byte(0.5f), 191);  // 191.25
  EXPECT_EQ(io::image_value_to_byte(-3.0f), 0);   // clamped
  EXPECT_EQ(io::image_value_to_byte(7.0f), 255);
  EXPECT_EQ(io::image_value_to_byte(std::nanf("")), 0);
  EXPECT_EQ(io::image_value_to_byte(std::numeric_limits<float>::infinity()), 255);
  // Every byte k is reached from its own value 2k/255 - 1.
  for (int k = 0; k < 256; ++k) EXPECT_EQ(io::image_value_to_byte(2.0f * k / 255.0f - 1.0f), k) << k;
}

TEST(Png, GridOfFourImagesHasPaddingSizeAndValues) {
  TempDir dir;
  const std::string path = dir.file("grid.png");
  const int64_t h = 3, w = 5, pad = 2;
  // black, white, mid grey, and one colour per channel.
  Tensor images = constant_images({{-1, -1, -1}, {1, 1, 1}, {0, 0, 0}, {-1, 0, 1}}, h, w);
  io::write_image_grid_png(path, images, /*nrow=*/2, /*padding=*/2);
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  const DecodedPng png = decode_png(path);
  ASSERT_EQ(png.width, 2 * (w + pad) + pad);   // 16
  ASSERT_EQ(png.height, 2 * (h + pad) + pad);  // 12
  const Rgb expected_colour[4] = {{0, 0, 0}, {255, 255, 255}, {128, 128, 128}, {0, 128, 255}};
  // Every pixel: inside image k's cell it is image k's colour, elsewhere padding (black).
  for (int y = 0; y < png.height; ++y) {
    for (int x = 0; x < png.width; ++x) {
      Rgb want = {0, 0, 0};
      for (int k = 0; k < 4; ++k) {
        const int top = static_cast<int>((k / 2) * (h + pad) + pad), left = static_cast<int>((k % 2) * (w + pad) + pad);
        if (y >= top && y < top + h && x >= left && x < left + w) want = expected_colour[k];
      }
      ASSERT_EQ(png.at(x, y), want) << "pixel (" << x << "," << y << ")";
    }
  }
  // Spot checks, spelled out: corner padding, the white image, the gap between images.
  EXPECT_EQ(png.at(0, 0), (Rgb{0, 0, 0}));
  EXPECT_EQ(png.at(9, 2), (Rgb{255, 255, 255}));
  EXPECT_EQ(png.at(7, 2), (Rgb{0, 0, 0}));
  EXPECT_EQ(png.at(2, 7), (Rgb{128, 128, 128}));
  EXPECT_EQ(png.at(13, 9), (Rgb{0, 128, 255}));
}

TEST(Png, IncompleteLastRowSingleImageAndGreyImages) {
  // Three images, two per row: two rows, the last cell left black.
  io::RgbImage three = io::make_image_grid(constant_images({{1, 1, 1}, {1, 1, 1}, {1, 1, 1}}, 2, 2), 2, 1);
  EXPECT_EQ(three.width, 2 * 3 + 1);
  EXPECT_EQ(three.height, 2 * 3 + 1);
  EXPECT_EQ(three.pixels[(4 * 7 + 1) * 3], 255);  // third image, row 1 column 0
  EXPECT_EQ(three.pixels[(4 * 7 + 4) * 3], 0);    // empty cell
  // nrow larger than N: one row of N.
  io::RgbImage row = io::make_image_grid(constant_images({{1, 1, 1}, {1, 1, 1}}, 2, 2), 8, 2);
  EXPECT_EQ(row.width, 2 * 4 + 2);
  EXPECT_EQ(row.height, 1 * 4 + 2);
  // One image: no padding at all (make_grid returns it unchanged).
  io::RgbImage one = io::make_image_grid(constant_images({{1, -1, 0}}, 3, 4), 8, 2);
  EXPECT_EQ(one.width, 4);
  EXPECT_EQ(one.height, 3);
  EXPECT_EQ(one.pixels[0], 255);
  EXPECT_EQ(one.pixels[1], 0);
  EXPECT_EQ(one.pixels[2], 128);
  // Grey (N, 1, H, W) images are repeated into R, G and B.
  Tensor grey = Tensor::from_vector({2, 1, 1, 2}, {-1, 1, 0, 0.5}, DType::F64);
  io::RgbImage g = io::make_image_grid(grey, 2, 0);
  ASSERT_EQ(g.width, 4);
  EXPECT_EQ(g.pixels, (Bytes{0, 0, 0, 255, 255, 255, 128, 128, 128, 191, 191, 191}));
}

TEST(Png, RejectsBadInputAndUnwritablePaths) {
  TempDir dir;
  const std::string path = dir.file("bad.png");
  Tensor ok = constant_images({{0, 0, 0}}, 2, 2);
  expect_error_containing([&] { io::write_image_grid_png(path, Tensor::zeros({3, 4, 4})); }, {path, "(N, C, H, W)"});
  expect_error_containing([&] { io::write_image_grid_png(path, Tensor::zeros({1, 2, 4, 4})); }, {path, "channels"});
  expect_error_containing([&] { io::write_image_grid_png(path, Tensor::zeros({0, 3, 4, 4})); }, {path, "no pixels"});
  expect_error_containing([&] { io::write_image_grid_png(path, ok, 0); }, {path, "nrow"});
  expect_error_containing([&] { io::write_image_grid_png(path, ok, 8, -1); }, {path, "padding"});
  expect_error_containing(
      [&] {
        io::write_image_grid_png(path, Tensor::zeros({1, 3, 2, 2}, DType::U8));
      },
      {path, "float"});
  expect_error_containing([&] { io::write_png_rgb(path, 2, 2, Bytes(11)); }, {"cannot write image " + path, "12"});
  expect_error_containing([&] { io::write_png_rgb(path, 0, 2, {}); }, {"cannot write image " + path});
  EXPECT_FALSE(fs::exists(path));
  const std::string blocker = dir.file("file");
  write_bytes(blocker, {0});
  expect_error_containing([&] { io::write_image_grid_png(blocker + "/grid.png", ok); },
                          {"cannot write image " + blocker + "/grid.png"});
}

TEST(Png, RawRgbRoundTrips) {
  TempDir dir;
  const std::string path = dir.file("raw.png");
  const int width = 7, height = 5;
  Bytes rgb(width * height * 3);
  std::mt19937 rng(7);
  for (uint8_t& b : rgb) b = static_cast<uint8_t>(rng());
  io::write_png_rgb(path, width, height, rgb);
  const DecodedPng png = decode_png(path);
  EXPECT_EQ(png.width, width);
  EXPECT_EQ(png.height, height);
  EXPECT_EQ(png.rgb, rgb);
}

TEST(Png, CudaImagesAreReadBackFromTheDevice) {
  NN_SKIP_WITHOUT_CUDA();
  Tensor gpu = constant_images({{-1, 0, 1}, {1, 1, 1}}, 2, 2).to(Device::CUDA);
  io::RgbImage grid = io::make_image_grid(gpu, 2, 2);
  EXPECT_EQ(grid.width, 10);
  EXPECT_EQ(grid.pixels[(2 * 10 + 2) * 3 + 1], 128);
}

// ================================================================== loss plot

size_t distinct_colours(const Bytes& rgb) {
  std::set<uint32_t> seen;
  for (size_t i = 0; i + 2 < rgb.size(); i += 3)
    seen.insert(uint32_t{rgb[i]} << 16 | uint32_t{rgb[i + 1]} << 8 | rgb[i + 2]);
  return seen.size();
}

bool has_colour(const DecodedPng& png, Rgb c) {
  for (int y = 0; y < png.height; ++y)
    for (int x = 0; x < png.width; ++x)
      if (png.at(x, y) == c) return true;
  return false;
}

TEST(Plot, WritesAReadableChartWithOneColourPerSeries) {
  TempDir dir;
  const std::string path = dir.file("loss.png");
  std::vector<double> d_loss, g_loss;
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> noise(-0.2, 0.2);
  for (int i = 0; i < 500; ++i) {
    d_loss.push_back(1.4 * std::exp(-i / 150.0) + 0.3 + noise(rng));
    g_loss.push_back(0.7 + i / 500.0 + noise(rng));
  }
  d_loss[10] = std::nan("");
  g_loss[20] = std::numeric_limits<double>::infinity();
  d_loss[0] = 50.0;  // an early spike, outside the robust range
  io::write_loss_plot_png(path, {{"loss_D", d_loss}, {"loss_G", g_loss}}, "DCGAN losses, epoch 3");
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  const DecodedPng png = decode_png(path);
  EXPECT_EQ(png.width, io::kLossPlotWidth);
  EXPECT_EQ(png.height, io::kLossPlotHeight);
  EXPECT_GT(distinct_colours(png.rgb), 4u);
  EXPECT_TRUE(has_colour(png, {31, 119, 180})) << "first series colour";
  EXPECT_TRUE(has_colour(png, {255, 127, 14})) << "second series colour";
  EXPECT_EQ(png.at(0, 0), (Rgb{255, 255, 255})) << "white background";
}

TEST(Plot, EmptyAndDegenerateSeriesStillGiveAValidChart) {
  TempDir dir;
  const std::string path = dir.file("empty.png");
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  const std::vector<io::PlotSeries> cases = {
      {},                                         // no series
      {{"loss", {}}},                             // a series without values
      {{"loss", {nan, inf, -inf}}},               // nothing finite
      {{"loss", {0.5}}},                          // one value
      {{"flat", std::vector<double>(300, 2.0)}},  // constant
      {{"huge", {-1.7e308, 1.7e308, 0.0}}, {"tiny", {1e-300, 2e-300}}},
      {{"", {1, 2, 3}},
       {"b", {3, 2, 1}},
       {"c", {1, 1}},
       {"d", {2}},
       {"e", {}},
       {"f", {0}},
       {"g", {1}},
       {"h", {2}},
       {"i", {3}}},  // more series than colours, an unnamed one
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    io::write_loss_plot_png(path, cases[i], i % 2 ? "" : "title");
    const DecodedPng png = decode_png(path);
    EXPECT_EQ(png.width, io::kLossPlotWidth);
    EXPECT_EQ(png.height, io::kLossPlotHeight);
    EXPECT_GT(distinct_colours(png.rgb), 1u) << "at least the axes on white";
  }
}

}  // namespace
}  // namespace nn::test

namespace nn::test {
namespace {

// A FIFO where a checkpoint is expected is refused at once: opening it must not wait for a writer
// (which would block forever, past SIGINT and SIGTERM).
TEST(Safetensors, AFifoIsRefusedWithoutBlocking) {
  TempDir dir("fifo");
  const std::string fifo = (dir.path() / "checkpoint_latest.safetensors").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  expect_error_containing([&] { io::load_safetensors(fifo); }, {fifo, "not a regular file"});
}

}  // namespace
}  // namespace nn::test
