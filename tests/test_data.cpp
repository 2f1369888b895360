// Tests for the CIFAR-100 reader and the batch sampler (src/data/cifar100.h, kernels/data.cu).
//
// They read the real dataset from data/cifar-100-binary/ (tools/test.sh fetches it before ctest)
// and skip, saying how to fetch it, when it is absent. Expected values come from the raw file
// bytes read here with std::ifstream, never from the code under test.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <numeric>
#include <set>

#include <unistd.h>

#include "data/cifar100.h"
#include "data_math.h"
#include "test_util.h"

namespace nn::test {
namespace {

using data::BatchSampler;
using data::Cifar100;
using data::Split;

const std::string kDataDir = cifar100_dir();
constexpr int64_t kRecord = 3074, kImage = 3072;

// Each split is read once per test process (the train file is 150 MB).
const Cifar100& cached(Split split) {
  static std::map<Split, std::unique_ptr<Cifar100>> cache;
  std::unique_ptr<Cifar100>& slot = cache[split];
  if (!slot) slot = std::make_unique<Cifar100>(data::load_cifar100(kDataDir, split));
  return *slot;
}

// Record `r` of a split's file, straight from the disk: 2 label bytes then 3072 pixel bytes.
std::vector<uint8_t> raw_record(Split split, int64_t r) {
  std::ifstream file(kDataDir + (split == Split::Train ? "/train.bin" : "/test.bin"), std::ios::binary);
  file.seekg(r * kRecord);
  std::vector<uint8_t> record(kRecord);
  file.read(reinterpret_cast<char*>(record.data()), kRecord);
  EXPECT_TRUE(file.good()) << "could not read record " << r;
  return record;
}

// The scaling written independently, in double: (b - 127.5) / 127.5 rounded once to float.
// (Rounding the double quotient to float equals the correctly rounded float quotient: double has
// more than 2*24+2 bits, so the double rounding is innocuous.)
float reference_pixel(uint8_t b) { return static_cast<float>((b - 127.5) / 127.5); }

// Copies the first `bytes` bytes of `from` into `to`, then applies `edit` to the copy's bytes.
void write_copy(const std::string& from, const std::filesystem::path& to, int64_t bytes,
                const std::function<void(std::vector<char>&)>& edit = nullptr) {
  std::ifstream in(from, std::ios::binary);
  std::vector<char> buffer(static_cast<size_t>(bytes));
  in.read(buffer.data(), bytes);
  ASSERT_TRUE(in.good());
  if (edit) edit(buffer);
  std::ofstream out(to, std::ios::binary);
  out.write(buffer.data(), bytes);
  ASSERT_TRUE(out.good());
}

// ------------------------------------------------------------------ the reader

TEST(Cifar100, LoadsBothSplitsWithTheirSizes) {
  NN_SKIP_WITHOUT_FULL_CIFAR();
  const Cifar100& train = cached(Split::Train);
  const Cifar100& test = cached(Split::Test);
  EXPECT_EQ(train.size(), 50000);
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(train.images.shape(), (Shape{50000, 3, 32, 32}));
  EXPECT_EQ(test.images.shape(), (Shape{10000, 3, 32, 32}));
  EXPECT_EQ(train.images.dtype(), DType::U8);
  EXPECT_EQ(train.images.device(), Device::CPU);
  EXPECT_EQ(train.fine_labels.size(), 50000u);
  EXPECT_EQ(train.coarse_labels.size(), 50000u);
  EXPECT_EQ(test.fine_labels.size(), 10000u);
  EXPECT_EQ(test.coarse_labels.size(), 10000u);
}

TEST(Cifar100, RecordsMatchTheRawFileBytes) {
  NN_SKIP_WITHOUT_CIFAR();
  for (Split split : {Split::Train, Split::Test}) {
    const Cifar100& set = cached(split);
    const uint8_t* images = set.images.data<uint8_t>();
    for (int64_t r : {int64_t{0}, int64_t{1}, std::min<int64_t>(4321, set.size() - 2), set.size() - 1}) {
      std::vector<uint8_t> record = raw_record(split, r);
      EXPECT_EQ(set.coarse_labels[r], record[0]) << "record " << r;
      EXPECT_EQ(set.fine_labels[r], record[1]) << "record " << r;
      // A few named pixels first (R, G, B at the top-left corner, the last blue byte), so a
      // failure says which plane went wrong; then the whole image.
      const uint8_t* img = images + r * kImage;
      EXPECT_EQ(img[0], record[2 + 0]) << "record " << r << " R(0,0)";
      EXPECT_EQ(img[1024], record[2 + 1024]) << "record " << r << " G(0,0)";
      EXPECT_EQ(img[2048], record[2 + 2048]) << "record " << r << " B(0,0)";
      EXPECT_EQ(img[3071], record[2 + 3071]) << "record " << r << " B(31,31)";
      EXPECT_EQ(std::memcmp(img, record.data() + 2, kImage), 0) << "record " << r << " pixels differ";
    }
  }
}

// Known facts of CIFAR-100: 500 training and 100 test images per fine class, and every fine
// class belongs to exactly one coarse class (five per superclass).
TEST(Cifar100, LabelsAreInRangeAndBalanced) {
  NN_SKIP_WITHOUT_FULL_CIFAR();
  for (Split split : {Split::Train, Split::Test}) {
    const Cifar100& set = cached(split);
    std::vector<int> per_fine(100, 0);
    std::map<int, std::set<int>> coarse_of_fine;
    for (int64_t i = 0; i < set.size(); ++i) {
      ASSERT_LT(set.fine_labels[i], 100) << "record " << i;
      ASSERT_LT(set.coarse_labels[i], 20) << "record " << i;
      ++per_fine[set.fine_labels[i]];
      coarse_of_fine[set.fine_labels[i]].insert(set.coarse_labels[i]);
    }
    const int want = split == Split::Train ? 500 : 100;
    for (int c = 0; c < 100; ++c) {
      EXPECT_EQ(per_fine[c], want) << "fine class " << c;
      EXPECT_EQ(coarse_of_fine[c].size(), 1u) << "fine class " << c;
    }
  }
}

TEST(Cifar100, MissingDirectoryNamesTheFetchScript) {
  const TempDir tmp("nn_cifar_missing");
  const std::filesystem::path& dir = tmp.path();
  expect_error_containing([&] { data::load_cifar100(dir.string(), Split::Train); },
                          {"CIFAR-100 not found", (dir / "train.bin").string(), "tools/fetch_cifar100.sh",
                           "CIFAR100_ARCHIVE"});
  expect_error_containing([&] { data::load_cifar100((dir / "nope").string(), Split::Test); },
                          {"CIFAR-100 not found", "test.bin", "tools/fetch_cifar100.sh"});
}

TEST(Cifar100, TruncatedFileIsCorruptOrTruncated) {
  NN_SKIP_WITHOUT_FULL_CIFAR();
  const TempDir tmp("nn_cifar_truncated");
  const std::filesystem::path& dir = tmp.path();
  write_copy(kDataDir + "/test.bin", dir / "test.bin", 1000 * kRecord + 7);
  expect_error_containing([&] { data::load_cifar100(dir.string(), Split::Test); },
                          {"corrupt or truncated", "3074007 bytes is not a whole number of 3074-byte records",
                           "the official file has 30740000", "tools/fetch_cifar100.sh"});
  write_copy(kDataDir + "/test.bin", dir / "test.bin", 0);
  expect_error_containing([&] { data::load_cifar100(dir.string(), Split::Test); }, {"corrupt or truncated", "empty"});
}

// A slice (tools/gpu_bundle.sh: the first N whole records of the official file) loads like the
// whole, record for record; more records than the official file has is damage.
TEST(Cifar100, SliceOfWholeRecordsLoadsAsTheFirstRecords) {
  NN_SKIP_WITHOUT_FULL_CIFAR();
  const TempDir tmp("nn_cifar_slice");
  const std::filesystem::path& dir = tmp.path();
  write_copy(kDataDir + "/train.bin", dir / "train.bin", 123 * kRecord);
  EXPECT_EQ(data::cifar100_records(dir.string(), Split::Train), 123);
  const Cifar100 slice = data::load_cifar100(dir.string(), Split::Train);
  const Cifar100& full = cached(Split::Train);
  ASSERT_EQ(slice.size(), 123);
  EXPECT_EQ(std::memcmp(slice.images.data<uint8_t>(), full.images.data<uint8_t>(), 123 * kImage), 0);
  EXPECT_EQ(slice.fine_labels, std::vector<uint8_t>(full.fine_labels.begin(), full.fine_labels.begin() + 123));
  EXPECT_EQ(slice.coarse_labels,
            std::vector<uint8_t>(full.coarse_labels.begin(), full.coarse_labels.begin() + 123));
  // test.bin may not be longer than the official 10,000 records.
  write_copy(kDataDir + "/train.bin", dir / "test.bin", 10001 * kRecord);
  expect_error_containing([&] { data::load_cifar100(dir.string(), Split::Test); },
                          {"corrupt", "10001 records, more than the official 10000"});
}

TEST(Cifar100, OutOfRangeLabelIsCorrupt) {
  NN_SKIP_WITHOUT_FULL_CIFAR();
  const TempDir tmp("nn_cifar_badlabel");
  const std::filesystem::path& dir = tmp.path();
  write_copy(kDataDir + "/test.bin", dir / "test.bin", 10000 * kRecord,
             [](std::vector<char>& bytes) { bytes[17 * kRecord + 1] = 100; });  // fine label of record 17
  expect_error_containing([&] { data::load_cifar100(dir.string(), Split::Test); },
                          {"corrupt", "record 17", "fine label 100"});
  write_copy(kDataDir + "/test.bin", dir / "test.bin", 10000 * kRecord,
             [](std::vector<char>& bytes) { bytes[9999 * kRecord] = 20; });  // coarse label of the last
  expect_error_containing([&] { data::load_cifar100(dir.string(), Split::Test); },
                          {"corrupt", "record 9999", "coarse label 20"});
}

// ------------------------------------------------------------------ scaling

TEST(DataScaling, MapsBytesOntoMinusOneToOneExactlyAtTheEnds) {
  EXPECT_EQ(pixel_to_unit_range(0), -1.0f);
  EXPECT_EQ(pixel_to_unit_range(255), 1.0f);
  float previous = -2.0f;
  for (int b = 0; b < 256; ++b) {
    const float x = pixel_to_unit_range(static_cast<uint8_t>(b));
    EXPECT_EQ(x, reference_pixel(static_cast<uint8_t>(b))) << "byte " << b;
    EXPECT_GE(x, -1.0f) << "byte " << b;
    EXPECT_LE(x, 1.0f) << "byte " << b;
    EXPECT_GT(x, previous) << "byte " << b << ": not increasing";
    EXPECT_EQ(x, -pixel_to_unit_range(static_cast<uint8_t>(255 - b))) << "byte " << b << ": not symmetric";
    previous = x;
  }
}

// ------------------------------------------------------------------ the sampler

TEST(Sampler, BatchHoldsTheScaledImagesOfTheOrder) {
  NN_SKIP_WITHOUT_CIFAR();
  const Cifar100& train = cached(Split::Train);
  BatchSampler sampler(train.images, Device::CPU, 64, 2024);
  sampler.set_epoch(3);
  ASSERT_EQ(sampler.epoch(), 3);
  Tensor reused = Tensor::full({64, 3, 32, 32}, std::nan(""), DType::F32);
  for (int64_t index : {int64_t{0}, int64_t{1}, sampler.batches_per_epoch() - 1}) {
    Tensor batch = sampler.batch(index);
    ASSERT_EQ(batch.shape(), (Shape{64, 3, 32, 32}));
    ASSERT_EQ(batch.dtype(), DType::F32);
    sampler.batch_into(index, reused);
    const float* got = batch.data<float>();
    const float* got_into = reused.data<float>();
    for (int64_t b = 0; b < 64; ++b) {
      const int32_t image = sampler.order()[index * 64 + b];
      std::vector<uint8_t> record = raw_record(Split::Train, image);
      for (int64_t j = 0; j < kImage; ++j) {
        const float want = reference_pixel(record[2 + j]);
        ASSERT_EQ(got[b * kImage + j], want) << "batch " << index << ", sample " << b << " (image " << image
                                             << "), element " << j;
        ASSERT_EQ(got_into[b * kImage + j], want) << "batch_into, batch " << index << ", sample " << b;
      }
    }
  }
}

bool is_permutation_of_iota(const std::vector<int32_t>& order) {
  std::vector<char> seen(order.size(), 0);
  for (int32_t v : order) {
    if (v < 0 || static_cast<size_t>(v) >= order.size() || seen[v]) return false;
    seen[v] = 1;
  }
  return true;
}

TEST(Sampler, OrderIsAPermutationDrawnFromSeedAndEpochAlone) {
  NN_SKIP_WITHOUT_FULL_CIFAR();
  const Cifar100& train = cached(Split::Train);
  BatchSampler sampler(train.images, Device::CPU, 64, 11);
  EXPECT_EQ(sampler.epoch(), 0);  // the constructor draws epoch 0
  const std::vector<int32_t> epoch0 = sampler.order();
  ASSERT_EQ(epoch0.size(), 50000u);
  EXPECT_TRUE(is_permutation_of_iota(epoch0));
  std::vector<int32_t> identity(50000);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_NE(epoch0, identity);

  sampler.set_epoch(1);
  const std::vector<int32_t> epoch1 = sampler.order();
  EXPECT_TRUE(is_permutation_of_iota(epoch1));
  EXPECT_NE(epoch1, epoch0);

  // What a resumed run does: a fresh sampler told the epoch reproduces the order exactly.
  BatchSampler resumed(train.images, Device::CPU, 64, 11);
  resumed.set_epoch(1);
  EXPECT_EQ(resumed.order(), epoch1);
  sampler.set_epoch(0);
  EXPECT_EQ(sampler.order(), epoch0);

  BatchSampler other_seed(train.images, Device::CPU, 64, 12);
  EXPECT_NE(other_seed.order(), epoch0);
  other_seed.set_epoch(1);
  EXPECT_NE(other_seed.order(), epoch1);
}

// Fisher-Yates with an unbiased draw makes all N! orders equally likely: with N = 4 over 24000
// epochs each of the 24 orders comes up about 1000 times (standard deviation about 31). An
// off-by-one (Sattolo's variant, j < i) would never produce the identity; a biased draw skews
// the counts. Synthetic images: this needs no dataset.
TEST(Sampler, AllOrdersOfASmallSetAreEquallyLikely) {
  Tensor images = Tensor::zeros({4, 1, 1, 1}, DType::U8);
  BatchSampler sampler(images, Device::CPU, 1, 99);
  std::map<std::vector<int32_t>, int> counts;
  const int epochs = 24000;
  for (int e = 0; e < epochs; ++e) {
    sampler.set_epoch(e);
    ++counts[sampler.order()];
  }
  EXPECT_EQ(counts.size(), 24u);
  for (const auto& [order, count] : counts) {
    EXPECT_GT(count, 1000 - 200) << "order " << ::testing::PrintToString(order);
    EXPECT_LT(count, 1000 + 200) << "order " << ::testing::PrintToString(order);
  }
}

TEST(Sampler, EpochIsWholeBatchesOnly) {
  NN_SKIP_WITHOUT_FULL_CIFAR();
  const Cifar100& train = cached(Split::Train);
  BatchSampler sampler(train.images, Device::CPU, 64, 1);
  EXPECT_EQ(sampler.batches_per_epoch(), 781);  // 50000 / 64 = 781.25: the partial batch is dropped
  expect_error_containing([&] { sampler.batch(781); }, {"batch 781 out of range", "781 batches"});
  expect_error_containing([&] { sampler.batch(-1); }, {"out of range"});
  EXPECT_EQ(BatchSampler(train.images, Device::CPU, 50000, 1).batches_per_epoch(), 1);
  EXPECT_EQ(BatchSampler(cached(Split::Test).images, Device::CPU, 128, 1).batches_per_epoch(), 78);
}

TEST(Sampler, RejectsBadArguments) {
  Tensor images = Tensor::zeros({10, 3, 2, 2}, DType::U8);
  expect_error_containing([&] { BatchSampler(images, Device::CPU, 0, 1); }, {"batch size 0"});
  expect_error_containing([&] { BatchSampler(images, Device::CPU, 11, 1); }, {"batch size 11"});
  expect_error_containing([&] { BatchSampler(Tensor::zeros({10, 3, 2, 2}), Device::CPU, 2, 1); }, {"uint8"});
  expect_error_containing([&] { BatchSampler(Tensor::zeros({10, 12}, DType::U8), Device::CPU, 2, 1); },
                          {"(N, C, H, W)"});
  BatchSampler sampler(images, Device::CPU, 4, 1);
  Tensor wrong_shape = Tensor::empty({4, 3, 2, 3});
  expect_error_containing([&] { sampler.batch_into(0, wrong_shape); }, {"(4,3,2,2)", "(4,3,2,3)"});
  Tensor wrong_dtype = Tensor::empty({4, 3, 2, 2}, DType::F64);
  expect_error_containing([&] { sampler.batch_into(0, wrong_dtype); }, {"float32"});
  expect_error_containing([&] { sampler.set_epoch(-1); }, {"epoch -1"});
}

TEST(Sampler, CudaBatchMatchesCpuBitForBit) {
  NN_SKIP_WITHOUT_CUDA();
  NN_SKIP_WITHOUT_CIFAR();
  const Cifar100& train = cached(Split::Train);
  BatchSampler cpu(train.images, Device::CPU, 64, 5);
  BatchSampler gpu(train.images, Device::CUDA, 64, 5);
  for (int64_t epoch : {0, 7}) {
    cpu.set_epoch(epoch);
    gpu.set_epoch(epoch);
    ASSERT_EQ(gpu.order(), cpu.order());
    Tensor out = Tensor::full({64, 3, 32, 32}, std::nan(""), DType::F32, Device::CUDA);  // poisoned
    for (int64_t index : {int64_t{0}, int64_t{123}, cpu.batches_per_epoch() - 1}) {
      gpu.batch_into(index, out);
      const std::vector<double> want = cpu.batch(index).to_vector();
      const std::vector<double> got = out.to_vector();
      const std::vector<double> got_fresh = gpu.batch(index).to_vector();
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        // float -> double is exact, so == on doubles is bit equality of the floats.
        ASSERT_EQ(got[i], want[i]) << "epoch " << epoch << ", batch " << index << ", element " << i;
        ASSERT_EQ(got_fresh[i], want[i]) << "epoch " << epoch << ", batch " << index << ", element " << i;
      }
    }
  }
}

}  // namespace
}  // namespace nn::test

namespace nn::test {
namespace {

// Something other than the file in train.bin's place is named for what it is, not "missing".
TEST(Cifar100, ADirectoryFifoOrDanglingLinkIsNamedForWhatItIs) {
  const TempDir tmp("nn_cifar_odd");
  const std::filesystem::path& dir = tmp.path();
  std::filesystem::create_directory(dir / "train.bin");
  expect_error_containing([&] { data::load_cifar100(dir.string(), Split::Train); }, {"train.bin", "is a directory"});
  ASSERT_EQ(::mkfifo((dir / "test.bin").c_str(), 0600), 0);
  expect_error_containing([&] { data::load_cifar100(dir.string(), Split::Test); }, {"test.bin", "not a regular file"});
  std::filesystem::remove(dir / "test.bin");
  std::filesystem::create_symlink(dir / "nowhere.bin", dir / "test.bin");
  expect_error_containing([&] { data::load_cifar100(dir.string(), Split::Test); },
                          {"test.bin", "symbolic link to nothing", "nowhere.bin"});
}

}  // namespace
}  // namespace nn::test
