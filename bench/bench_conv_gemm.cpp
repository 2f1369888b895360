// bench_conv_gemm.cpp — every cuDNN convolution / transposed convolution and cuBLAS GEMM call of
// the two presets' training step, at the models' layer shapes (bench/gan_layers.h) for batch 64
// and 256, through the engine's own wrappers (src/cuda/cudnn_conv.h, src/cuda/cublas_gemm.h), so
// the algorithm choice, workspace and math mode (FP32 unless nn::backend_settings().allow_tf32;
// --tf32 turns it on here) are exactly the engine's.
//
// Per layer, three cases: the layer's forward, its backward-data (gradient of its input) and its
// backward-filter. For a transposed convolution the cuDNN call behind each is named in brackets
// (its forward IS cuDNN's backward-data, and so on). Each case is validated before timing against
// a double-precision CPU reference on 64 sampled output elements (|err| <= 1e-4 * sum |terms|),
// then timed like every benchmark here (L2 flush, CUDA events, median) and reports TFLOP/s with
// FLOPs = 2 N K C R S P Q (gan_layers.h).
#include <cstring>
#include <memory>

#include "bench_util.h"
#include "cuda/cublas_gemm.h"
#include "cuda/cudnn_conv.h"
#include "gan_layers.h"

using namespace bench;
using gan_layers::Layer;

namespace {

enum class Dir { Fwd, BwdData, BwdFilter };  // directions of the equivalent convolution

nn::cuda::ConvShape shape_of(const Layer& l) {
  nn::cuda::ConvShape s;
  s.N = l.N; s.C = l.C; s.H = l.H; s.W = l.W; s.K = l.K; s.R = l.R; s.S = l.S; s.P = l.P; s.Q = l.Q;
  s.stride_h = s.stride_w = l.stride;
  s.pad_h = s.pad_w = l.pad;
  return s;
}

// Sampled CPU reference of the equivalent convolution's direction `d` at flat output index `o`:
// returns the value and the sum of |terms| (for the tolerance).
std::pair<double, double> reference(const Layer& l, Dir d, const std::vector<float>& x, const std::vector<float>& w,
                                    const std::vector<float>& y, int64_t o) {
  auto X = [&](int n, int c, int h, int ww) { return double(x[((int64_t(n) * l.C + c) * l.H + h) * l.W + ww]); };
  auto Wt = [&](int k, int c, int r, int s) { return double(w[((int64_t(k) * l.C + c) * l.R + r) * l.S + s]); };
  auto Y = [&](int n, int k, int p, int q) { return double(y[((int64_t(n) * l.K + k) * l.P + p) * l.Q + q]); };
  double v = 0, a = 0;
  if (d == Dir::Fwd) {  // o indexes y (N,K,P,Q)
    int q = int(o % l.Q), p = int(o / l.Q % l.P), k = int(o / (int64_t(l.Q) * l.P) % l.K),
        n = int(o / (int64_t(l.Q) * l.P * l.K));
    for (int c = 0; c < l.C; ++c)
      for (int r = 0; r < l.R; ++r)
        for (int s = 0; s < l.S; ++s) {
          int h = p * l.stride - l.pad + r, ww = q * l.stride - l.pad + s;
          if (h < 0 || h >= l.H || ww < 0 || ww >= l.W) continue;
          double t = X(n, c, h, ww) * Wt(k, c, r, s);
          v += t; a += std::fabs(t);
        }
  } else if (d == Dir::BwdData) {  // o indexes x (N,C,H,W); y holds dy
    int ww = int(o % l.W), h = int(o / l.W % l.H), c = int(o / (int64_t(l.W) * l.H) % l.C),
        n = int(o / (int64_t(l.W) * l.H * l.C));
    for (int k = 0; k < l.K; ++k)
      for (int r = 0; r < l.R; ++r)
        for (int s = 0; s < l.S; ++s) {
          int ph = h + l.pad - r, qw = ww + l.pad - s;
          if (ph < 0 || qw < 0 || ph % l.stride || qw % l.stride) continue;
          int p = ph / l.stride, q = qw / l.stride;
          if (p >= l.P || q >= l.Q) continue;
          double t = Y(n, k, p, q) * Wt(k, c, r, s);
          v += t; a += std::fabs(t);
        }
  } else {  // o indexes w (K,C,R,S); y holds dy
    int s = int(o % l.S), r = int(o / l.S % l.R), c = int(o / (int64_t(l.S) * l.R) % l.C),
        k = int(o / (int64_t(l.S) * l.R * l.C));
    for (int n = 0; n < l.N; ++n)
      for (int p = 0; p < l.P; ++p)
        for (int q = 0; q < l.Q; ++q) {
          int h = p * l.stride - l.pad + r, ww = q * l.stride - l.pad + s;
          if (h < 0 || h >= l.H || ww < 0 || ww >= l.W) continue;
          double t = X(n, c, h, ww) * Y(n, k, p, q);
          v += t; a += std::fabs(t);
        }
  }
  return {v, a};
}

// One enqueue of direction d of layer l. Linear layers (row-major, W stored (out, in) as
// PyTorch): forward y = x W^T, backward-data dx = dy W, backward-filter dW = dy^T x.
void launch(const Layer& l, Dir d, const float* x, const float* w, float* y, float* dx, float* dw, const float* dy) {
  if (l.linear) {
    const int N = l.N, in = l.C, out = l.K;
    if (d == Dir::Fwd) nn::cuda::gemm_rowmajor(false, true, N, out, in, 1.f, x, in, w, in, 0.f, y, out);
    else if (d == Dir::BwdData) nn::cuda::gemm_rowmajor(false, false, N, in, out, 1.f, dy, out, w, in, 0.f, dx, in);
    else nn::cuda::gemm_rowmajor(true, false, out, in, N, 1.f, dy, out, x, in, 0.f, dw, in);
    return;
  }
  const nn::cuda::ConvShape s = shape_of(l);
  if (d == Dir::Fwd) nn::cuda::conv_forward(s, x, w, y, 0.f);
  else if (d == Dir::BwdData) nn::cuda::conv_backward_data(s, w, dy, dx, 0.f);
  else nn::cuda::conv_backward_filter(s, x, dy, dw, 0.f);
}

// The layer-level name of a direction, with the library call behind it.
std::string dir_name(const Layer& l, Dir d) {
  if (l.linear) return d == Dir::Fwd ? "fwd[gemm]" : d == Dir::BwdData ? "bwd_data[gemm]" : "bwd_filter[gemm]";
  if (!l.transposed) return d == Dir::Fwd ? "fwd" : d == Dir::BwdData ? "bwd_data" : "bwd_filter";
  // Transposed: layer forward = cuDNN backward-data, layer backward-data = cuDNN forward.
  return d == Dir::BwdData ? "fwd[cudnn_bwd_data]" : d == Dir::Fwd ? "bwd_data[cudnn_fwd]" : "bwd_filter[cudnn_bwd_filter]";
}

void add_case(const std::string& prefix, const Layer& l, Dir d) {
  auto validated = std::make_shared<bool>(false);
  std::string name = prefix + "/" + l.name + "/" + dir_name(l, d);
  for (auto& ch : name) if (ch == ' ') ch = '_';
  benchmark::RegisterBenchmark(name.c_str(), [l, d, validated](benchmark::State& st) {
    const int64_t nx = int64_t(l.N) * l.C * l.H * l.W, nw = int64_t(l.K) * l.C * l.R * l.S,
                  ny = int64_t(l.N) * l.K * l.P * l.Q;
    auto hx = random_floats(nx, -1, 1, 1), hw = random_floats(nw, -0.1f, 0.1f, 2), hy = random_floats(ny, -1, 1, 3);
    DeviceBuffer<float> x(nx), w(nw), dy(ny), out(d == Dir::Fwd ? ny : d == Dir::BwdData ? nx : nw);
    x.upload(hx);
    w.upload(hw);
    dy.upload(hy);
    float* o = out.ptr;
    auto run = [&] { launch(l, d, x.ptr, w.ptr, o, o, o, dy.ptr); };
    run();  // also picks and caches the algorithm (cudnnFind) outside the timed loop
    if (!*validated) {
      std::vector<float> got = out.download();
      std::mt19937_64 gen(7);
      for (int i = 0; i < 64; ++i) {
        int64_t idx = int64_t(gen() % got.size());
        auto [want, sum_abs] = reference(l, d, hx, hw, hy, idx);
        if (!(std::fabs(got[idx] - want) <= 1e-4 * sum_abs + 1e-6)) {
          std::ostringstream os;
          os.precision(9);
          os << "validation failed: output[" << idx << "] = " << got[idx] << ", CPU reference " << want;
          st.SkipWithError(os.str().c_str());
          return;
        }
      }
      *validated = true;
    }
    double t = time_loop(st, run);
    report_flops(st, t, l.flops());
  })
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}

void register_all() {
  for (int B : {64, 256}) {
    for (const char* preset : {"dcgan", "keras"}) {
      const int w = std::string(preset) == "dcgan" ? 128 : 256;
      for (const Layer& l : gan_layers::layers(preset, B, w, 100)) {
        for (Dir d : {Dir::Fwd, Dir::BwdData, Dir::BwdFilter}) {
          const bool first = (l.name[1] == '0');
          // Skip only what no training step runs: G's first layer never needs backward-data
          // (its input is noise). D's first layer does (G's gradient flows through it).
          const bool layer_bwd_data = l.transposed ? d == Dir::Fwd : d == Dir::BwdData;
          if (first && l.net == 'G' && layer_bwd_data) continue;
          add_case(std::string(preset) + "/b" + std::to_string(B), l, d);
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  // --tf32: let cuBLAS/cuDNN use TF32 tensor cores (the engine's backend_settings().allow_tf32).
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--tf32") == 0) {
      nn::backend_settings().allow_tf32 = true;
      for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
      --argc;
      break;
    }
  }
  return bench::bench_main(argc, argv, "bench_conv_gemm", register_all);
}
