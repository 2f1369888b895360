// cifar100.h — the CIFAR-100 reader and the training batch sampler.
//
// File format (the official "binary version", https://www.cs.toronto.edu/~kriz/cifar.html):
// train.bin holds 50000 records and test.bin 10000 (a slice: the first N of them), each 3074 bytes:
//   byte 0         coarse label (superclass), 0..19
//   byte 1         fine label (class), 0..99
//   bytes 2..3073  the 32x32 image as three planes R, G, B, each row-major (1024 bytes per plane)
// so a record's pixels are already one NCHW image: load_cifar100() keeps them as bytes, in a
// uint8 (N, 3, 32, 32) tensor. tools/fetch_cifar100.sh puts the files in data/cifar-100-binary/.
//
// BatchSampler turns those bytes into training batches where training happens: the whole uint8
// set is uploaded to the device once (150 MB for train), and each batch is gathered through the
// epoch's shuffled order and scaled to [-1, 1] by one kernel (kernels/data.cu), writing into a
// tensor the caller keeps, so a training step neither allocates nor waits for the host.
// Tests: tests/test_data.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nn/tensor.h"

namespace nn::data {

constexpr int64_t kCifarChannels = 3;
constexpr int64_t kCifarSide = 32;
constexpr int64_t kCifarImageBytes = kCifarChannels * kCifarSide * kCifarSide;  // 3072
constexpr int64_t kCifarRecordBytes = 2 + kCifarImageBytes;                    // 3074
constexpr int64_t kCifarTrainRecords = 50000;
constexpr int64_t kCifarTestRecords = 10000;
constexpr int kCifarFineClasses = 100;
constexpr int kCifarCoarseClasses = 20;

enum class Split { Train, Test };

struct Cifar100 {
  Tensor images;  // uint8 (N, 3, 32, 32) on the CPU: R, G, B planes as in the file
  std::vector<uint8_t> fine_labels;    // N values in 0..99
  std::vector<uint8_t> coarse_labels;  // N values in 0..19
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

// dir/train.bin or dir/test.bin, the file load_cifar100(dir, split) reads.
std::string cifar100_file(const std::string& dir, Split split);

// 50000 for Train, 10000 for Test: the official files' record counts.
int64_t cifar100_official_records(Split split);

// How many records dir's file of `split` holds, from its size alone: any whole number from 1 to
// the official count, so a slice of the official file (the first N records, as
// tools/gpu_bundle.sh cuts for the GPU machine) reads like the whole. Throws nn::Error saying how
// to fetch the data when the file is missing, and "corrupt or truncated" when its size is not a
// whole number of records (or is zero, or more than the official count).
int64_t cifar100_records(const std::string& dir, Split split);

// Reads one split, checking the file's size (cifar100_records) and every label. A slice loads
// like the whole; the caller tells the user when size() is below cifar100_official_records().
Cifar100 load_cifar100(const std::string& dir, Split split);

// The CPU twin of gather_scale_cuda (kernels/kernels.h), same arguments and the same formula:
// out[b * sample_elems + j] = pixel_to_unit_range(images[order[first + b] * sample_elems + j]).
void gather_scale_cpu(const uint8_t* images, const int32_t* order, int64_t first, int64_t batch,
                      int64_t sample_elems, float* out);

// Shuffled, fixed-size batches of a uint8 image set, made on `device`.
//
// Epoch order: a permutation of 0..N-1 that depends on (seed, epoch) alone, so a resumed run
// that calls set_epoch(e) sees exactly the batches the uninterrupted run saw. It is Fisher-Yates
// on the host (for i = N-1 down to 1: swap order[i] with order[j], j uniform in [0, i], starting
// from the identity) driven by the engine's Philox-4x32-10 (kernels/rng_math.h); the k-th 32-bit
// word drawn in epoch e is
//   philox4x32_10(counter_lo = k / 4, counter_hi = kEpochOrderStream + e, key = seed).w[k % 4]
// The engine's random fills all use counter_hi = 0, so this stream never overlaps them, whatever
// the seeds. j is drawn without bias by Lemire's multiply-shift with rejection ("Fast random
// integer generation in an interval", 2019): with r = i + 1, m = word * r (64-bit), redraw while
// (m mod 2^32) < (2^32 mod r), then j = m >> 32.
//
// Batch b of the epoch holds images order[b*B .. b*B + B-1], scaled by pixel_to_unit_range()
// (kernels/data_math.h) to float32 in [-1, 1]. An epoch is N / B whole batches; the partial last
// batch is dropped, so every batch has the same shape (what a captured CUDA graph needs).
class BatchSampler {
 public:
  // Counter-high word of the epoch-order stream: "DATA" in ASCII, then the epoch in the low half.
  static constexpr uint64_t kEpochOrderStream = 0x4441544100000000ull;

  // images_u8: uint8 (N, C, H, W) on the CPU, copied once to `device`. Starts at epoch 0.
  BatchSampler(const Tensor& images_u8, Device device, int64_t batch_size, uint64_t seed);

  int64_t size() const { return num_images_; }  // N
  int64_t batch_size() const { return batch_size_; }
  Device device() const { return device_; }
  uint64_t seed() const { return seed_; }
  int64_t batches_per_epoch() const { return num_images_ / batch_size_; }

  // Draws epoch `epoch`'s order (0 <= epoch < 2^32) and uploads it to the device: one
  // host-to-device copy, ordered on the engine's stream after the batches already queued.
  void set_epoch(int64_t epoch);
  int64_t epoch() const { return epoch_; }
  const std::vector<int32_t>& order() const { return order_; }

  // Batch `index` (0 <= index < batches_per_epoch()) as float32 (B, C, H, W) on the device.
  Tensor batch(int64_t index) const;
  // The same into `out` (float32 (B, C, H, W) on the device): no allocation, nothing waits.
  void batch_into(int64_t index, Tensor& out) const;

  // The cursor form, for a step replayed as a CUDA graph: the batch index is an int64 counter on
  // the device, which batch_into_next reads in the gather kernel and advances by one, so every
  // launch argument is the same at every step. next_index() is its host mirror; seek() sets both
  // (between steps), set_epoch() seeks to 0, and advance_mirror(k) tells the mirror about k
  // batches a replayed graph took.
  void batch_into_next(Tensor& out);
  void seek(int64_t index);
  int64_t next_index() const { return next_index_; }
  void advance_mirror(int64_t batches) { next_index_ += batches; }

 private:
  Device device_;
  int64_t batch_size_;
  uint64_t seed_;
  int64_t num_images_;
  Shape sample_shape_;          // (C, H, W)
  int64_t sample_elems_;        // C * H * W
  Tensor images_;               // uint8 (N, C, H, W) on device_
  std::vector<int32_t> order_;  // this epoch's permutation, on the host
  Tensor order_device_;         // int32 (N) on device_; the same values, reused every epoch
  int64_t epoch_ = -1;
  // index in range, out float32 (B, C, H, W) on device_; `where` names the caller in the error.
  void check_batch(const char* where, int64_t index, const Tensor& out) const;
  Tensor cursor_;           // int64 (1) on device_: the next batch index of the epoch
  int64_t next_index_ = 0;  // its host mirror
};

}  // namespace nn::data
