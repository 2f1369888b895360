// gan_layers.h — the three presets' convolution and linear layers as shapes, and the FLOP count of
// one training step built from them. Plain C++ (no CUDA): bench_conv_gemm times these shapes and
// tools/gan_bench.cpp counts a step's FLOPs with them. Mirrors src/train/models.h.
//
// FLOPs of one layer pass (one multiply-add = 2 FLOPs):
//   convolution x (N,C,H,W) * w (K,C,R,S) -> y (N,K,P,Q):   2 N K C R S P Q
//   transposed convolution: the same formula on its equivalent convolution (x = its output,
//   y = its input), i.e. 2 N Cin Cout R S Hin Win
//   linear (N,in) -> (N,out):                                 2 N in out
// and each of the three directions (forward, backward-data, backward-filter) costs the same.
// Elementwise work (activations, batchnorm, losses, Adam) is ignored: it is memory-bound and
// a small share of the FLOPs.
//
// One step, with G and D the sum of a network's layer FLOPs and G1, D1 its first layer's (whose
// input needs no gradient, so no backward-data there unless the schedule asks for it):
//   dcgan: D forward on real, on G(z).detach(), and again on G(z) for G's loss (3D); G forward
//          (G); D's loss backward: filter grads of both D passes, data grads except the first
//          layer (2 (2D - D1)); G's loss backward: data grads through frozen D (D), then G's
//          filter and data grads (2G - G1)
//          => 8D - 2 D1 + 3G - G1
//   keras: G forward (G); D forward on real and on fake (2D); G's loss: data grads through D (D),
//          then G (2G - G1); D's loss: real pass (2D - D1), fake pass whose input is a leaf that
//          requires grad (2D)
//          => 7D - D1 + 3G - G1
//   sngan: n D steps, each G forward without a graph (G), D on real and on fake (2D), D's filter
//          grads of both passes (2D) and data grads except the first layer (2 (D - D1)); then the
//          G step: G forward (G), D forward (D), data grads through frozen D to the image (D), G's
//          filter and data grads (2G - G1)
//          => n (G + 6D - 2 D1) + 3G - G1 + 2D
//          (G = width channels, D = width / 2; the power iterations of spectral norm, matrix-vector
//          products, are left out with the other memory-bound work)
#pragma once
#include <string>
#include <vector>

namespace gan_layers {

struct Layer {
  std::string name;       // e.g. "G1 convT 512->256 4x4 s2"
  char net = 'G';         // 'G' or 'D'
  bool transposed = false;
  bool linear = false;    // a linear layer: N = batch, C = in, K = out, everything else 1
  // The (equivalent) convolution: x (N,C,H,W) * w (K,C,R,S) -> y (N,K,P,Q). For a transposed
  // convolution x is the layer's OUTPUT and y its input.
  int N = 1, C = 1, H = 1, W = 1, K = 1, R = 1, S = 1, P = 1, Q = 1, stride = 1, pad = 0;
  double flops() const { return 2.0 * N * K * C * R * S * P * Q; }  // one direction
};

inline Layer conv(const std::string& name, char net, int N, int Cin, int Hin, int Cout, int k, int s, int p) {
  Layer l;
  l.name = name; l.net = net;
  l.N = N; l.C = Cin; l.H = l.W = Hin; l.K = Cout; l.R = l.S = k; l.stride = s; l.pad = p;
  l.P = l.Q = (Hin + 2 * p - k) / s + 1;
  return l;
}
// ConvTranspose2d(Cin, Cout, k, s, p, output_padding) from Hin to Hout.
inline Layer convT(const std::string& name, char net, int N, int Cin, int Hin, int Cout, int Hout, int k, int s, int p) {
  Layer l = conv(name, net, N, Cout, Hout, Cin, k, s, p);
  l.transposed = true;
  l.P = l.Q = Hin;  // equal to (Hout + 2p - k)/s + 1 for the models' shapes
  return l;
}
inline Layer linear(const std::string& name, char net, int N, int in, int out) {
  Layer l;
  l.name = name; l.net = net; l.linear = true;
  l.N = N; l.C = in; l.K = out;
  return l;
}

// The layers of `preset` ("dcgan", "keras" or "sngan") at a batch, width and noise length; G's layers
// first, each network's first layer first.
inline std::vector<Layer> layers(const std::string& preset, int B, int w, int nz) {
  using std::to_string;
  if (preset == "dcgan") {
    return {
        convT("G0 convT " + to_string(nz) + "->" + to_string(4 * w) + " 4x4 s1", 'G', B, nz, 1, 4 * w, 4, 4, 1, 0),
        convT("G1 convT " + to_string(4 * w) + "->" + to_string(2 * w) + " 4x4 s2", 'G', B, 4 * w, 4, 2 * w, 8, 4, 2, 1),
        convT("G2 convT " + to_string(2 * w) + "->" + to_string(w) + " 4x4 s2", 'G', B, 2 * w, 8, w, 16, 4, 2, 1),
        convT("G3 convT " + to_string(w) + "->3 4x4 s2", 'G', B, w, 16, 3, 32, 4, 2, 1),
        conv("D0 conv 3->" + to_string(w) + " 4x4 s2", 'D', B, 3, 32, w, 4, 2, 1),
        conv("D1 conv " + to_string(w) + "->" + to_string(2 * w) + " 4x4 s2", 'D', B, w, 16, 2 * w, 4, 2, 1),
        conv("D2 conv " + to_string(2 * w) + "->" + to_string(4 * w) + " 4x4 s2", 'D', B, 2 * w, 8, 4 * w, 4, 2, 1),
        conv("D3 conv " + to_string(4 * w) + "->1 4x4 s1", 'D', B, 4 * w, 4, 1, 4, 1, 0),
    };
  }
  if (preset == "sngan") {
    const int g = w, d = w / 2;
    std::vector<Layer> out = {linear("G l1 linear " + to_string(nz) + "->" + to_string(16 * g), 'G', B, nz, 16 * g)};
    for (int side : {8, 16, 32}) {  // each GBlock's convolutions run after its x2 upsampling
      const std::string at = " at " + to_string(side);
      out.push_back(conv("G block c1 3x3 " + to_string(g) + at, 'G', B, g, side, g, 3, 1, 1));
      out.push_back(conv("G block c2 3x3 " + to_string(g) + at, 'G', B, g, side, g, 3, 1, 1));
      out.push_back(conv("G block c_sc 1x1 " + to_string(g) + at, 'G', B, g, side, g, 1, 1, 0));
    }
    out.push_back(conv("G c5 3x3 " + to_string(g) + "->3", 'G', B, g, 32, 3, 3, 1, 1));
    out.push_back(conv("D block1 c1 3x3 3->" + to_string(d), 'D', B, 3, 32, d, 3, 1, 1));
    out.push_back(conv("D block1 c2 3x3 at 32", 'D', B, d, 32, d, 3, 1, 1));
    out.push_back(conv("D block1 c_sc 1x1 at 16", 'D', B, 3, 16, d, 1, 1, 0));
    out.push_back(conv("D block2 c1 3x3 at 16", 'D', B, d, 16, d, 3, 1, 1));
    out.push_back(conv("D block2 c2 3x3 at 16", 'D', B, d, 16, d, 3, 1, 1));
    out.push_back(conv("D block2 c_sc 1x1 at 16", 'D', B, d, 16, d, 1, 1, 0));
    for (int b : {3, 4}) {
      out.push_back(conv("D block" + to_string(b) + " c1 3x3 at 8", 'D', B, d, 8, d, 3, 1, 1));
      out.push_back(conv("D block" + to_string(b) + " c2 3x3 at 8", 'D', B, d, 8, d, 3, 1, 1));
    }
    out.push_back(linear("D l5 linear " + to_string(d) + "->1", 'D', B, d, 1));
    return out;
  }
  return {
      linear("G0 linear " + to_string(nz) + "->" + to_string(64 * w), 'G', B, nz, 64 * w),
      convT("G1 convT " + to_string(w) + "->" + to_string(w / 2) + " 5x5 s1", 'G', B, w, 8, w / 2, 8, 5, 1, 2),
      convT("G2 convT " + to_string(w / 2) + "->" + to_string(w / 4) + " 5x5 s2", 'G', B, w / 2, 8, w / 4, 16, 5, 2, 2),
      convT("G3 convT " + to_string(w / 4) + "->3 5x5 s2", 'G', B, w / 4, 16, 3, 32, 5, 2, 2),
      conv("D0 conv 3->" + to_string(w / 4) + " 5x5 s2", 'D', B, 3, 32, w / 4, 5, 2, 2),
      conv("D1 conv " + to_string(w / 4) + "->" + to_string(w / 2) + " 5x5 s2", 'D', B, w / 4, 16, w / 2, 5, 2, 2),
      linear("D2 linear " + to_string(w / 2 * 64) + "->1", 'D', B, w / 2 * 64, 1),
  };
}

// FLOPs of one training step (the formulas above).
inline double step_flops(const std::string& preset, int B, int w, int nz) {
  double G = 0, D = 0, G1 = -1, D1 = -1;
  for (const Layer& l : layers(preset, B, w, nz)) {
    double f = l.flops();
    if (l.net == 'G') { G += f; if (G1 < 0) G1 = f; }
    else { D += f; if (D1 < 0) D1 = f; }
  }
  if (preset == "dcgan") return 8 * D - 2 * D1 + 3 * G - G1;
  if (preset == "sngan") {
    const double n = 5;  // the preset's D steps per G step
    return n * (G + 6 * D - 2 * D1) + 3 * G - G1 + 2 * D;
  }
  return 7 * D - D1 + 3 * G - G1;
}

}  // namespace gan_layers
