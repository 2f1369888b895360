// cudnn_conv.h — the three cuDNN convolution calls the engine needs (internal to src/).
//
// One convolution geometry, three directions (all cross-correlation, as PyTorch's Conv2d):
//
//   forward:         y  = alpha conv(x, w)          + beta y     x (N,C,H,W), w (K,C,R,S), y (N,K,P,Q)
//   backward-data:   dx = alpha conv^T(dy, w)       + beta dx    (the adjoint of forward in x)
//   backward-filter: dw = alpha corr(x, dy)         + beta dw    (the adjoint of forward in w)
//
// beta = 1 accumulates, which is how the engine's backward rule (grad += ...) comes for free.
// conv_transpose2d uses the same three calls with the roles swapped (see src/ops/conv.cpp).
//
// Per geometry (and per TF32/deterministic setting) the descriptors, the algorithm of each
// direction and its workspace size are chosen once and cached; workspaces come from the engine's
// stream-ordered allocator. Tests: CudaParity.conv2d, CudaParity.conv_transpose2d,
// ConvCuda.DeterministicGrads (tests/test_conv.cpp).
//
// No cuDNN types appear here, so the header is plain C++; it is only compiled into CUDA builds.
#pragma once

namespace nn::cuda {

// Geometry of a convolution x (N,C,H,W) * w (K,C,R,S) -> y (N,K,P,Q) with
// P = (H + 2 pad_h - R) / stride_h + 1 and Q likewise (dilation 1, one group).
struct ConvShape {
  int N = 0, C = 0, H = 0, W = 0;  // input
  int K = 0, R = 0, S = 0;         // filter: K output channels, R x S taps
  int P = 0, Q = 0;                // output height and width
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
};

// All pointers are float32 device memory on the engine's stream; each call enqueues and returns.
void conv_forward(const ConvShape& s, const float* x, const float* w, float* y, float beta);
void conv_backward_data(const ConvShape& s, const float* w, const float* dy, float* dx, float beta);
void conv_backward_filter(const ConvShape& s, const float* x, const float* dy, float* dw, float beta);

}  // namespace nn::cuda
