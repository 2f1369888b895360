// cifar100.cpp — reading CIFAR-100's binary files and making shuffled batches (cifar100.h has
// the file format, the shuffle's exact definition and the scaling formula).
#include "data/cifar100.h"

#include "nn/step_state.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numeric>
#include <system_error>
#include <utility>

#include "data_math.h"
#include "rng_math.h"

#if defined(NN_WITH_CUDA)
#include "cuda/context.h"
#include "kernels.h"
#endif

namespace nn::data {

std::string cifar100_file(const std::string& dir, Split split) {
  return (std::filesystem::path(dir) / (split == Split::Train ? "train.bin" : "test.bin")).string();
}

namespace {

[[noreturn]] void throw_corrupt(const std::string& path, const std::string& what) {
  throw_error(str_cat("CIFAR-100 file ", path, " is corrupt", what, "; run tools/fetch_cifar100.sh again"));
}

}  // namespace

int64_t cifar100_official_records(Split split) {
  return split == Split::Train ? kCifarTrainRecords : kCifarTestRecords;
}

int64_t cifar100_records(const std::string& dir, Split split) {
  const std::string path = cifar100_file(dir, split);
  const int64_t official = cifar100_official_records(split);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    // Say what is actually there: a directory, a FIFO or a dangling link is not "missing".
    namespace fs = std::filesystem;
    const fs::file_status link = fs::symlink_status(path, ec), target = fs::status(path, ec);
    if (fs::is_symlink(link) && !fs::exists(target)) {
      throw_error(str_cat("CIFAR-100 file ", path, " is a symbolic link to nothing (", fs::read_symlink(path, ec).string(),
                          "); run tools/fetch_cifar100.sh"));
    }
    if (fs::is_directory(target)) throw_error(str_cat("CIFAR-100 file ", path, " is a directory, not the data file"));
    if (fs::exists(target)) {
      throw_error(str_cat("CIFAR-100 file ", path, " is not a regular file (a FIFO, socket or device)"));
    }
    throw_error(str_cat("CIFAR-100 not found: ", path,
                        " is missing; run tools/fetch_cifar100.sh (or set CIFAR100_ARCHIVE to the archive)"));
  }
  const uintmax_t file_bytes = std::filesystem::file_size(path, ec);
  NN_CHECK(!ec, "cannot read the size of ", path, ": ", ec.message());
  // A slice (tools/gpu_bundle.sh: the first records of the official file) is any whole number of
  // records from 1 up to the official count; anything else is damage.
  if (file_bytes == 0) throw_corrupt(path, " or truncated: it is empty");
  if (file_bytes % static_cast<uintmax_t>(kCifarRecordBytes) != 0) {
    throw_corrupt(path, str_cat(" or truncated: ", file_bytes, " bytes is not a whole number of ", kCifarRecordBytes,
                                "-byte records (the official file has ", official * kCifarRecordBytes, ")"));
  }
  const int64_t records = static_cast<int64_t>(file_bytes / static_cast<uintmax_t>(kCifarRecordBytes));
  if (records > official) {
    throw_corrupt(path, str_cat(": ", records, " records, more than the official ", official));
  }
  return records;
}

Cifar100 load_cifar100(const std::string& dir, Split split) {
  const std::string path = cifar100_file(dir, split);
  const int64_t records = cifar100_records(dir, split);
  const int64_t expected_bytes = records * kCifarRecordBytes;

  // The whole file in one read, straight into the storage that will hold the images.
  Tensor raw = Tensor::empty({expected_bytes}, DType::U8);
  uint8_t* bytes = raw.data<uint8_t>();
  {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    NN_CHECK(file != nullptr, "cannot open ", path, ": ", std::strerror(errno));
    const size_t got = std::fread(bytes, 1, static_cast<size_t>(expected_bytes), file.get());
    if (got != static_cast<size_t>(expected_bytes)) {
      throw_corrupt(path, str_cat(" or truncated: read ", got, " bytes, expected ", expected_bytes));
    }
  }

  // Then compact it in place: record r's labels are taken out and its 3072 pixel bytes slide
  // down from r*3074+2 to r*3072. Going forward is safe: the destination always starts at or
  // before the source (memmove handles the overlap) and ends at (r+1)*3072 <= (r+1)*3074, before
  // record r+1's labels. The images are then the first N*3072 bytes of the same storage.
  Cifar100 set;
  set.coarse_labels.resize(static_cast<size_t>(records));
  set.fine_labels.resize(static_cast<size_t>(records));
  for (int64_t r = 0; r < records; ++r) {
    const uint8_t* record = bytes + r * kCifarRecordBytes;
    const uint8_t coarse = record[0], fine = record[1];
    if (coarse >= kCifarCoarseClasses) {
      throw_corrupt(path, str_cat(": record ", r, " has coarse label ", int(coarse), " (must be below ",
                                  kCifarCoarseClasses, ")"));
    }
    if (fine >= kCifarFineClasses) {
      throw_corrupt(path,
                    str_cat(": record ", r, " has fine label ", int(fine), " (must be below ", kCifarFineClasses, ")"));
    }
    set.coarse_labels[static_cast<size_t>(r)] = coarse;
    set.fine_labels[static_cast<size_t>(r)] = fine;
    std::memmove(bytes + r * kCifarImageBytes, record + 2, static_cast<size_t>(kCifarImageBytes));
  }

  // A view of the compacted prefix (the storage keeps 2N spare bytes at its end, 100 KB for
  // train: cheaper than copying 150 MB into a tensor of the exact size).
  set.images = raw.view_at(0, {records, kCifarChannels, kCifarSide, kCifarSide});
  return set;
}

void gather_scale_cpu(const uint8_t* images, const int32_t* order, int64_t first, int64_t batch,
                      int64_t sample_elems, float* out) {
  for (int64_t b = 0; b < batch; ++b) {
    const uint8_t* src = images + static_cast<int64_t>(order[first + b]) * sample_elems;
    float* dst = out + b * sample_elems;
    for (int64_t j = 0; j < sample_elems; ++j) dst[j] = pixel_to_unit_range(src[j]);
  }
}

// ------------------------------------------------------------------ BatchSampler

namespace {

// The 32-bit words of one epoch's stream, in order (cifar100.h gives the formula).
class EpochWords {
 public:
  EpochWords(uint64_t seed, int64_t epoch)
      : seed_(seed), counter_hi_(BatchSampler::kEpochOrderStream + static_cast<uint64_t>(epoch)) {}
  uint32_t next() {
    if (k_ % 4 == 0) block_ = philox4x32_10(k_ / 4, counter_hi_, seed_);
    return block_.w[k_++ % 4];
  }

 private:
  uint64_t seed_, counter_hi_;
  uint64_t k_ = 0;
  Philox4 block_{};
};

// Uniform integer in [0, range), range >= 1, without bias (Lemire 2019). word * range spreads
// the 2^32 words over `range` buckets of floor or ceil(2^32 / range) words each; rejecting the
// (2^32 mod range) lowest low halves leaves exactly floor(2^32 / range) words per bucket. The
// modulo is computed only when a rejection is possible at all, which is rare for small ranges.
uint32_t uniform_below(EpochWords& words, uint32_t range) {
  uint64_t m = static_cast<uint64_t>(words.next()) * range;
  uint32_t low = static_cast<uint32_t>(m);
  if (low < range) {
    const uint32_t threshold = static_cast<uint32_t>(-range) % range;  // 2^32 mod range
    while (low < threshold) {
      m = static_cast<uint64_t>(words.next()) * range;
      low = static_cast<uint32_t>(m);
    }
  }
  return static_cast<uint32_t>(m >> 32);
}

}  // namespace

BatchSampler::BatchSampler(const Tensor& images_u8, Device device, int64_t batch_size, uint64_t seed)
    : device_(device), batch_size_(batch_size), seed_(seed) {
  check_defined("BatchSampler", images_u8, "images");
  NN_CHECK(images_u8.dtype() == DType::U8 && images_u8.device() == Device::CPU && images_u8.dim() == 4,
           "BatchSampler: images must be uint8 (N, C, H, W) on the CPU, got ", images_u8.str());
  num_images_ = images_u8.size(0);
  NN_CHECK(num_images_ <= INT32_MAX, "BatchSampler: ", num_images_, " images do not fit the int32 order");
  NN_CHECK(batch_size > 0 && batch_size <= num_images_, "BatchSampler: batch size ", batch_size,
           " must be between 1 and the number of images (", num_images_, ")");
  sample_shape_.assign(images_u8.shape().begin() + 1, images_u8.shape().end());
  sample_elems_ = shape_numel(sample_shape_);
  images_ = images_u8.to(device);  // the one upload of the dataset
  order_device_ = Tensor::empty({num_images_}, DType::I32, device);
  cursor_ = make_counter(device, 0);
  set_epoch(0);
}

void BatchSampler::set_epoch(int64_t epoch) {
  NN_CHECK(epoch >= 0 && epoch <= static_cast<int64_t>(UINT32_MAX), "BatchSampler::set_epoch: epoch ", epoch,
           " out of range [0, 2^32)");
  order_.resize(static_cast<size_t>(num_images_));
  std::iota(order_.begin(), order_.end(), 0);
  EpochWords words(seed_, epoch);
  for (int64_t i = num_images_ - 1; i > 0; --i) {
    const uint32_t j = uniform_below(words, static_cast<uint32_t>(i + 1));
    std::swap(order_[static_cast<size_t>(i)], order_[j]);
  }
  // On CUDA the copy is queued on the engine's stream, so batches of the previous epoch that are
  // still in flight read the old order; it is the one host-to-device copy of the epoch.
  Tensor staged = Tensor::empty({num_images_}, DType::I32);
  std::memcpy(staged.raw(), order_.data(), order_.size() * sizeof(int32_t));
  order_device_.copy_(staged);
  epoch_ = epoch;
  seek(0);
}

void BatchSampler::seek(int64_t index) {
  NN_CHECK(index >= 0 && index <= batches_per_epoch(), "BatchSampler::seek: batch ", index,
           " out of range: an epoch has ", batches_per_epoch(), " batches of ", batch_size_);
  set_counter(cursor_, index);
  next_index_ = index;
}

void BatchSampler::batch_into_next(Tensor& out) {
  if (device_ != Device::CUDA) {  // the CPU twin: the same counter, read and advanced here
    const int64_t index = counter_value(cursor_);
    batch_into(index, out);
    counter_take_(cursor_, 1, /*want_start=*/false);
    next_index_ = index + 1;
    return;
  }
  // The host checks its mirror (the device cursor moves in step with it); the kernel reads the
  // cursor, then a one-thread kernel advances it.
  check_batch("BatchSampler::batch_into_next", next_index_, out);
#if defined(NN_WITH_CUDA)
  gather_scale_cuda(images_.data<uint8_t>(), order_device_.data<int32_t>(), cursor_.data<int64_t>(), batch_size_,
                    sample_elems_, out.data<float>(), cuda::stream());
#endif
  counter_take_(cursor_, 1, /*want_start=*/false);
  ++next_index_;
}

Tensor BatchSampler::batch(int64_t index) const {
  Shape shape{batch_size_};
  shape.insert(shape.end(), sample_shape_.begin(), sample_shape_.end());
  Tensor out = Tensor::empty(shape, DType::F32, device_);
  batch_into(index, out);
  return out;
}

void BatchSampler::check_batch(const char* where, int64_t index, const Tensor& out) const {
  NN_CHECK(index >= 0 && index < batches_per_epoch(), "BatchSampler: batch ", index, " out of range: an epoch has ",
           batches_per_epoch(), " batches of ", batch_size_);
  check_defined(where, out, "out");
  Shape want{batch_size_};
  want.insert(want.end(), sample_shape_.begin(), sample_shape_.end());
  NN_CHECK(out.dtype() == DType::F32 && out.device() == device_ && out.shape() == want, where,
           ": out must be float32 ", shape_str(want), " on ", device_name(device_), ", got ", out.str());
}

void BatchSampler::batch_into(int64_t index, Tensor& out) const {
  check_batch("BatchSampler::batch_into", index, out);
  const int64_t first = index * batch_size_;
  if (device_ == Device::CUDA) {
#if defined(NN_WITH_CUDA)
    gather_scale_cuda(images_.data<uint8_t>(), order_device_.data<int32_t>(), first, batch_size_, sample_elems_,
                      out.data<float>(), cuda::stream());
#endif
    return;  // a CPU-only build never gets here: the constructor's upload threw
  }
  gather_scale_cpu(images_.data<uint8_t>(), order_device_.data<int32_t>(), first, batch_size_, sample_elems_,
                   out.data<float>());
}

}  // namespace nn::data
