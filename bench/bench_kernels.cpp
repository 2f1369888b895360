// bench_kernels.cpp — one Google Benchmark case per hand-written CUDA kernel launcher
// (kernels/kernels.h), forward and backward, at the DCGAN's real shapes for both presets (each at
// its default batch and width: dcgan batch 64 width 128, keras batch 256 width 256), at the FID
// Inception-v3's shapes (batch 50: pooling, concat, resize, softmax) and at a size that fills the
// GPU ("big": 64 Mi elements, 256 MiB per float buffer, far beyond L2).
//
// Each case: random inputs -> one launch -> compared with the CPU twin (the shared functors of
// kernels/*_math.h, which the CPU engine uses too) -> timed (bench_util.h: L2 flushed before every
// iteration, CUDA events, median). All kernels here are memory-bound, so each reports GB/s over
// its compulsory traffic and %copyBW of the measured device-to-device copy bandwidth (target:
// >= 85%). Tiny launches (a loss over 64 outputs) are latency-bound; their GB/s means little and
// median_us is the number to read.
#include <cstdint>
#include <map>
#include <memory>
#include <numeric>

#include "bench_util.h"
#include "data_math.h"
#include "dropout_math.h"
#include "batchnorm_math.h"
#include "kernels.h"
#include "resize_math.h"
#include "softmax_math.h"
#include "spectral_norm_math.h"

using namespace bench;
using nn::ActKind;
using nn::LossKind;

namespace {

constexpr int64_t kBig = int64_t(64) << 20;  // elements of a "fills the GPU" case

// A case body: builds its buffers, validates (on its first successful call only: Google
// Benchmark calls it again with more iterations), times, reports; a mismatch is SkipWithError.
using CaseFn = std::function<void(benchmark::State&, bool validate)>;

void add_case(const std::string& name, CaseFn fn) {
  auto validated = std::make_shared<bool>(false);
  benchmark::RegisterBenchmark(name.c_str(),
                               [fn, validated](benchmark::State& st) {
                                 fn(st, !*validated);
                                 if (!st.error_occurred()) *validated = true;
                               })
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}

// Skips the state with the message when it is non-empty; returns whether it did.
bool fail(benchmark::State& st, const std::string& msg) {
  if (msg.empty()) return false;
  st.SkipWithError(msg.c_str());
  return true;
}

const char* act_name(ActKind k) {
  switch (k) {
    case ActKind::Relu: return "relu";
    case ActKind::LeakyRelu: return "leaky_relu";
    case ActKind::Tanh: return "tanh";
    default: return "sigmoid";
  }
}

// ------------------------------------------------------------------ activations
void act_cases(const std::string& tag, ActKind kind, int64_t n, float slope) {
  const std::string base = std::string(act_name(kind)) + "/" + tag + "/n=" + std::to_string(n);
  add_case("act_fwd/" + base, [=](benchmark::State& st, bool validate) {
    DeviceBuffer<float> x(n), y(n);
    auto hx = random_floats(n, -3, 3, 1);
    x.upload(hx);
    if (validate) {
      nn::activation_fwd_cuda(kind, x.ptr, y.ptr, n, slope, stream());
      std::vector<double> want(n);
      for (int64_t i = 0; i < n; ++i) want[i] = nn::act_forward<float>(kind, hx[i], slope);
      if (fail(st, compare(y.download(), want, 1e-6, 1e-5, "y"))) return;
    }
    double t = time_loop(st, [&] { nn::activation_fwd_cuda(kind, x.ptr, y.ptr, n, slope, stream()); });
    report_memory(st, t, 8.0 * n);
  });
  add_case("act_bwd/" + base, [=](benchmark::State& st, bool validate) {
    DeviceBuffer<float> xy(n), dy(n), dx(n);
    const bool out = nn::act_backward_uses_output(kind);
    auto hxy = random_floats(n, out ? (kind == ActKind::Tanh ? -0.99f : 0.01f) : -3.f, out ? 0.99f : 3.f, 2);
    auto hdy = random_floats(n, -1, 1, 3), hdx = random_floats(n, -1, 1, 4);
    xy.upload(hxy);
    dy.upload(hdy);
    dx.upload(hdx);
    if (validate) {
      nn::activation_bwd_cuda(kind, xy.ptr, dy.ptr, dx.ptr, n, slope, stream());
      std::vector<double> want(n);
      for (int64_t i = 0; i < n; ++i) want[i] = hdx[i] + hdy[i] * nn::act_derivative<float>(kind, hxy[i], slope);
      if (fail(st, compare(dx.download(), want, 1e-6, 1e-5, "dx"))) return;
    }
    double t = time_loop(st, [&] { nn::activation_bwd_cuda(kind, xy.ptr, dy.ptr, dx.ptr, n, slope, stream()); });
    report_memory(st, t, 16.0 * n);  // xy, dy read; dx read + written
  });
}

// ------------------------------------------------------------------ batchnorm (x as (N, C, HW))
void bn_cases(const std::string& tag, int N, int C, int HW) {
  const std::string base = tag + "/N=" + std::to_string(N) + ",C=" + std::to_string(C) + ",HW=" + std::to_string(HW);
  const int64_t n = int64_t(N) * C * HW;
  const float eps = 1e-5f, momentum = 0.1f;
  struct Host {
    std::vector<float> x, gamma, beta, mean, invstd;
  };
  // CPU statistics (double sums, float results) shared by the twins.
  auto make_host = [=]() {
    Host h;
    h.x = random_floats(n, -2, 2, 11);
    h.gamma = random_floats(C, 0.5, 1.5, 12);
    h.beta = random_floats(C, -0.5, 0.5, 13);
    h.mean.resize(C);
    h.invstd.resize(C);
    const double M = double(N) * HW;
    for (int c = 0; c < C; ++c) {
      double s = 0, s2 = 0;
      for (int b = 0; b < N; ++b)
        for (int j = 0; j < HW; ++j) s += h.x[(int64_t(b) * C + c) * HW + j];
      const double mu = s / M;
      for (int b = 0; b < N; ++b)
        for (int j = 0; j < HW; ++j) {
          double d = h.x[(int64_t(b) * C + c) * HW + j] - mu;
          s2 += d * d;
        }
      h.mean[c] = float(mu);
      h.invstd[c] = nn::bn_invstd<float>(float(s2 / M), eps);
    }
    return h;
  };
  add_case("batchnorm_fwd_train/" + base, [=](benchmark::State& st, bool validate) {
    Host h = make_host();
    DeviceBuffer<float> x(n), y(n), g(C), b(C), sm(C), si(C), rm(C), rv(C);
    x.upload(h.x);
    g.upload(h.gamma);
    b.upload(h.beta);
    rm.upload(std::vector<float>(C, 0.f));
    rv.upload(std::vector<float>(C, 1.f));
    if (validate) {
      nn::batchnorm_fwd_train_cuda(x.ptr, g.ptr, b.ptr, y.ptr, sm.ptr, si.ptr, rm.ptr, rv.ptr, N, C, HW, momentum, eps, 0, 0.0f,
                                   stream());
      std::vector<double> want(n);
      for (int64_t i = 0; i < n; ++i) {
        int c = int((i / HW) % C);
        want[i] = nn::bn_normalize<float>(h.x[i], h.mean[c], h.invstd[c], h.gamma[c], h.beta[c]);
      }
      if (fail(st, compare(y.download(), want, 1e-4, 1e-4, "y"))) return;
    }
    double t = time_loop(st, [&] {
      nn::batchnorm_fwd_train_cuda(x.ptr, g.ptr, b.ptr, y.ptr, sm.ptr, si.ptr, rm.ptr, rv.ptr, N, C, HW, momentum, eps, 0, 0.0f,
                                   stream());
    });
    report_memory(st, t, 8.0 * n);  // x read once, y written once (a two-pass kernel reads x twice)
  });
  add_case("batchnorm_fwd_eval/" + base, [=](benchmark::State& st, bool validate) {
    Host h = make_host();
    DeviceBuffer<float> x(n), y(n), g(C), b(C), sm(C), si(C), rm(C), rv(C);
    x.upload(h.x);
    g.upload(h.gamma);
    b.upload(h.beta);
    auto hrm = random_floats(C, -0.2, 0.2, 14), hrv = random_floats(C, 0.5, 2, 15);
    rm.upload(hrm);
    rv.upload(hrv);
    if (validate) {
      nn::batchnorm_fwd_eval_cuda(x.ptr, g.ptr, b.ptr, rm.ptr, rv.ptr, y.ptr, sm.ptr, si.ptr, N, C, HW, eps, 0, 0.0f, stream());
      std::vector<double> want(n);
      for (int64_t i = 0; i < n; ++i) {
        int c = int((i / HW) % C);
        want[i] = nn::bn_normalize<float>(h.x[i], hrm[c], nn::bn_invstd<float>(hrv[c], eps), h.gamma[c], h.beta[c]);
      }
      if (fail(st, compare(y.download(), want, 1e-5, 1e-5, "y"))) return;
    }
    double t = time_loop(st, [&] {
      nn::batchnorm_fwd_eval_cuda(x.ptr, g.ptr, b.ptr, rm.ptr, rv.ptr, y.ptr, sm.ptr, si.ptr, N, C, HW, eps, 0, 0.0f, stream());
    });
    report_memory(st, t, 8.0 * n);
  });
  add_case("batchnorm_bwd_train/" + base, [=](benchmark::State& st, bool validate) {
    Host h = make_host();
    auto hdy = random_floats(n, -1, 1, 16), hdx = random_floats(n, -1, 1, 17);
    DeviceBuffer<float> x(n), dy(n), dx(n), g(C), sm(C), si(C), dg(C), db(C);
    x.upload(h.x);
    dy.upload(hdy);
    dx.upload(hdx);
    g.upload(h.gamma);
    sm.upload(h.mean);
    si.upload(h.invstd);
    dg.upload(std::vector<float>(C, 0.f));
    db.upload(std::vector<float>(C, 0.f));
    if (validate) {
      nn::batchnorm_bwd_cuda(x.ptr, dy.ptr, g.ptr, nullptr, sm.ptr, si.ptr, dx.ptr, dg.ptr, db.ptr, N, C, HW, true, 0, 0.0f, stream());
      const double M = double(N) * HW;
      std::vector<double> mdy(C, 0), mdyx(C, 0), want(n), want_db(C, 0);
      for (int64_t i = 0; i < n; ++i) {
        int c = int((i / HW) % C);
        mdy[c] += hdy[i];
        mdyx[c] += double(hdy[i]) * nn::bn_xhat<float>(h.x[i], h.mean[c], h.invstd[c]);
      }
      for (int c = 0; c < C; ++c) want_db[c] = mdy[c];
      for (int64_t i = 0; i < n; ++i) {
        int c = int((i / HW) % C);
        float xhat = nn::bn_xhat<float>(h.x[i], h.mean[c], h.invstd[c]);
        want[i] = hdx[i] + nn::bn_dx_train<double>(hdy[i], xhat, double(h.gamma[c]) * h.invstd[c], mdy[c] / M,
                                                    mdyx[c] / M);
      }
      if (fail(st, compare(dx.download(), want, 1e-4, 1e-4, "dx"))) return;
      if (fail(st, compare(db.download(), want_db, 1e-5 * M, 1e-4, "dbeta"))) return;
    }
    double t = time_loop(st, [&] {
      nn::batchnorm_bwd_cuda(x.ptr, dy.ptr, g.ptr, nullptr, sm.ptr, si.ptr, dx.ptr, dg.ptr, db.ptr, N, C, HW, true, 0, 0.0f, stream());
    });
    report_memory(st, t, 16.0 * n);  // x, dy read; dx read + written
  });
}

// ------------------------------------------------------------------ dropout
void dropout_cases(const std::string& tag, int64_t n, double p) {
  const std::string base = tag + "/n=" + std::to_string(n);
  const uint32_t thr = nn::dropout_threshold(p);
  const float scale = float(1.0 / (1.0 - p));
  const uint64_t seed = 1234, c0 = 77;
  add_case("dropout_fwd/" + base, [=](benchmark::State& st, bool validate) {
    DeviceBuffer<float> x(n), y(n);
    auto hx = random_floats(n, -1, 1, 21);
    x.upload(hx);
    if (validate) {
      nn::dropout_fwd_cuda(x.ptr, y.ptr, n, seed, c0, thr, scale, stream());
      std::vector<double> want(n);
      for (int64_t i = 0; i < n; ++i) want[i] = nn::dropout_apply<float>(hx[i], nn::dropout_keep(seed, c0, i, thr), scale);
      if (fail(st, compare(y.download(), want, 0, 1e-6, "y"))) return;
    }
    double t = time_loop(st, [&] { nn::dropout_fwd_cuda(x.ptr, y.ptr, n, seed, c0, thr, scale, stream()); });
    report_memory(st, t, 8.0 * n);
  });
  add_case("dropout_bwd/" + base, [=](benchmark::State& st, bool validate) {
    DeviceBuffer<float> dy(n), dx(n);
    auto hdy = random_floats(n, -1, 1, 22), hdx = random_floats(n, -1, 1, 23);
    dy.upload(hdy);
    dx.upload(hdx);
    if (validate) {
      nn::dropout_bwd_cuda(dy.ptr, dx.ptr, n, seed, c0, thr, scale, stream());
      std::vector<double> want(n);
      for (int64_t i = 0; i < n; ++i)
        want[i] = hdx[i] + nn::dropout_apply<float>(hdy[i], nn::dropout_keep(seed, c0, i, thr), scale);
      if (fail(st, compare(dx.download(), want, 1e-6, 1e-6, "dx"))) return;
    }
    double t = time_loop(st, [&] { nn::dropout_bwd_cuda(dy.ptr, dx.ptr, n, seed, c0, thr, scale, stream()); });
    report_memory(st, t, 12.0 * n);
  });
}

// ------------------------------------------------------------------ losses
const char* loss_name(LossKind k) {
  switch (k) {
    case LossKind::BceLogits: return "bce_logits";
    case LossKind::Bce: return "bce";
    case LossKind::HingeReal: return "hinge_real";
    case LossKind::HingeFake: return "hinge_fake";
    default: return "neg";
  }
}

void loss_cases(const std::string& tag, LossKind kind, int64_t n) {
  const std::string base = std::string(loss_name(kind)) + "/" + tag + "/n=" + std::to_string(n);
  const bool has_t = nn::loss_has_target(kind);
  const float scale = float(1.0 / double(n));
  auto inputs = [=](std::vector<float>& hx, std::vector<float>& ht) {
    hx = kind == LossKind::Bce ? random_floats(n, 0.01f, 0.99f, 31) : random_floats(n, -3, 3, 31);
    ht.assign(n, 0.f);
    for (int64_t i = 0; i < n; ++i) ht[i] = float(i % 2);
  };
  add_case("loss_fwd/" + base, [=](benchmark::State& st, bool validate) {
    std::vector<float> hx, ht;
    inputs(hx, ht);
    DeviceBuffer<float> x(n), t(n), out(1);
    x.upload(hx);
    t.upload(ht);
    const float* tp = has_t ? t.ptr : nullptr;
    if (validate) {
      nn::loss_fwd_cuda(kind, x.ptr, tp, n, scale, false, out.ptr, stream());
      double s = 0, sabs = 0;
      for (int64_t i = 0; i < n; ++i) {
        double v = nn::loss_value<double>(kind, hx[i], ht[i]);
        s += v;
        sabs += std::fabs(v);
      }
      if (fail(st, compare(out.download(), {s * scale}, 1e-5 * sabs * scale + 1e-7, 1e-5, "loss"))) return;
    }
    double tm = time_loop(st, [&] { nn::loss_fwd_cuda(kind, x.ptr, tp, n, scale, false, out.ptr, stream()); });
    report_memory(st, tm, (has_t ? 8.0 : 4.0) * n);
  });
  add_case("loss_bwd/" + base, [=](benchmark::State& st, bool validate) {
    std::vector<float> hx, ht;
    inputs(hx, ht);
    auto hdx = random_floats(n, -1, 1, 32);
    DeviceBuffer<float> x(n), t(n), gout(1), dx(n);
    x.upload(hx);
    t.upload(ht);
    gout.upload({1.5f});
    dx.upload(hdx);
    const float* tp = has_t ? t.ptr : nullptr;
    if (validate) {
      nn::loss_bwd_cuda(kind, x.ptr, tp, gout.ptr, dx.ptr, n, scale, stream());
      std::vector<double> want(n);
      for (int64_t i = 0; i < n; ++i) want[i] = hdx[i] + 1.5 * scale * nn::loss_derivative<float>(kind, hx[i], ht[i]);
      if (fail(st, compare(dx.download(), want, 1e-6, 1e-5, "dx"))) return;
    }
    double tm = time_loop(st, [&] { nn::loss_bwd_cuda(kind, x.ptr, tp, gout.ptr, dx.ptr, n, scale, stream()); });
    report_memory(st, tm, (has_t ? 16.0 : 12.0) * n);
  });
}

// ------------------------------------------------------------------ Adam over a parameter arena
void adam_case(const std::string& tag, int64_t n) {
  add_case("adam_step/" + tag + "/n=" + std::to_string(n), [=](benchmark::State& st, bool validate) {
    auto hp = random_floats(n, -1, 1, 41), hg = random_floats(n, -1, 1, 42), hm = random_floats(n, -0.1, 0.1, 43),
         hv = random_floats(n, 0, 0.01, 44);
    DeviceBuffer<float> p(n), g(n), m(n), v(n);
    p.upload(hp);
    g.upload(hg);
    m.upload(hm);
    v.upload(hv);
    const int t = 10;
    nn::AdamScalars sc{0.5, 0.999, 1e-8, 2e-4 / (1 - std::pow(0.5, t)), std::sqrt(1 - std::pow(0.999, t))};
    if (validate) {
      nn::adam_step_cuda(p.ptr, g.ptr, m.ptr, v.ptr, n, sc, stream());
      std::vector<double> want(n);
      for (int64_t i = 0; i < n; ++i) {
        float pp = hp[i], mm = hm[i], vv = hv[i];
        nn::adam_update<float>(pp, hg[i], mm, vv, sc);
        want[i] = pp;
      }
      if (fail(st, compare(p.download(), want, 1e-7, 1e-6, "param"))) return;
    }
    double tm = time_loop(st, [&] { nn::adam_step_cuda(p.ptr, g.ptr, m.ptr, v.ptr, n, sc, stream()); });
    report_memory(st, tm, 28.0 * n);  // p, m, v read + written; g read
  });
}

// ------------------------------------------------------------------ the data batch (gather + scale)
void gather_case(const std::string& tag, int64_t images, int64_t batch) {
  const int64_t elems = 3072;
  add_case("gather_scale/" + tag + "/batch=" + std::to_string(batch), [=](benchmark::State& st, bool validate) {
    std::vector<uint8_t> hi = random_bytes(size_t(images * elems), 51);
    std::mt19937 gen(51);
    std::vector<int32_t> order(images);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), gen);
    DeviceBuffer<uint8_t> img(hi.size());
    DeviceBuffer<int32_t> ord(images);
    DeviceBuffer<float> out(batch * elems);
    img.upload(hi);
    ord.upload(order);
    const int64_t first = batch;  // the second batch of the epoch
    if (validate) {
      nn::gather_scale_cuda(img.ptr, ord.ptr, first, batch, elems, out.ptr, stream());
      std::vector<double> want(batch * elems);
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t j = 0; j < elems; ++j)
          want[b * elems + j] = nn::pixel_to_unit_range(hi[int64_t(order[first + b]) * elems + j]);
      if (fail(st, compare(out.download(), want, 0, 0, "out"))) return;
    }
    double tm = time_loop(st, [&] { nn::gather_scale_cuda(img.ptr, ord.ptr, first, batch, elems, out.ptr, stream()); });
    report_memory(st, tm, 5.0 * batch * elems);  // one byte read, one float written per element
  });
}

// ------------------------------------------------------------------ utility kernels (big size only)
void utility_cases(int64_t n) {
  const std::string sz = "/big/n=" + std::to_string(n);
  add_case("axpy" + sz, [=](benchmark::State& st, bool validate) {
    auto hx = random_floats(n, -1, 1, 61), hy = random_floats(n, -1, 1, 62);
    DeviceBuffer<float> x(n), y(n);
    x.upload(hx);
    y.upload(hy);
    if (validate) {
      nn::axpy_cuda(0.5f, x.ptr, y.ptr, n, stream());
      std::vector<double> want(n);
      for (int64_t i = 0; i < n; ++i) want[i] = hy[i] + 0.5 * hx[i];
      if (fail(st, compare(y.download(), want, 1e-6, 1e-6, "y"))) return;
    }
    double tm = time_loop(st, [&] { nn::axpy_cuda(0.5f, x.ptr, y.ptr, n, stream()); });
    report_memory(st, tm, 12.0 * n);
  });
  add_case("fill" + sz, [=](benchmark::State& st, bool validate) {
    DeviceBuffer<float> y(n);
    if (validate) {
      nn::fill_cuda(y.ptr, n, 0.25f, stream());
      if (fail(st, compare(y.download(), std::vector<double>(n, 0.25), 0, 0, "y"))) return;
    }
    double tm = time_loop(st, [&] { nn::fill_cuda(y.ptr, n, 0.25f, stream()); });
    report_memory(st, tm, 4.0 * n);
  });
  add_case("normal_fill" + sz, [=](benchmark::State& st, bool validate) {
    DeviceBuffer<float> y(n);
    if (validate) {
      nn::normal_fill_cuda(y.ptr, n, 99, 5, 0.f, 0.02f, stream());
      std::vector<double> want(n);
      for (int64_t i = 0; i < n; ++i) want[i] = std::fma(nn::rng_normal(99, 5, i), 0.02f, 0.f);
      if (fail(st, compare(y.download(), want, 1e-7, 1e-6, "y"))) return;
    }
    double tm = time_loop(st, [&] { nn::normal_fill_cuda(y.ptr, n, 99, 5, 0.f, 0.02f, stream()); });
    report_memory(st, tm, 4.0 * n);
  });
  add_case("sum" + sz, [=](benchmark::State& st, bool validate) {
    auto hx = random_floats(n, 0, 1, 63);
    DeviceBuffer<float> x(n), out(1);
    x.upload(hx);
    if (validate) {
      nn::sum_cuda(x.ptr, n, 1.f, out.ptr, stream());
      double s = 0;
      for (float v : hx) s += v;
      if (fail(st, compare(out.download(), {s}, 0, 1e-5, "sum"))) return;
    }
    double tm = time_loop(st, [&] { nn::sum_cuda(x.ptr, n, 1.f, out.ptr, stream()); });
    report_memory(st, tm, 4.0 * n);
  });
}

// ------------------------------------------------------------------ per-channel bias (keras D's convolutions)
void bias_cases(const std::string& tag, int N, int C, int HW) {
  const int64_t n = int64_t(N) * C * HW;
  const std::string base = tag + "/N=" + std::to_string(N) + ",C=" + std::to_string(C) + ",HW=" + std::to_string(HW);
  add_case("bias_add/" + base, [=](benchmark::State& st, bool validate) {
    auto hy = random_floats(n, -1, 1, 64), hb = random_floats(C, -1, 1, 65);
    DeviceBuffer<float> y(n), b(C);
    y.upload(hy);
    b.upload(hb);
    if (validate) {
      nn::bias_add_cuda(y.ptr, b.ptr, N, C, HW, stream());
      std::vector<double> want(n);
      for (int64_t i = 0; i < n; ++i) want[i] = hy[i] + hb[(i / HW) % C];
      if (fail(st, compare(y.download(), want, 1e-6, 1e-6, "y"))) return;
    }
    double tm = time_loop(st, [&] { nn::bias_add_cuda(y.ptr, b.ptr, N, C, HW, stream()); });
    report_memory(st, tm, 8.0 * n);
  });
  add_case("bias_grad/" + base, [=](benchmark::State& st, bool validate) {
    auto hdy = random_floats(n, -1, 1, 66);
    DeviceBuffer<float> dy(n), db(C);
    dy.upload(hdy);
    db.upload(std::vector<float>(C, 0.f));
    if (validate) {
      nn::bias_grad_cuda(dy.ptr, db.ptr, N, C, HW, stream());
      std::vector<double> want(C, 0);
      for (int64_t i = 0; i < n; ++i) want[(i / HW) % C] += hdy[i];
      if (fail(st, compare(db.download(), want, 1e-5 * N * HW, 1e-4, "dbias"))) return;
    }
    double tm = time_loop(st, [&] { nn::bias_grad_cuda(dy.ptr, db.ptr, N, C, HW, stream()); });
    report_memory(st, tm, 4.0 * n);
  });
}

// ------------------------------------------------------------------ Inception-v3 (FID) kernels
// Pooling, concatenation, resize and softmax at the FID network's shapes. The CPU twins are the
// shared functors of pooling_math.h / resize_math.h / softmax_math.h in plain loops; the CUDA
// backward kernels gather where these twins scatter (same terms, another order).

std::string image_tag(const std::string& tag, int N, int C, int H, int W) {
  return tag + "/N=" + std::to_string(N) + ",C=" + std::to_string(C) + ",H=" + std::to_string(H) +
         ",W=" + std::to_string(W);
}

nn::PoolGeom pool_geom(int H, int W, int k, int s, int p) {
  nn::PoolGeom g;
  g.H = H;
  g.W = W;
  g.kernel_h = g.kernel_w = k;
  g.stride_h = g.stride_w = s;
  g.pad_h = g.pad_w = p;
  g.OH = (H + 2 * p - k) / s + 1;
  g.OW = (W + 2 * p - k) / s + 1;
  return g;
}

void max_pool_cases(const std::string& tag, int N, int C, int H, int W, int k, int s, int p) {
  const nn::PoolGeom g = pool_geom(H, W, k, s, p);
  const int64_t NC = int64_t(N) * C, nx = NC * H * W, ny = NC * g.OH * g.OW;
  const std::string base = image_tag(tag, N, C, H, W) + ",k=" + std::to_string(k) + ",s=" + std::to_string(s) +
                           ",p=" + std::to_string(p);
  // The CPU twin: window maxima and their indices.
  auto cpu_forward = [=](const std::vector<float>& hx, std::vector<double>& y, std::vector<int32_t>& arg) {
    y.assign(ny, 0.0);
    arg.assign(ny, 0);
    for (int64_t pl = 0; pl < NC; ++pl)
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t o = (pl * g.OH + oh) * g.OW + ow;
          y[o] = nn::max_pool_window(hx.data() + pl * H * W, int64_t(W), nn::pool_window(g, oh, ow), &arg[o]);
        }
  };
  add_case("max_pool2d_fwd/" + base, [=](benchmark::State& st, bool validate) {
    auto hx = random_floats(nx, -1, 1, 71);
    DeviceBuffer<float> x(nx), y(ny);
    DeviceBuffer<int32_t> arg(ny);
    x.upload(hx);
    if (validate) {
      nn::max_pool2d_fwd_cuda(x.ptr, y.ptr, arg.ptr, NC, g, stream());
      std::vector<double> want;
      std::vector<int32_t> want_arg;
      cpu_forward(hx, want, want_arg);
      if (fail(st, compare(y.download(), want, 0, 0, "y"))) return;
      std::vector<int32_t> got_arg = arg.download();
      if (fail(st, compare(std::vector<float>(got_arg.begin(), got_arg.end()),
                           std::vector<double>(want_arg.begin(), want_arg.end()), 0, 0, "argmax")))
        return;
    }
    double t = time_loop(st, [&] { nn::max_pool2d_fwd_cuda(x.ptr, y.ptr, arg.ptr, NC, g, stream()); });
    report_memory(st, t, 4.0 * nx + 8.0 * ny);  // x read; y and argmax written
  });
  add_case("max_pool2d_fwd_noindices/" + base, [=](benchmark::State& st, bool validate) {
    auto hx = random_floats(nx, -1, 1, 71);
    DeviceBuffer<float> x(nx), y(ny);
    x.upload(hx);
    if (validate) {
      nn::max_pool2d_fwd_cuda(x.ptr, y.ptr, nullptr, NC, g, stream());
      std::vector<double> want;
      std::vector<int32_t> want_arg;
      cpu_forward(hx, want, want_arg);
      if (fail(st, compare(y.download(), want, 0, 0, "y"))) return;
    }
    double t = time_loop(st, [&] { nn::max_pool2d_fwd_cuda(x.ptr, y.ptr, nullptr, NC, g, stream()); });
    report_memory(st, t, 4.0 * nx + 4.0 * ny);  // inference: x read, y written
  });
  add_case("max_pool2d_bwd/" + base, [=](benchmark::State& st, bool validate) {
    auto hx = random_floats(nx, -1, 1, 71), hdy = random_floats(ny, -1, 1, 72), hdx = random_floats(nx, -1, 1, 73);
    std::vector<double> y;
    std::vector<int32_t> harg;
    cpu_forward(hx, y, harg);
    DeviceBuffer<float> dy(ny), dx(nx);
    DeviceBuffer<int32_t> arg(ny);
    dy.upload(hdy);
    dx.upload(hdx);
    arg.upload(harg);
    if (validate) {
      nn::max_pool2d_bwd_cuda(dy.ptr, arg.ptr, dx.ptr, NC, g, stream());
      std::vector<double> want(hdx.begin(), hdx.end());
      for (int64_t o = 0; o < ny; ++o) want[(o / (g.OH * g.OW)) * H * W + harg[o]] += hdy[o];
      if (fail(st, compare(dx.download(), want, 1e-6, 1e-5, "dx"))) return;
    }
    double t = time_loop(st, [&] { nn::max_pool2d_bwd_cuda(dy.ptr, arg.ptr, dx.ptr, NC, g, stream()); });
    report_memory(st, t, 8.0 * ny + 8.0 * nx);  // dy, argmax read; dx read + written
  });
}

void avg_pool_cases(const std::string& tag, int N, int C, int H, int W, int k, int s, int p, bool include_pad) {
  const nn::PoolGeom g = pool_geom(H, W, k, s, p);
  const int64_t NC = int64_t(N) * C, nx = NC * H * W, ny = NC * g.OH * g.OW;
  const std::string base = image_tag(tag, N, C, H, W) + ",k=" + std::to_string(k) + ",s=" + std::to_string(s) +
                           ",p=" + std::to_string(p) + (include_pad ? ",include_pad" : ",exclude_pad");
  add_case("avg_pool2d_fwd/" + base, [=](benchmark::State& st, bool validate) {
    auto hx = random_floats(nx, -1, 1, 74);
    DeviceBuffer<float> x(nx), y(ny);
    x.upload(hx);
    if (validate) {
      nn::avg_pool2d_fwd_cuda(x.ptr, y.ptr, NC, g, include_pad, stream());
      std::vector<double> want(ny);
      for (int64_t pl = 0; pl < NC; ++pl)
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t ow = 0; ow < g.OW; ++ow)
            want[(pl * g.OH + oh) * g.OW + ow] =
                nn::avg_pool_window(hx.data() + pl * H * W, int64_t(W), nn::pool_window(g, oh, ow), include_pad);
      if (fail(st, compare(y.download(), want, 1e-6, 1e-5, "y"))) return;
    }
    double t = time_loop(st, [&] { nn::avg_pool2d_fwd_cuda(x.ptr, y.ptr, NC, g, include_pad, stream()); });
    report_memory(st, t, 4.0 * nx + 4.0 * ny);
  });
  add_case("avg_pool2d_bwd/" + base, [=](benchmark::State& st, bool validate) {
    auto hdy = random_floats(ny, -1, 1, 75), hdx = random_floats(nx, -1, 1, 76);
    DeviceBuffer<float> dy(ny), dx(nx);
    dy.upload(hdy);
    dx.upload(hdx);
    if (validate) {
      nn::avg_pool2d_bwd_cuda(dy.ptr, dx.ptr, NC, g, include_pad, stream());
      std::vector<double> want(hdx.begin(), hdx.end());
      for (int64_t pl = 0; pl < NC; ++pl)
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t ow = 0; ow < g.OW; ++ow) {
            const nn::PoolWindow w = nn::pool_window(g, oh, ow);
            const double share = hdy[(pl * g.OH + oh) * g.OW + ow] / double(nn::avg_pool_divisor(w, include_pad));
            for (int64_t h = w.h0; h < w.h1; ++h)
              for (int64_t c = w.w0; c < w.w1; ++c) want[pl * H * W + h * W + c] += share;
          }
      if (fail(st, compare(dx.download(), want, 1e-6, 1e-5, "dx"))) return;
    }
    double t = time_loop(st, [&] { nn::avg_pool2d_bwd_cuda(dy.ptr, dx.ptr, NC, g, include_pad, stream()); });
    report_memory(st, t, 4.0 * ny + 8.0 * nx);
  });
}

void global_avg_pool_cases(const std::string& tag, int N, int C, int HW) {
  const int64_t NC = int64_t(N) * C, n = NC * HW;
  const std::string base = tag + "/N=" + std::to_string(N) + ",C=" + std::to_string(C) + ",HW=" + std::to_string(HW);
  add_case("global_avg_pool2d_fwd/" + base, [=](benchmark::State& st, bool validate) {
    auto hx = random_floats(n, -1, 1, 77);
    DeviceBuffer<float> x(n), y(NC);
    x.upload(hx);
    if (validate) {
      nn::global_avg_pool2d_fwd_cuda(x.ptr, y.ptr, NC, HW, stream());
      std::vector<double> want(NC, 0.0);
      for (int64_t i = 0; i < n; ++i) want[i / HW] += hx[i];
      for (auto& v : want) v /= HW;
      if (fail(st, compare(y.download(), want, 1e-6, 1e-5, "y"))) return;
    }
    double t = time_loop(st, [&] { nn::global_avg_pool2d_fwd_cuda(x.ptr, y.ptr, NC, HW, stream()); });
    report_memory(st, t, 4.0 * n + 4.0 * NC);
  });
  add_case("global_avg_pool2d_bwd/" + base, [=](benchmark::State& st, bool validate) {
    auto hdy = random_floats(NC, -1, 1, 78), hdx = random_floats(n, -1, 1, 79);
    DeviceBuffer<float> dy(NC), dx(n);
    dy.upload(hdy);
    dx.upload(hdx);
    if (validate) {
      nn::global_avg_pool2d_bwd_cuda(dy.ptr, dx.ptr, NC, HW, stream());
      std::vector<double> want(n);
      for (int64_t i = 0; i < n; ++i) want[i] = hdx[i] + double(hdy[i / HW] / float(HW));
      if (fail(st, compare(dx.download(), want, 1e-6, 1e-5, "dx"))) return;
    }
    double t = time_loop(st, [&] { nn::global_avg_pool2d_bwd_cuda(dy.ptr, dx.ptr, NC, HW, stream()); });
    report_memory(st, t, 4.0 * NC + 8.0 * n);
  });
}

// The forward of concat is one launch per input; a case times all of them (the op's cost).
void concat_cases(const std::string& tag, int N, const std::vector<int>& channels, int HW) {
  int C = 0;
  for (int c : channels) C += c;
  std::string base = tag + "/N=" + std::to_string(N) + ",C=";
  for (size_t k = 0; k < channels.size(); ++k) base += (k ? "+" : "") + std::to_string(channels[k]);
  base += ",HW=" + std::to_string(HW);
  const int64_t y_cols = int64_t(C) * HW, ny = int64_t(N) * y_cols;
  std::vector<int64_t> offsets;
  for (size_t k = 0, off = 0; k < channels.size(); off += size_t(channels[k]) * HW, ++k) offsets.push_back(int64_t(off));
  add_case("concat_fwd/" + base, [=](benchmark::State& st, bool validate) {
    std::vector<std::unique_ptr<DeviceBuffer<float>>> xs;
    std::vector<std::vector<float>> hxs;
    for (size_t k = 0; k < channels.size(); ++k) {
      hxs.push_back(random_floats(size_t(N) * channels[k] * HW, -1, 1, 80 + uint32_t(k)));
      xs.push_back(std::make_unique<DeviceBuffer<float>>(hxs.back().size()));
      xs.back()->upload(hxs.back());
    }
    DeviceBuffer<float> y(ny);
    auto launch = [&] {
      for (size_t k = 0; k < xs.size(); ++k)
        nn::concat_fwd_cuda(xs[k]->ptr, y.ptr, N, int64_t(channels[k]) * HW, y_cols, offsets[k], stream());
    };
    if (validate) {
      launch();
      std::vector<double> want(ny);
      for (size_t k = 0; k < xs.size(); ++k) {
        const int64_t cols = int64_t(channels[k]) * HW;
        for (int64_t o = 0; o < N; ++o)
          for (int64_t j = 0; j < cols; ++j) want[o * y_cols + offsets[k] + j] = hxs[k][o * cols + j];
      }
      if (fail(st, compare(y.download(), want, 0, 0, "y"))) return;
    }
    double t = time_loop(st, launch);
    report_memory(st, t, 8.0 * ny);
  });
  add_case("concat_bwd/" + base, [=](benchmark::State& st, bool validate) {
    auto hdy = random_floats(ny, -1, 1, 90);
    DeviceBuffer<float> dy(ny);
    dy.upload(hdy);
    std::vector<std::unique_ptr<DeviceBuffer<float>>> dxs;
    std::vector<std::vector<float>> hdxs;
    for (size_t k = 0; k < channels.size(); ++k) {
      hdxs.push_back(random_floats(size_t(N) * channels[k] * HW, -1, 1, 91 + uint32_t(k)));
      dxs.push_back(std::make_unique<DeviceBuffer<float>>(hdxs.back().size()));
      dxs.back()->upload(hdxs.back());
    }
    auto launch = [&] {
      for (size_t k = 0; k < dxs.size(); ++k)
        nn::concat_bwd_cuda(dy.ptr, dxs[k]->ptr, N, int64_t(channels[k]) * HW, y_cols, offsets[k], stream());
    };
    if (validate) {
      launch();
      for (size_t k = 0; k < dxs.size(); ++k) {
        const int64_t cols = int64_t(channels[k]) * HW;
        std::vector<double> want(hdxs[k].size());
        for (int64_t o = 0; o < N; ++o)
          for (int64_t j = 0; j < cols; ++j)
            want[o * cols + j] = double(hdxs[k][o * cols + j] + hdy[o * y_cols + offsets[k] + j]);
        if (fail(st, compare(dxs[k]->download(), want, 0, 0, "dx" + std::to_string(k)))) return;
      }
    }
    double t = time_loop(st, launch);
    report_memory(st, t, 12.0 * ny);  // dy read; every dx read + written
  });
}

void resize_cases(const std::string& tag, int N, int C, int H, int W, int OH, int OW) {
  const int64_t NC = int64_t(N) * C, nx = NC * H * W, ny = NC * OH * OW;
  const std::string base = image_tag(tag, N, C, H, W) + "->" + std::to_string(OH) + "x" + std::to_string(OW);
  const float sh = nn::resize_scale<float>(H, OH), sw = nn::resize_scale<float>(W, OW);
  add_case("resize_bilinear_fwd/" + base, [=](benchmark::State& st, bool validate) {
    auto hx = random_floats(nx, -1, 1, 101);
    DeviceBuffer<float> x(nx), y(ny);
    x.upload(hx);
    if (validate) {
      nn::resize_bilinear_fwd_cuda(x.ptr, y.ptr, NC, H, W, OH, OW, stream());
      std::vector<double> want(ny);
      for (int64_t p = 0; p < NC; ++p)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow)
            want[(p * OH + oh) * OW + ow] = nn::bilinear_sample(hx.data() + p * H * W, int64_t(W),
                                                                nn::linear_taps(oh, H, sh), nn::linear_taps(ow, W, sw));
      if (fail(st, compare(y.download(), want, 1e-6, 1e-5, "y"))) return;
    }
    double t = time_loop(st, [&] { nn::resize_bilinear_fwd_cuda(x.ptr, y.ptr, NC, H, W, OH, OW, stream()); });
    report_memory(st, t, 4.0 * nx + 4.0 * ny);
  });
  add_case("resize_bilinear_bwd/" + base, [=](benchmark::State& st, bool validate) {
    auto hdy = random_floats(ny, -1, 1, 102), hdx = random_floats(nx, -1, 1, 103);
    DeviceBuffer<float> dy(ny), dx(nx);
    dy.upload(hdy);
    dx.upload(hdx);
    if (validate) {
      nn::resize_bilinear_bwd_cuda(dy.ptr, dx.ptr, NC, H, W, OH, OW, stream());
      std::vector<double> want(hdx.begin(), hdx.end());
      for (int64_t p = 0; p < NC; ++p)
        for (int64_t oh = 0; oh < OH; ++oh) {
          const auto th = nn::linear_taps(oh, H, sh);
          for (int64_t ow = 0; ow < OW; ++ow) {
            const auto tw = nn::linear_taps(ow, W, sw);
            const double g = hdy[(p * OH + oh) * OW + ow];
            double* plane = want.data() + p * H * W;
            plane[th.i0 * W + tw.i0] += g * th.l0 * tw.l0;
            plane[th.i0 * W + tw.i1] += g * th.l0 * tw.l1;
            plane[th.i1 * W + tw.i0] += g * th.l1 * tw.l0;
            plane[th.i1 * W + tw.i1] += g * th.l1 * tw.l1;
          }
        }
      // Each input pixel of a ~9x upsampling sums ~90 terms: tolerance scales with that.
      if (fail(st, compare(dx.download(), want, 1e-4, 1e-4, "dx"))) return;
    }
    double t = time_loop(st, [&] { nn::resize_bilinear_bwd_cuda(dy.ptr, dx.ptr, NC, H, W, OH, OW, stream()); });
    report_memory(st, t, 4.0 * ny + 8.0 * nx);
  });
}

// upsample_nearest2d x s: forward reads x once and writes y (s^2 larger); backward reads dy and
// reads + writes dx (the gather of kernels/resize_math.h).
void upsample_cases(const std::string& tag, int N, int C, int H, int W, int s) {
  const int64_t NC = int64_t(N) * C, nx = NC * H * W, ny = nx * s * s, OW = int64_t(W) * s;
  const std::string base = image_tag(tag, N, C, H, W) + ",x" + std::to_string(s);
  add_case("upsample_nearest_fwd/" + base, [=](benchmark::State& st, bool validate) {
    auto hx = random_floats(nx, -1, 1, 121);
    DeviceBuffer<float> x(nx), y(ny);
    x.upload(hx);
    if (validate) {
      nn::upsample_nearest_fwd_cuda(x.ptr, y.ptr, NC, H, W, s, stream());
      std::vector<double> want(ny);
      for (int64_t p = 0; p < NC; ++p)
        for (int64_t oh = 0; oh < int64_t(H) * s; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) want[(p * H * s + oh) * OW + ow] = hx[(p * H + oh / s) * W + ow / s];
      if (fail(st, compare(y.download(), want, 0, 0, "y"))) return;
    }
    double t = time_loop(st, [&] { nn::upsample_nearest_fwd_cuda(x.ptr, y.ptr, NC, H, W, s, stream()); });
    report_memory(st, t, 4.0 * nx + 4.0 * ny);
  });
  add_case("upsample_nearest_bwd/" + base, [=](benchmark::State& st, bool validate) {
    auto hdy = random_floats(ny, -1, 1, 122), hdx = random_floats(nx, -1, 1, 123);
    DeviceBuffer<float> dy(ny), dx(nx);
    dy.upload(hdy);
    dx.upload(hdx);
    if (validate) {
      nn::upsample_nearest_bwd_cuda(dy.ptr, dx.ptr, NC, H, W, s, stream());
      std::vector<double> want(hdx.begin(), hdx.end());
      for (int64_t p = 0; p < NC; ++p)
        for (int64_t i = 0; i < H; ++i)
          for (int64_t j = 0; j < W; ++j)
            want[(p * H + i) * W + j] += nn::upsample_nearest_grad_at(hdy.data() + p * H * s * OW, OW, i, j, int64_t(s));
      if (fail(st, compare(dx.download(), want, 1e-6, 1e-6, "dx"))) return;
    }
    double t = time_loop(st, [&] { nn::upsample_nearest_bwd_cuda(dy.ptr, dx.ptr, NC, H, W, s, stream()); });
    report_memory(st, t, 4.0 * ny + 8.0 * nx);
  });
}

// Spectral normalisation's point-wise kernels on a weight of rows x cols: W / sigma (read W,
// write y) and the weight gradient (read dy, read + write dW; u and v are small).
void spectral_norm_cases(const std::string& tag, int rows, int cols) {
  const int64_t n = int64_t(rows) * cols;
  const std::string base = tag + "/" + std::to_string(rows) + "x" + std::to_string(cols);
  add_case("sn_divide/" + base, [=](benchmark::State& st, bool validate) {
    auto hw = random_floats(n, -1, 1, 131);
    DeviceBuffer<float> w(n), y(n), sigma(1);
    w.upload(hw);
    sigma.upload({2.5f});
    if (validate) {
      nn::sn_divide_by_sigma_cuda(w.ptr, sigma.ptr, y.ptr, n, stream());
      std::vector<double> want(n);
      for (int64_t i = 0; i < n; ++i) want[i] = hw[i] / 2.5f;
      if (fail(st, compare(y.download(), want, 0, 1e-7, "y"))) return;
    }
    double t = time_loop(st, [&] { nn::sn_divide_by_sigma_cuda(w.ptr, sigma.ptr, y.ptr, n, stream()); });
    report_memory(st, t, 8.0 * n);
  });
  add_case("sn_weight_grad/" + base, [=](benchmark::State& st, bool validate) {
    auto hdy = random_floats(n, -1, 1, 132), hdw = random_floats(n, -1, 1, 133);
    auto hu = random_floats(rows, -1, 1, 134), hv = random_floats(cols, -1, 1, 135);
    DeviceBuffer<float> dy(n), dw(n), u(rows), v(cols), sigma(1), dot(1);
    dy.upload(hdy);
    dw.upload(hdw);
    u.upload(hu);
    v.upload(hv);
    sigma.upload({2.5f});
    dot.upload({0.75f});
    if (validate) {
      nn::sn_weight_grad_cuda(dy.ptr, sigma.ptr, dot.ptr, u.ptr, v.ptr, dw.ptr, rows, cols, stream());
      std::vector<double> want(n);
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j)
          want[i * cols + j] = hdw[i * cols + j] + nn::sn_weight_grad(hdy[i * cols + j], 2.5f, 0.75f, hu[i], hv[j]);
      if (fail(st, compare(dw.download(), want, 1e-6, 1e-6, "dw"))) return;
    }
    double t = time_loop(st, [&] {
      nn::sn_weight_grad_cuda(dy.ptr, sigma.ptr, dot.ptr, u.ptr, v.ptr, dw.ptr, rows, cols, stream());
    });
    report_memory(st, t, 12.0 * n);
  });
}

void softmax_cases(const std::string& tag, int N, int K) {
  const int64_t n = int64_t(N) * K;
  const std::string base = tag + "/N=" + std::to_string(N) + ",K=" + std::to_string(K);
  auto cpu_forward = [=](const std::vector<float>& hx) {
    std::vector<double> y(n);
    for (int64_t r = 0; r < N; ++r) {
      float m = hx[r * K];
      for (int64_t k = 1; k < K; ++k) m = std::max(m, hx[r * K + k]);
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += nn::softmax_exp(hx[r * K + k], m);
      for (int64_t k = 0; k < K; ++k) y[r * K + k] = nn::softmax_exp(hx[r * K + k], m) / s;
    }
    return y;
  };
  add_case("softmax_fwd/" + base, [=](benchmark::State& st, bool validate) {
    auto hx = random_floats(n, -10, 10, 111);
    DeviceBuffer<float> x(n), y(n);
    x.upload(hx);
    if (validate) {
      nn::softmax_fwd_cuda(x.ptr, y.ptr, N, K, stream());
      if (fail(st, compare(y.download(), cpu_forward(hx), 1e-7, 1e-5, "y"))) return;
    }
    double t = time_loop(st, [&] { nn::softmax_fwd_cuda(x.ptr, y.ptr, N, K, stream()); });
    report_memory(st, t, 8.0 * n);
  });
  add_case("softmax_bwd/" + base, [=](benchmark::State& st, bool validate) {
    std::vector<double> yd = cpu_forward(random_floats(n, -10, 10, 112));
    std::vector<float> hy(yd.begin(), yd.end());
    auto hdy = random_floats(n, -1, 1, 113), hdx = random_floats(n, -1, 1, 114);
    DeviceBuffer<float> y(n), dy(n), dx(n);
    y.upload(hy);
    dy.upload(hdy);
    dx.upload(hdx);
    if (validate) {
      nn::softmax_bwd_cuda(y.ptr, dy.ptr, dx.ptr, N, K, stream());
      std::vector<double> want(n);
      for (int64_t r = 0; r < N; ++r) {
        double dot = 0;
        for (int64_t k = 0; k < K; ++k) dot += double(hdy[r * K + k]) * hy[r * K + k];
        for (int64_t k = 0; k < K; ++k)
          want[r * K + k] = hdx[r * K + k] + nn::softmax_dx<double>(hy[r * K + k], hdy[r * K + k], dot);
      }
      if (fail(st, compare(dx.download(), want, 1e-6, 1e-5, "dx"))) return;
    }
    double t = time_loop(st, [&] { nn::softmax_bwd_cuda(y.ptr, dy.ptr, dx.ptr, N, K, stream()); });
    report_memory(st, t, 16.0 * n);  // y, dy read; dx read + written
  });
}

// ------------------------------------------------------------------ the models' shapes
void register_all() {
  // dcgan preset: batch 64, width 128 (models.h), nz 100, LeakyReLU 0.2, BCE on probabilities.
  {
    const int B = 64, w = 128, nz = 100;
    const std::string p = "dcgan";
    const float s = 0.2f;
    bn_cases(p + ":G.bn0", B, 4 * w, 16);
    bn_cases(p + ":G.bn1", B, 2 * w, 64);
    bn_cases(p + ":G.bn2", B, w, 256);
    bn_cases(p + ":D.bn1", B, 2 * w, 64);
    bn_cases(p + ":D.bn2", B, 4 * w, 16);
    act_cases(p + ":G.act0", ActKind::Relu, int64_t(B) * 4 * w * 16, s);
    act_cases(p + ":G.act1", ActKind::Relu, int64_t(B) * 2 * w * 64, s);
    act_cases(p + ":G.act2", ActKind::Relu, int64_t(B) * w * 256, s);
    act_cases(p + ":G.out", ActKind::Tanh, int64_t(B) * 3 * 1024, s);
    act_cases(p + ":D.act0", ActKind::LeakyRelu, int64_t(B) * w * 256, s);
    act_cases(p + ":D.act1", ActKind::LeakyRelu, int64_t(B) * 2 * w * 64, s);
    act_cases(p + ":D.act2", ActKind::LeakyRelu, int64_t(B) * 4 * w * 16, s);
    act_cases(p + ":D.out", ActKind::Sigmoid, B, s);
    loss_cases(p + ":D", LossKind::Bce, B);
    // Parameters (all bias-free convolutions, batchnorm gamma and beta).
    const int64_t g_params = int64_t(nz) * 4 * w * 16 + int64_t(4 * w) * 2 * w * 16 + int64_t(2 * w) * w * 16 +
                             int64_t(w) * 3 * 16 + 2 * (4 * w + 2 * w + w);
    const int64_t d_params = int64_t(3) * w * 16 + int64_t(w) * 2 * w * 16 + int64_t(2 * w) * 4 * w * 16 +
                             int64_t(4 * w) * 16 + 2 * (2 * w + 4 * w);
    adam_case(p + ":G", g_params);
    adam_case(p + ":D", d_params);
    gather_case(p, 50000, B);
  }
  // keras preset: batch 256, width 256, nz 100, LeakyReLU 0.3, dropout 0.3, hinge loss.
  {
    const int B = 256, w = 256, nz = 100;
    const std::string p = "keras";
    const float s = 0.3f;
    bn_cases(p + ":G.bn1d", B, 64 * w, 1);
    bn_cases(p + ":G.bn1", B, w / 2, 64);
    bn_cases(p + ":G.bn2", B, w / 4, 256);
    act_cases(p + ":G.act0", ActKind::LeakyRelu, int64_t(B) * 64 * w, s);
    act_cases(p + ":G.act1", ActKind::LeakyRelu, int64_t(B) * (w / 2) * 64, s);
    act_cases(p + ":G.act2", ActKind::LeakyRelu, int64_t(B) * (w / 4) * 256, s);
    act_cases(p + ":G.out", ActKind::Tanh, int64_t(B) * 3 * 1024, s);
    act_cases(p + ":D.act0", ActKind::LeakyRelu, int64_t(B) * (w / 4) * 256, s);
    act_cases(p + ":D.act1", ActKind::LeakyRelu, int64_t(B) * (w / 2) * 64, s);
    bias_cases(p + ":D.conv0", B, w / 4, 256);
    bias_cases(p + ":D.conv1", B, w / 2, 64);
    dropout_cases(p + ":D.drop0", int64_t(B) * (w / 4) * 256, 0.3);
    dropout_cases(p + ":D.drop1", int64_t(B) * (w / 2) * 64, 0.3);
    loss_cases(p + ":D.real", LossKind::HingeReal, B);
    loss_cases(p + ":D.fake", LossKind::HingeFake, B);
    loss_cases(p + ":G", LossKind::Neg, B);
    const int64_t g_params = int64_t(nz) * 64 * w + 2 * 64 * w + int64_t(w) * (w / 2) * 25 + 2 * (w / 2) +
                             int64_t(w / 2) * (w / 4) * 25 + 2 * (w / 4) + int64_t(w / 4) * 3 * 25;
    const int64_t d_params = int64_t(3) * (w / 4) * 25 + (w / 4) + int64_t(w / 4) * (w / 2) * 25 + (w / 2) +
                             int64_t(w / 2) * 64 + 1;
    adam_case(p + ":G", g_params);
    adam_case(p + ":D", d_params);
    gather_case(p, 50000, B);
  }
  // The FID network (pytorch-fid's Inception-v3) at batch 50: stem and reduction max pools, the
  // blocks' 3x3/1/1 average pools (count_include_pad=False in the FID variant), the blocks'
  // concatenations, the head's global average, the 32x32 -> 299x299 input resize, and the
  // 1008-class softmax.
  {
    const int B = 50;
    const std::string p = "fid";
    max_pool_cases(p + ":stem.pool1", B, 64, 147, 147, 3, 2, 0);
    max_pool_cases(p + ":stem.pool2", B, 192, 71, 71, 3, 2, 0);
    max_pool_cases(p + ":Mixed_6a.pool", B, 288, 35, 35, 3, 2, 0);
    max_pool_cases(p + ":Mixed_7c.pool", B, 2048, 8, 8, 3, 1, 1);
    avg_pool_cases(p + ":Mixed_5b.pool", B, 192, 35, 35, 3, 1, 1, false);
    avg_pool_cases(p + ":Mixed_5b.pool", B, 192, 35, 35, 3, 1, 1, true);
    avg_pool_cases(p + ":Mixed_6b.pool", B, 768, 17, 17, 3, 1, 1, false);
    global_avg_pool_cases(p + ":head", B, 2048, 64);
    concat_cases(p + ":Mixed_5b", B, {64, 64, 96, 32}, 35 * 35);
    concat_cases(p + ":Mixed_6b", B, {192, 192, 192, 192}, 17 * 17);
    concat_cases(p + ":Mixed_7b.branch3x3", B, {384, 384}, 8 * 8);
    resize_cases(p + ":input", B, 3, 32, 32, 299, 299);
    softmax_cases(p + ":logits", B, 1008);
  }
  // sngan preset: batch 64, G width 256 (its three x2 upsamplings), D width 128 (its 3x3
  // convolutions' spectral norms: 128 x 1152).
  {
    const int B = 64;
    for (int side : {4, 8, 16}) upsample_cases("sngan:G.up", B, 256, side, side, 2);
    spectral_norm_cases("sngan:D.c2", 128, 128 * 9);
  }
  // A size that fills the GPU: every kernel family once at 64 Mi elements.
  for (ActKind k : {ActKind::Relu, ActKind::LeakyRelu, ActKind::Tanh, ActKind::Sigmoid}) act_cases("big", k, kBig, 0.2f);
  bn_cases("big", 256, 256, int(kBig / (256 * 256)));
  dropout_cases("big", kBig, 0.3);
  loss_cases("big", LossKind::BceLogits, kBig);
  adam_case("big", kBig);
  gather_case("big", 50000, 16384);
  utility_cases(kBig);
  bias_cases("big", 256, 256, int(kBig / (256 * 256)));
  upsample_cases("big", 256, 256, 16, 16, 2);  // 16 Mi in, 64 Mi out
}

}  // namespace

int main(int argc, char** argv) { return bench::bench_main(argc, argv, "bench_kernels", register_all); }
