// onednn_conv.cpp — float32 CPU convolutions through oneDNN 2.x (see onednn_conv.h).
//
// Per geometry (the cache below), once:
//   * the primitive descriptors of the three directions, created with every memory format left
//     to oneDNN (format_tag::any), so it picks its fastest blocked layouts (nChw16c, ...);
//     backward ones take the forward one as their hint, as oneDNN requires;
//   * the engine's own layouts: x, y as nchw and w as oihw, which are exactly the engine's
//     row-major (N,C,H,W) and PyTorch's (K,C,R,S) Conv2d weight;
//   * for each operand whose chosen layout differs from the engine's, a reorder primitive into
//     it; for each output, a reorder back out, with a `sum` post-op when the call accumulates (the
//     reorder then computes out = out + result, so no extra pass). The buffers in oneDNN's layouts
//     are per call, from the engine's host allocator (its free list serves the next step's).
// oneDNN's right padding is what makes its output size equal ours: P = (H + pl + pr - R) / s + 1
// with no remainder, i.e. pr = (P - 1) s + R - H - pl, which can be below pl (PyTorch's floor
// drops the last rows); a negative pr is refused and the caller uses im2col instead.
// The stream is oneDNN's in-order CPU stream; every call waits for its primitives (they run on
// the engine's OpenMP threads, as the OpenMP build of OpenBLAS does).
#include "cpu/onednn_conv.h"

#if defined(NN_WITH_ONEDNN)
#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>
#endif

#include "nn/check.h"
#include "nn/tensor.h"

namespace nn::cpu {

#if !defined(NN_WITH_ONEDNN)

bool onednn_conv_available(const OnednnConvShape&) { return false; }
void onednn_conv_forward(const OnednnConvShape&, const float*, const float*, float*, bool) {
  throw_error("internal: this build has no oneDNN");
}
void onednn_conv_backward_data(const OnednnConvShape&, const float*, const float*, float*, bool) {
  throw_error("internal: this build has no oneDNN");
}
void onednn_conv_backward_weights(const OnednnConvShape&, const float*, const float*, float*, bool) {
  throw_error("internal: this build has no oneDNN");
}

#else

namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
constexpr auto f32 = dnnl::memory::data_type::f32;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

int64_t right_pad(int64_t out, int64_t in, int64_t k, int64_t stride, int64_t left) {
  return (out - 1) * stride + k - in - left;
}

// Scratch for one call: buffers in oneDNN's layouts, taken from the engine's host allocator (whose
// free list hands the same sizes back next step) and released when the call ends. Plans keep no
// activation-sized buffers of their own, so a process that meets many geometries (the CPU FID's
// Inception: about 95) holds only their descriptors and kernels.
struct Scratch {
  std::vector<Tensor> blocks;
  memory make(const memory::desc& d) {
    blocks.push_back(Tensor::empty({static_cast<int64_t>(std::max<size_t>(d.get_size(), 1))}, DType::U8));
    return memory(d, engine(), blocks.back().raw());
  }
};

// An operand of one primitive: the engine's layout, the primitive's, and the reorders between
// them (made on first use, kept with the plan).
struct Operand {
  memory::desc user, inner;
  std::optional<dnnl::reorder> in;       // user -> inner
  std::optional<dnnl::reorder> out;      // inner -> user, overwriting
  std::optional<dnnl::reorder> out_sum;  // inner -> user, adding (sum post-op)

  Operand(const memory::desc& user_desc, const memory::desc& inner_desc) : user(user_desc), inner(inner_desc) {}

  // The primitive's view of the caller's input: the caller's memory itself, or a reordered copy.
  memory input(const float* data, Scratch& scratch) {
    memory m(user, engine(), const_cast<float*>(data));
    if (inner == user) return m;
    memory buffer = scratch.make(inner);
    if (!in) in.emplace(m, buffer);
    in->execute(stream(), m, buffer);
    return buffer;
  }

  // Where the primitive writes an output: the caller's memory when the layouts agree and the call
  // overwrites; else a scratch buffer, which finish() then reorders out (adding, when accumulating).
  memory output(float* data, bool accumulate, Scratch& scratch) {
    if (inner == user && !accumulate) return memory(user, engine(), data);
    return scratch.make(inner);  // other layout, or the same but += needs the result apart
  }

  void finish(memory result, float* data, bool accumulate) {  // a memory is a handle: copying is cheap
    if (inner == user && !accumulate) return;  // output() gave the caller's memory itself
    memory m(user, engine(), data);
    if (accumulate) {
      if (!out_sum) {
        dnnl::post_ops po;
        po.append_sum(1.0f);
        dnnl::primitive_attr attr;
        attr.set_post_ops(po);
        out_sum.emplace(dnnl::reorder::primitive_desc(result, m, attr));
      }
      out_sum->execute(stream(), result, m);
    } else {
      if (!out) out.emplace(result, m);
      out->execute(stream(), result, m);
    }
  }
};

// One direction of a geometry: its primitive, two inputs and one output. Built once, operands
// first and the primitive last, so a throw while building leaves it unbuilt for the next call.
struct Direction {
  struct Slot {
    int arg;                     // DNNL_ARG_*
    memory::desc user, inner;    // the engine's layout, the primitive's
  };
  std::optional<dnnl::primitive> prim;
  std::optional<Operand> in0, in1, out;
  int arg0 = 0, arg1 = 0, arg_out = 0;

  bool built() const { return prim.has_value(); }
  void build(const dnnl::primitive& p, const Slot& a, const Slot& b, const Slot& o) {
    in0.emplace(a.user, a.inner);
    in1.emplace(b.user, b.inner);
    out.emplace(o.user, o.inner);
    arg0 = a.arg;
    arg1 = b.arg;
    arg_out = o.arg;
    prim = p;
  }
  // o (=|+=) the primitive of (a, b), in the engine's layouts; waits for it.
  void run(const float* a, const float* b, float* o, bool accumulate) {
    Scratch scratch;
    memory am = in0->input(a, scratch), bm = in1->input(b, scratch), om = out->output(o, accumulate, scratch);
    prim->execute(stream(), {{arg0, am}, {arg1, bm}, {arg_out, om}});
    out->finish(om, o, accumulate);
    stream().wait();
  }
};

struct Plan {
  memory::dims x_dims, w_dims, y_dims, strides, pad_l, pad_r;
  dnnl::convolution_forward::primitive_desc fwd_pd;
  Direction fwd, bd, bw;  // forward, backward-data, backward-weights

  explicit Plan(const OnednnConvShape& s)
      : x_dims{s.N, s.C, s.H, s.W},
        w_dims{s.K, s.C, s.R, s.S},
        y_dims{s.N, s.K, s.P, s.Q},
        strides{s.stride_h, s.stride_w},
        pad_l{s.pad_h, s.pad_w},
        pad_r{right_pad(s.P, s.H, s.R, s.stride_h, s.pad_h), right_pad(s.Q, s.W, s.S, s.stride_w, s.pad_w)},
        fwd_pd(dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                               dnnl::algorithm::convolution_direct, any(x_dims), any(w_dims),
                                               any(y_dims), strides, pad_l, pad_r),
               engine()) {}

  static memory::desc any(const memory::dims& d) { return memory::desc(d, f32, tag::any); }
  memory::desc plain_x() const { return memory::desc(x_dims, f32, tag::nchw); }
  memory::desc plain_w() const { return memory::desc(w_dims, f32, tag::oihw); }
  memory::desc plain_y() const { return memory::desc(y_dims, f32, tag::nchw); }
};

using Key = std::array<int64_t, 13>;
std::mutex cache_mutex;

Plan& plan_for(const OnednnConvShape& s) {
  static std::map<Key, std::unique_ptr<Plan>> cache;
  const Key key{s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.P, s.Q, s.stride_h, s.stride_w, s.pad_h, s.pad_w};
  std::unique_ptr<Plan>& slot = cache[key];
  if (!slot) slot = std::make_unique<Plan>(s);
  return *slot;
}

// oneDNN reports errors as dnnl::error; the engine's callers expect nn::Error with the geometry.
template <class F>
void guarded(const char* what, const OnednnConvShape& s, F&& f) {
  try {
    f();
  } catch (const dnnl::error& e) {
    throw_error(str_cat("oneDNN ", what, " of x (", s.N, ",", s.C, ",", s.H, ",", s.W, ") w (", s.K, ",", s.C, ",",
                        s.R, ",", s.S, ") failed: ", e.what()));
  }
}

}  // namespace

bool onednn_conv_available(const OnednnConvShape& s) {
  return right_pad(s.P, s.H, s.R, s.stride_h, s.pad_h) >= 0 && right_pad(s.Q, s.W, s.S, s.stride_w, s.pad_w) >= 0;
}

void onednn_conv_forward(const OnednnConvShape& s, const float* x, const float* w, float* y, bool accumulate) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  guarded("forward", s, [&] {
    Plan& p = plan_for(s);
    if (!p.fwd.built()) {
      p.fwd.build(dnnl::convolution_forward(p.fwd_pd), {DNNL_ARG_SRC, p.plain_x(), p.fwd_pd.src_desc()},
                  {DNNL_ARG_WEIGHTS, p.plain_w(), p.fwd_pd.weights_desc()},
                  {DNNL_ARG_DST, p.plain_y(), p.fwd_pd.dst_desc()});
    }
    p.fwd.run(x, w, y, accumulate);
  });
}

void onednn_conv_backward_data(const OnednnConvShape& s, const float* w, const float* dy, float* dx, bool accumulate) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  guarded("backward-data", s, [&] {
    Plan& p = plan_for(s);
    if (!p.bd.built()) {
      const dnnl::convolution_backward_data::primitive_desc pd(
          dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, Plan::any(p.x_dims),
                                                Plan::any(p.w_dims), Plan::any(p.y_dims), p.strides, p.pad_l, p.pad_r),
          engine(), p.fwd_pd);
      p.bd.build(dnnl::convolution_backward_data(pd), {DNNL_ARG_WEIGHTS, p.plain_w(), pd.weights_desc()},
                 {DNNL_ARG_DIFF_DST, p.plain_y(), pd.diff_dst_desc()},
                 {DNNL_ARG_DIFF_SRC, p.plain_x(), pd.diff_src_desc()});
    }
    p.bd.run(w, dy, dx, accumulate);
  });
}

void onednn_conv_backward_weights(const OnednnConvShape& s, const float* x, const float* dy, float* dw,
                                  bool accumulate) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  guarded("backward-weights", s, [&] {
    Plan& p = plan_for(s);
    if (!p.bw.built()) {
      const dnnl::convolution_backward_weights::primitive_desc pd(
          dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, Plan::any(p.x_dims),
                                                   Plan::any(p.w_dims), Plan::any(p.y_dims), p.strides, p.pad_l,
                                                   p.pad_r),
          engine(), p.fwd_pd);
      p.bw.build(dnnl::convolution_backward_weights(pd), {DNNL_ARG_SRC, p.plain_x(), pd.src_desc()},
                 {DNNL_ARG_DIFF_DST, p.plain_y(), pd.diff_dst_desc()},
                 {DNNL_ARG_DIFF_WEIGHTS, p.plain_w(), pd.diff_weights_desc()});
    }
    p.bw.run(x, dy, dw, accumulate);
  });
}

#endif

}  // namespace nn::cpu
