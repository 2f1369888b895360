// onednn_conv.h — the CPU path's float32 convolutions through oneDNN (internal to src/ops).
//
// oneDNN (Debian: libdnnl-dev) is the library PyTorch itself runs CPU convolutions on. Here it
// serves the CPU the way cuDNN serves the GPU: the same three calls, one geometry at a time,
//   forward          y  (=|+=) conv(x, w)        x (N,C,H,W), w (K,C,R,S), y (N,K,P,Q)
//   backward-data    dx (=|+=) conv^T(dy, w)
//   backward-weights dw (=|+=) corr(x, dy)
// with accumulate choosing += (the engine's backward rule) or =. Each geometry gets its
// primitives once (a JIT-compiled kernel for this CPU, its blocked memory formats, the reorders
// between those and the engine's plain NCHW / OIHW tensors, and the buffers in those formats),
// cached for the process, as the cuDNN plans are. Measured on 2 AVX-512 cores it runs the
// presets' convolutions about twice as fast as im2col + OpenBLAS (bench/README.md); float64
// (the golden reference path) stays on im2col + GEMM, which oneDNN does not cover.
//
// Tests: every conv test on the CPU (tests/test_conv.cpp: known values, adjointness, the
// plain-loop comparison, accumulation) runs through it in float32; Conv.OnednnMatchesIm2col
// compares the two float32 paths directly.
#pragma once
#include <cstdint>

namespace nn::cpu {

struct OnednnConvShape {
  int64_t N, C, H, W;
  int64_t K, R, S;
  int64_t P, Q;
  int64_t stride_h, stride_w, pad_h, pad_w;
};

// Whether this build has oneDNN and it takes this geometry (the right padding that reproduces
// P and Q must not be negative). Callers fall back to im2col + GEMM otherwise.
bool onednn_conv_available(const OnednnConvShape& s);

void onednn_conv_forward(const OnednnConvShape& s, const float* x, const float* w, float* y, bool accumulate);
void onednn_conv_backward_data(const OnednnConvShape& s, const float* w, const float* dy, float* dx, bool accumulate);
void onednn_conv_backward_weights(const OnednnConvShape& s, const float* x, const float* dy, float* dw,
                                  bool accumulate);

}  // namespace nn::cpu
