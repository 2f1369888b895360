// test_util.h — the two checks every op gets (DESIGN.md, "Tests"):
//
//  * gradcheck(f, inputs): on the CPU in float64, draws a random upstream gradient g, sets
//    L = <g, f(x)>, and compares autograd's dL/dx with central differences
//    (L(x + eps e_i) - L(x - eps e_i)) / 2 eps for every element of every input that requires grad.
//  * cuda_parity(f, inputs): runs f on float32 copies of the inputs on the CPU and on CUDA, with
//    new tensors poisoned with NaN, and compares the outputs and the gradients of L = <g, f(x)>
//    element by element: |cuda - cpu| <= atol + rtol |cpu|, reporting the worst element.
//    Skips itself (GTEST_SKIP) with the reason when no GPU is usable.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <functional>
#include <string>
#include <vector>

#include "nn/autograd.h"
#include "nn/backend.h"
#include "nn/ops.h"
#include "nn/tensor.h"

namespace nn::test {

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

// A float64 CPU tensor with values drawn uniformly from [lo, hi).
Tensor rand_tensor(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0,
                   DType dtype = DType::F64);

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-7;
  double rtol = 1e-5;
  uint64_t seed = 1234;
};
// Adds a failure naming the input, element, analytic and numeric value when any differ.
void gradcheck(const OpFn& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt = {});

struct ParityOptions {
  double atol = 1e-5;
  double rtol = 1e-4;
  uint64_t seed = 4321;
};
void cuda_parity(const OpFn& f, const std::vector<Tensor>& inputs, const ParityOptions& opt = {});

// A fresh, empty folder under the system temp dir (unique per process and object), removed with
// everything in it when the object goes.
class TempDir {
 public:
  explicit TempDir(const std::string& name = "tmp");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string operator/(const std::string& name) const { return file(name); }

 private:
  std::filesystem::path path_;
};

// Where tools/fetch_cifar100.sh puts the real dataset (or $NN_CIFAR100_DIR: the GPU check
// points it at the slice it carries), and whether train.bin and test.bin are there.
std::string cifar100_dir();
bool cifar100_present();
// Both files have the official number of records (50,000 and 10,000), not a slice.
bool cifar100_is_full_size();

// The message of the nn::Error that f throws, or "" when it throws none.
std::string error_message(const std::function<void()>& f);

// Runs a shell command line; exit_code is -1 when it did not exit normally (a signal).
struct RunResult {
  int exit_code;
  std::string output;  // what it printed on stdout (redirect stderr into it with 2>&1)
};
RunResult run_command(const std::string& cmd);

// gan_train's metrics.csv as rows of numbers (step, epoch, the five values), checking its header.
std::vector<std::vector<double>> read_metrics(const std::string& path);

// A whole file's bytes, and writing bytes as a whole file (truncating): for the tests that damage
// files on purpose.
std::vector<uint8_t> read_file_bytes(const std::string& path);
void write_file_bytes(const std::string& path, const std::vector<uint8_t>& bytes);
// Runs f, expects an nn::Error, and checks that its message contains every one of `parts`.
void expect_error_containing(const std::function<void()>& f, const std::vector<std::string>& parts);

// Worst |a - b| - (atol + rtol |b|) over all elements; describes the worst element in `where`.
bool all_close(const std::vector<double>& a, const std::vector<double>& b, double atol, double rtol,
               std::string* where);

}  // namespace nn::test

// Tests on the real CIFAR-100 files skip, saying how to get them, when they are absent
// (tools/test.sh fetches them before ctest, so in CI they are there).
#define NN_SKIP_WITHOUT_CIFAR()                                                                      \
  do {                                                                                               \
    if (!::nn::test::cifar100_present())                                                             \
      GTEST_SKIP() << "CIFAR-100 is not in " << ::nn::test::cifar100_dir()                          \
                   << ": run tools/fetch_cifar100.sh (CIFAR100_ARCHIVE=<archive> to use a local copy)"; \
  } while (0)

// Tests of the official files' exact contents (sizes, known records) also skip on a slice.
#define NN_SKIP_WITHOUT_FULL_CIFAR()                                                                 \
  do {                                                                                               \
    NN_SKIP_WITHOUT_CIFAR();                                                                         \
    if (!::nn::test::cifar100_is_full_size())                                                        \
      GTEST_SKIP() << ::nn::test::cifar100_dir() << " holds a CIFAR-100 slice, not the official files"; \
  } while (0)

#define NN_SKIP_WITHOUT_CUDA()                                                          \
  do {                                                                                  \
    if (!::nn::cuda_available())                                                        \
      GTEST_SKIP() << "needs a CUDA GPU: " << ::nn::cuda_device_description();          \
  } while (0)
