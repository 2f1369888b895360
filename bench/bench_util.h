// bench_util.h — what bench_kernels and bench_conv_gemm share (see bench/README.md).
//
//   * skip_main(): the benchmarks' main. Without a usable GPU it prints
//     "<binary>: skipped: no GPU (<why>)" and exits 0, before any benchmark is registered, so
//     CI machines without a GPU stay green (ctest Bench.SkipsWithoutGpu checks it).
//   * Timing: every timed iteration first overwrites an L2 flush buffer (2x the L2 size, one
//     cudaMemsetAsync), then brackets the launch with two CUDA events on the engine's stream;
//     the elapsed GPU time goes to Google Benchmark as manual time (UseManualTime), and the
//     counters are computed from the MEDIAN of the iterations' times, not their mean.
//   * Ceiling: the device-to-device copy bandwidth is measured once per process
//     (cudaMemcpyAsync of up to 1 GiB, bytes read + written, median of 20) and memory-bound
//     kernels report GB/s and that as %copyBW.
//   * Validation: each case compares one launch against its CPU twin before timing; a mismatch
//     turns the case into an error (SkipWithError) naming the worst element.
#pragma once
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/context.h"
#include "nn/backend.h"
#include "nn/tensor.h"

namespace bench {

#define BENCH_CUDA(call)                                                                               \
  do {                                                                                                 \
    cudaError_t bench_e_ = (call);                                                                     \
    if (bench_e_ != cudaSuccess) {                                                                     \
      std::fprintf(stderr, "CUDA error %s in %s at %s:%d\n", cudaGetErrorString(bench_e_), #call, __FILE__, \
                   __LINE__);                                                                          \
      std::exit(1);                                                                                    \
    }                                                                                                  \
  } while (0)

inline cudaStream_t stream() { return nn::cuda::stream(); }

// A plain device buffer (cudaMalloc, outside the engine's pool so it never shows in the
// engine's memory statistics).
template <class T>
struct DeviceBuffer {
  T* ptr = nullptr;
  size_t n = 0;
  explicit DeviceBuffer(size_t count) : n(count) { BENCH_CUDA(cudaMalloc(reinterpret_cast<void**>(&ptr), std::max<size_t>(1, n) * sizeof(T))); }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void upload(const std::vector<T>& v) {
    BENCH_CUDA(cudaMemcpyAsync(ptr, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice, stream()));
    BENCH_CUDA(cudaStreamSynchronize(stream()));
  }
  std::vector<T> download() const {
    std::vector<T> v(n);
    BENCH_CUDA(cudaStreamSynchronize(stream()));
    BENCH_CUDA(cudaMemcpy(v.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost));
    return v;
  }
};

// Uniform floats in [lo, hi) from splitmix64 (fast enough for 64 Mi-element buffers, which
// Google Benchmark rebuilds on each of its calls to a case).
inline std::vector<float> random_floats(size_t n, float lo, float hi, uint32_t seed) {
  uint64_t state = 0x9E3779B97F4A7C15ull * (uint64_t(seed) + 1);
  std::vector<float> v(n);
  for (auto& x : v) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    float u = float(z >> 40) * (1.0f / 16777216.0f);  // 24 bits: [0, 1)
    x = lo + (hi - lo) * u;
    if (x >= hi) x = lo;  // rounding could reach hi
  }
  return v;
}

inline std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  uint64_t state = 0x9E3779B97F4A7C15ull * (uint64_t(seed) + 1);
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    std::memcpy(v.data() + i, &z, std::min<size_t>(8, n - i));
  }
  return v;
}

// ------------------------------------------------------------------ L2 flush and timing
struct L2Flush {
  void* buf = nullptr;
  size_t bytes = 0;
  static L2Flush& get() {
    static L2Flush f;
    if (!f.buf) {
      int dev = 0, l2 = 0;
      BENCH_CUDA(cudaGetDevice(&dev));
      BENCH_CUDA(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
      f.bytes = std::max<size_t>(size_t(2) * static_cast<size_t>(l2), size_t(64) << 20);
      BENCH_CUDA(cudaMalloc(&f.buf, f.bytes));
    }
    return f;
  }
  void flush() { BENCH_CUDA(cudaMemsetAsync(buf, 0, bytes, stream())); }
};

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// Times `launch` once per benchmark iteration (L2 flushed first); returns the median seconds.
inline double time_loop(benchmark::State& state, const std::function<void()>& launch) {
  L2Flush& l2 = L2Flush::get();
  cudaEvent_t start, stop;
  BENCH_CUDA(cudaEventCreate(&start));
  BENCH_CUDA(cudaEventCreate(&stop));
  std::vector<double> times;
  for (auto _ : state) {
    l2.flush();
    BENCH_CUDA(cudaEventRecord(start, stream()));
    launch();
    BENCH_CUDA(cudaEventRecord(stop, stream()));
    BENCH_CUDA(cudaEventSynchronize(stop));
    float ms = 0;
    BENCH_CUDA(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(ms * 1e-3);
    times.push_back(ms * 1e-3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return median(times);
}

// ------------------------------------------------------------------ copy-bandwidth ceiling
// Device-to-device copy of up to 1 GiB (a quarter of free memory at most): bytes read + written
// over the median of 20 copies, in GB/s (1e9 bytes per second).
inline double copy_bandwidth_gbs() {
  static double gbs = -1;
  if (gbs > 0) return gbs;
  size_t free_b = 0, total_b = 0;
  BENCH_CUDA(cudaMemGetInfo(&free_b, &total_b));
  size_t bytes = std::min<size_t>(size_t(1) << 30, free_b / 4) & ~size_t(255);
  DeviceBuffer<char> a(bytes), b(bytes);
  BENCH_CUDA(cudaMemsetAsync(a.ptr, 1, bytes, stream()));
  cudaEvent_t start, stop;
  BENCH_CUDA(cudaEventCreate(&start));
  BENCH_CUDA(cudaEventCreate(&stop));
  std::vector<double> t;
  for (int i = 0; i < 23; ++i) {
    BENCH_CUDA(cudaEventRecord(start, stream()));
    BENCH_CUDA(cudaMemcpyAsync(b.ptr, a.ptr, bytes, cudaMemcpyDeviceToDevice, stream()));
    BENCH_CUDA(cudaEventRecord(stop, stream()));
    BENCH_CUDA(cudaEventSynchronize(stop));
    float ms = 0;
    BENCH_CUDA(cudaEventElapsedTime(&ms, start, stop));
    if (i >= 3) t.push_back(ms * 1e-3);  // the first copies warm up
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  gbs = 2.0 * static_cast<double>(bytes) / median(t) / 1e9;
  return gbs;
}

// Counters for a memory-bound case: `bytes` is the compulsory traffic of one launch (every input
// read once, every output written once; accumulating outputs count read + write).
inline void report_memory(benchmark::State& state, double median_s, double bytes) {
  const double gbs = bytes / median_s / 1e9;
  state.counters["median_us"] = median_s * 1e6;
  state.counters["GB/s"] = gbs;
  state.counters["%copyBW"] = 100.0 * gbs / copy_bandwidth_gbs();
  state.counters["bytes"] = bytes;
}

inline void report_flops(benchmark::State& state, double median_s, double flops) {
  state.counters["median_us"] = median_s * 1e6;
  state.counters["TFLOP/s"] = flops / median_s / 1e12;
  state.counters["GFLOP"] = flops / 1e9;
}

// ------------------------------------------------------------------ validation
// Compares got against want with |got - want| <= atol + rtol |want|; on failure returns a
// message naming the worst element (by excess over the tolerance), else "".
inline std::string compare(const std::vector<float>& got, const std::vector<double>& want, double atol, double rtol,
                           const std::string& what) {
  if (got.size() != want.size()) return what + ": size mismatch";
  double worst = 0;
  size_t at = 0;
  bool bad = false;
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    double excess = err - (atol + rtol * std::fabs(want[i]));
    if (!(excess <= 0)) {  // NaN counts as a failure
      if (!bad || excess > worst || std::isnan(excess)) {
        worst = excess;
        at = i;
      }
      bad = true;
    }
  }
  if (!bad) return "";
  std::ostringstream os;
  os.precision(9);
  os << "validation failed: " << what << "[" << at << "] = " << got[at] << ", CPU twin " << want[at];
  return os.str();
}

// Why there is no usable GPU, as one phrase starting with "no GPU".
inline std::string no_gpu_reason() {
  std::string d = nn::cuda_device_description();
  return d.rfind("no GPU", 0) == 0 ? d : "no GPU (" + d + ")";
}

// Registers the benchmarks (a callback) and runs them; without a GPU prints why and returns 0.
inline int bench_main(int argc, char** argv, const char* name, const std::function<void()>& register_all) {
  if (!nn::cuda_available()) {
    std::printf("%s: skipped: %s\n", name, no_gpu_reason().c_str());
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  std::printf("%s: %s\n", name, nn::cuda_device_description().c_str());
  std::printf("%s: device-to-device copy bandwidth (ceiling): %.1f GB/s\n", name, copy_bandwidth_gbs());
  benchmark::AddCustomContext("gpu", nn::cuda_device_description());
  benchmark::AddCustomContext("copy_bandwidth_GBps", std::to_string(copy_bandwidth_gbs()));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace bench
