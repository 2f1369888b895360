// test_util.cpp — gradcheck and CUDA-vs-CPU parity helpers (see test_util.h).
#include "test_util.h"

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "data/cifar100.h"
#include "nn/backend.h"

namespace nn::test {

// Every test compares the GPU with the CPU within float32 tolerances, which cuDNN's FFT and
// Winograd algorithms can exceed (and whether cudnnFind picks one depends on timing, so on what
// else the GPU is running): the test binary leaves them out, for every test, before main().
const bool kExactConvolutionsInTests = (backend_settings().exact_conv_algorithms = true);

Tensor rand_tensor(const Shape& shape, uint64_t seed, double lo, double hi, DType dtype) {
  Generator gen(seed);
  Tensor t = Tensor::empty(shape, dtype, Device::CPU);
  t.uniform_(gen, lo, hi);
  return t;
}

bool all_close(const std::vector<double>& a, const std::vector<double>& b, double atol, double rtol,
               std::string* where) {
  if (a.size() != b.size()) {
    if (where) *where = "sizes differ: " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
    return false;
  }
  double worst = -1e300;
  size_t worst_i = 0;
  bool ok = true;
  for (size_t i = 0; i < a.size(); ++i) {
    double excess = std::fabs(a[i] - b[i]) - (atol + rtol * std::fabs(b[i]));
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) excess = INFINITY;
    if (excess > worst) {
      worst = excess;
      worst_i = i;
    }
    if (!(excess <= 0)) ok = false;
  }
  if (where && !a.empty()) {
    std::ostringstream os;
    os.precision(10);
    os << "worst element " << worst_i << ": got " << a[worst_i] << ", expected " << b[worst_i] << " (|diff| "
       << std::fabs(a[worst_i] - b[worst_i]) << ", allowed " << atol + rtol * std::fabs(b[worst_i]) << ")";
    *where = os.str();
  }
  return ok;
}

TempDir::TempDir(const std::string& name) {
  static int counter = 0;
  path_ = std::filesystem::temp_directory_path() /
          ("nn_test_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string cifar100_dir() {
  const char* dir = std::getenv("NN_CIFAR100_DIR");
  if (dir != nullptr && *dir != 0) return dir;
  return std::string(NN_SOURCE_DIR) + "/data/cifar-100-binary";
}

bool cifar100_present() {
  return std::filesystem::is_regular_file(cifar100_dir() + "/train.bin") &&
         std::filesystem::is_regular_file(cifar100_dir() + "/test.bin");
}

bool cifar100_is_full_size() {
  std::error_code ec;
  return cifar100_present() &&
         std::filesystem::file_size(cifar100_dir() + "/train.bin", ec) ==
             static_cast<uintmax_t>(data::kCifarTrainRecords * data::kCifarRecordBytes) &&
         std::filesystem::file_size(cifar100_dir() + "/test.bin", ec) ==
             static_cast<uintmax_t>(data::kCifarTestRecords * data::kCifarRecordBytes);
}

std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

RunResult run_command(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  RunResult r{-1, ""};
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::vector<std::vector<double>> read_metrics(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::vector<double>> rows;
  std::getline(in, line);
  EXPECT_EQ(line, "step,epoch,loss_d,loss_g,d_x,d_g_z1,d_g_z2");
  while (std::getline(in, line)) {
    std::vector<double> row;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) row.push_back(std::stod(cell));
    rows.push_back(row);
  }
  return rows;
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void expect_error_containing(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an nn::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg;
  }
}

namespace {

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// L = <g, f(x)> through the ops (so backward runs through mul and sum too).
Tensor weighted_loss(const Tensor& y, const Tensor& g) { return sum(mul(y, g)); }

}  // namespace

void gradcheck(const OpFn& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  for (const Tensor& t : inputs) {
    if (t.defined()) {
      ASSERT_EQ(t.dtype(), DType::F64) << "gradcheck runs in float64";
    }
  }
  // Analytic gradients.
  for (const Tensor& t : inputs)
    if (t.defined()) t.impl().grad.reset();
  Tensor y = f(inputs);
  Tensor g = rand_tensor(y.shape(), opt.seed, -1.0, 1.0);
  weighted_loss(y, g).backward();
  std::vector<double> gv = g.to_vector();

  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    ASSERT_TRUE(x.grad().defined()) << "input " << k << " requires grad but got no gradient";
    std::vector<double> analytic = x.grad().to_vector();
    std::vector<double> numeric(analytic.size());
    double* px = x.data<double>();
    NoGradGuard no_grad;
    for (size_t i = 0; i < numeric.size(); ++i) {
      const double saved = px[i];
      px[i] = saved + opt.eps;
      double lp = dot(f(inputs).to_vector(), gv);
      px[i] = saved - opt.eps;
      double lm = dot(f(inputs).to_vector(), gv);
      px[i] = saved;
      numeric[i] = (lp - lm) / (2 * opt.eps);
    }
    std::string where;
    EXPECT_TRUE(all_close(analytic, numeric, opt.atol, opt.rtol, &where))
        << "gradient of input " << k << " " << shape_str(x.shape()) << ": " << where;
  }
}

void cuda_parity(const OpFn& f, const std::vector<Tensor>& inputs, const ParityOptions& opt) {
  if (!cuda_available()) GTEST_SKIP() << "needs a CUDA GPU: " << cuda_device_description();
  // Same float32 values on both devices.
  std::vector<Tensor> cpu, gpu;
  for (const Tensor& t : inputs) {
    if (!t.defined()) {
      cpu.emplace_back();
      gpu.emplace_back();
      continue;
    }
    Tensor c = t.detach().to(DType::F32).clone();
    Tensor d = c.to(Device::CUDA);
    if (t.requires_grad()) {
      c.requires_grad_();
      d.requires_grad_();
    }
    cpu.push_back(c);
    gpu.push_back(d);
  }
  Tensor y_cpu, y_gpu;
  {
    // Restores the setting even when f throws, so one failure cannot poison later tests.
    struct PoisonScope {
      bool saved = backend_settings().poison_new_tensors;
      PoisonScope() { backend_settings().poison_new_tensors = true; }
      ~PoisonScope() { backend_settings().poison_new_tensors = saved; }
    } poison;
    y_cpu = f(cpu);
    y_gpu = f(gpu);
  }
  ASSERT_EQ(y_cpu.shape(), y_gpu.shape());
  ASSERT_TRUE(y_gpu.is_cuda()) << "the op did not return a CUDA tensor for CUDA inputs";

  std::string where;
  EXPECT_TRUE(all_close(y_gpu.to_vector(), y_cpu.to_vector(), opt.atol, opt.rtol, &where))
      << "forward output " << shape_str(y_cpu.shape()) << ": " << where;

  if (!y_cpu.requires_grad()) return;
  Tensor g = rand_tensor(y_cpu.shape(), opt.seed, -1.0, 1.0, DType::F32);
  weighted_loss(y_cpu, g).backward();
  weighted_loss(y_gpu, g.to(Device::CUDA)).backward();
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!cpu[k].defined() || !cpu[k].requires_grad()) continue;
    ASSERT_TRUE(gpu[k].grad().defined()) << "CUDA backward gave no gradient for input " << k;
    EXPECT_TRUE(all_close(gpu[k].grad().to_vector(), cpu[k].grad().to_vector(), opt.atol, opt.rtol, &where))
        << "gradient of input " << k << " " << shape_str(cpu[k].shape()) << ": " << where;
  }
}

}  // namespace nn::test
