// fuzz_cifar100.cpp — libFuzzer harness of the CIFAR-100 reader (data/cifar100.h).
//
// Property: on any bytes as train.bin, cifar100_records and load_cifar100 either succeed (a whole
// number of records, every label in range) or throw nn::Error; anything else is a finding. A loaded
// set must have as many images as records, each (3, 32, 32).
//
// Seeds: fuzz/corpus/cifar100 (one and two records, labels at the ends of their ranges).
#include <cstdint>
#include <cstdlib>

#include "data/cifar100.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = nn::fuzz::scratch_dir();
  nn::fuzz::write_input(nn::data::cifar100_file(dir, nn::data::Split::Train), data, size);
  try {
    const int64_t records = nn::data::cifar100_records(dir, nn::data::Split::Train);
    const nn::data::Cifar100 set = nn::data::load_cifar100(dir, nn::data::Split::Train);
    if (set.size() != records || set.images.shape() != nn::Shape({records, 3, 32, 32})) std::abort();
  } catch (const nn::Error&) {
  }
  return 0;
}
