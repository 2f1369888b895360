// The step's changing scalars kept in device tensors (nn/step_state.h, kernels/step_state_math.h),
// the Philox streams whose counters live there, Adam's device-side step count, the sampler's
// batch cursor, and CudaGraph capture/replay. The CPU tests check the logic against values worked
// out by hand or against the host-side code it replaces; the CUDA tests (skipped without a GPU)
// check the kernels against the CPU and that a replayed graph draws fresh values every launch.
#include <cmath>
#include <vector>

#include "data/cifar100.h"
#include "nn/cuda_graph.h"
#include "nn/optim.h"
#include "nn/step_state.h"
#include "step_state_math.h"
#include "test_util.h"

namespace nn::test {
namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector(); }

TEST(StepState, CounterTakeReturnsTheStartAndAdvances) {
  Tensor c = make_counter(Device::CPU, 5);
  EXPECT_EQ(counter_value(c), 5);
  Tensor a = counter_take_(c, 3);
  Tensor b = counter_take_(c, 10);
  EXPECT_EQ(values(a), std::vector<double>{5});
  EXPECT_EQ(values(b), std::vector<double>{8});
  EXPECT_EQ(counter_value(c), 18);
  EXPECT_FALSE(counter_take_(c, 1, /*want_start=*/false).defined());
  EXPECT_EQ(counter_value(c), 19);
  set_counter(c, 0);
  EXPECT_EQ(counter_value(c), 0);
  EXPECT_THROW(counter_take_(Tensor::zeros({1}), 1), Error) << "a float tensor is not a counter";
  EXPECT_THROW(counter_take_(Tensor::zeros({2}, DType::I64), 1), Error) << "a counter has one element";
}

// A DeviceGenerator is a Generator whose counter is a tensor: equal seeds and offsets give equal
// values, and both advance by ceil(n / 4) counters per draw.
TEST(StepState, DeviceGeneratorDrawsWhatTheHostGeneratorDraws) {
  Generator host(77, 12);
  DeviceGenerator dev(77, Device::CPU, 12);
  for (int64_t n : {10, 3, 64, 1}) {
    Tensor a = Tensor::empty({n}), b = Tensor::empty({n});
    a.normal_(host, 0.0, 0.02);
    b.normal_(dev, 0.0, 0.02);
    EXPECT_EQ(values(a), values(b)) << "n=" << n;
    EXPECT_EQ(dev.offset(), host.offset) << "n=" << n;
  }
  EXPECT_EQ(host.offset, 12u + 3u + 1u + 16u + 1u);  // ceil(10/4) + ceil(3/4) + 64/4 + ceil(1/4)
  dev.set_offset(12);
  Tensor again = Tensor::empty({10});
  again.normal_(dev, 0.0, 0.02);
  Tensor first = Tensor::empty({10});
  Generator fresh(77, 12);
  first.normal_(fresh, 0.0, 0.02);
  EXPECT_EQ(values(again), values(first)) << "set_offset rewinds the stream";
  EXPECT_EQ(dev.host().offset, 15u);
}

TEST(StepState, DropoutFromADeviceGeneratorIsTheHostGeneratorsDropout) {
  Tensor x = rand_tensor({4, 37}, 3);
  Generator host(9, 100);
  DeviceGenerator dev(9, Device::CPU, 100);
  for (int rep = 0; rep < 2; ++rep) {
    Tensor xa = x.detach().requires_grad_(), xb = x.detach().requires_grad_();
    Tensor ya = dropout(xa, 0.3, true, host), yb = dropout(xb, 0.3, true, dev);
    EXPECT_EQ(values(ya), values(yb)) << "rep " << rep;
    Tensor g = rand_tensor({4, 37}, 4 + rep);
    ya.backward(g);
    yb.backward(g);
    EXPECT_EQ(values(xa.grad()), values(xb.grad())) << "rep " << rep << ": the backward regenerates the same mask";
    EXPECT_EQ(dev.offset(), host.offset);
  }
  EXPECT_EQ(host.offset, 100u + 2u * 37u);  // 148 elements take 37 counters per call
  Tensor same = dropout(x, 0.3, /*training=*/false, dev);
  EXPECT_EQ(dev.offset(), host.offset) << "the identity takes no counters";
}

// Adam's bias corrections, computed from its step count (hand values: beta1 0.9, beta2 0.999).
TEST(StepState, AdamScalarsForStepMatchHandValues) {
  AdamScalars s1 = adam_scalars_for_step(1, 1e-3, 0.9, 0.999, 1e-8);
  EXPECT_DOUBLE_EQ(s1.step_size, 1e-3 / 0.1);                  // lr / (1 - 0.9)
  EXPECT_DOUBLE_EQ(s1.bias_correction2_sqrt, std::sqrt(0.001));  // sqrt(1 - 0.999)
  AdamScalars s2 = adam_scalars_for_step(2, 1e-3, 0.9, 0.999, 1e-8);
  EXPECT_NEAR(s2.step_size, 1e-3 / 0.19, 1e-15);                     // 1 - 0.81
  EXPECT_NEAR(s2.bias_correction2_sqrt, std::sqrt(0.001999), 1e-15);  // 1 - 0.998001
  EXPECT_DOUBLE_EQ(s2.one_minus_beta1, 1.0 - 0.9);
}

// The step count and the learning rate are tensors: the same step() call, three times, takes
// steps 1, 2, 3 (each with its own bias correction), as three host-computed updates do.
TEST(StepState, AdamTakesItsStepCountFromItsTensor) {
  ParameterArena arena;
  Tensor w = arena.add_parameter("w", {5}, ParamInit::Weight);
  arena.build(Device::CPU, DType::F64);
  w.copy_(Tensor::from_vector({5}, {0.5, -1, 2, 0.25, -0.125}, DType::F64));
  Adam adam(arena, {1e-2, 0.9, 0.999, 1e-8});
  std::vector<double> p = values(w), m(5, 0.0), v(5, 0.0);
  const std::vector<double> g = {0.1, -0.2, 0.3, 0.05, -0.4};
  w.grad().copy_(Tensor::from_vector({5}, g, DType::F64));
  for (int t = 1; t <= 4; ++t) {
    // Step 4 runs at a new learning rate, written into the tensor between steps.
    const double lr = t == 4 ? 5e-3 : 1e-2;
    if (t == 4) adam.set_lr(lr);
    adam.step();
    for (int i = 0; i < 5; ++i) {  // torch.optim.Adam's formula, written out
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      const double mhat = m[i] / (1 - std::pow(0.9, t)), vhat = v[i] / (1 - std::pow(0.999, t));
      p[i] -= lr * mhat / (std::sqrt(vhat) + 1e-8);
    }
    std::vector<double> got = values(w);
    for (int i = 0; i < 5; ++i) EXPECT_NEAR(got[i], p[i], 1e-12) << "step " << t << " element " << i;
  }
  EXPECT_EQ(adam.step_count(), 4);
  adam.set_step_count(10);
  EXPECT_EQ(adam.step_count(), 10);
  EXPECT_EQ(adam.lr(), 5e-3);
  EXPECT_EQ(values(adam.lr_tensor()), std::vector<double>{5e-3});
  EXPECT_THROW(adam.set_lr(-1), Error);
}

TEST(StepState, LinearDecayFollowsTheStepCounter) {
  Tensor step = make_counter(Device::CPU, 0);
  Tensor a = Tensor::zeros({1}, DType::F64), b = Tensor::zeros({1}, DType::F64);
  linear_decay_lr_(step, 2e-4, 100, a, b);
  EXPECT_EQ(values(a), std::vector<double>{2e-4});
  EXPECT_EQ(values(b), std::vector<double>{2e-4});
  set_counter(step, 25);
  linear_decay_lr_(step, 2e-4, 100, a, Tensor());
  EXPECT_DOUBLE_EQ(a.item(), 1.5e-4);  // 2e-4 (1 - 1/4)
  EXPECT_DOUBLE_EQ(b.item(), 2e-4) << "an undefined second tensor is left out";
  set_counter(step, 130);
  linear_decay_lr_(step, 2e-4, 100, a, b);
  EXPECT_EQ(a.item(), 0.0) << "past the end the rate stays 0, not negative";
  EXPECT_THROW(linear_decay_lr_(step, 2e-4, 100, Tensor::zeros({1}), b), Error) << "lr tensors are float64";
}

TEST(StepState, MetricsAppendWritesRowsAtTheCounterAndWraps) {
  Tensor buffer = Tensor::zeros({3, 2}), row = make_counter(Device::CPU, 0);
  for (int r = 0; r < 4; ++r) metrics_append_(buffer, row, Tensor::from_vector({2}, {double(r), 10.0 + r}));
  // Rows 0, 1, 2, then the fourth wraps onto row 0.
  EXPECT_EQ(values(buffer), (std::vector<double>{3, 13, 1, 11, 2, 12}));
  EXPECT_EQ(counter_value(row), 1);
  EXPECT_THROW(metrics_append_(buffer, row, Tensor::zeros({3})), Error) << "a row of the wrong length";
}

TEST(StepState, EmaCopiesUntilItsStartThenAverages) {
  Tensor e = Tensor::from_vector({3}, {1, 2, 3}, DType::F64), g = Tensor::from_vector({3}, {5, 6, 7}, DType::F64);
  Tensor step = make_counter(Device::CPU, 2);
  ema_update_(e, g, step, /*ema_start=*/2, /*decay=*/0.75);
  EXPECT_EQ(values(e), (std::vector<double>{5, 6, 7})) << "step 2 <= start 2: a copy";
  g.copy_(Tensor::from_vector({3}, {9, 10, 3}, DType::F64));
  set_counter(step, 3);
  ema_update_(e, g, step, 2, 0.75);
  EXPECT_EQ(values(e), (std::vector<double>{6, 7, 6})) << "e + 0.25 (g - e)";
}

// The cursor form of the sampler gives the batches batch_into gives, in order; seek and set_epoch
// move the cursor, and running past the epoch's end is an error.
TEST(StepState, SamplerCursorWalksTheEpochInOrder) {
  Tensor images = Tensor::empty({40, 3, 2, 2}, DType::U8);
  for (int64_t i = 0; i < images.numel(); ++i) images.data<uint8_t>()[i] = static_cast<uint8_t>((i * 7) % 251);
  data::BatchSampler s(images, Device::CPU, 8, 123);
  ASSERT_EQ(s.batches_per_epoch(), 5);
  Tensor got = Tensor::empty({8, 3, 2, 2});
  for (int64_t b = 0; b < 5; ++b) {
    s.batch_into_next(got);
    EXPECT_EQ(values(got), values(s.batch(b))) << "batch " << b;
    EXPECT_EQ(s.next_index(), b + 1);
  }
  EXPECT_THROW(s.batch_into_next(got), Error) << "past the epoch's last batch";
  s.seek(3);
  s.batch_into_next(got);
  EXPECT_EQ(values(got), values(s.batch(3)));
  s.set_epoch(1);
  EXPECT_EQ(s.next_index(), 0);
  s.batch_into_next(got);
  EXPECT_EQ(values(got), values(s.batch(0)));
  EXPECT_THROW(s.seek(6), Error);
}

// ------------------------------------------------------------------ CUDA (skipped without a GPU)

TEST(CudaParity, StepStateKernelsMatchTheCpu) {
  NN_SKIP_WITHOUT_CUDA();
  Tensor c = make_counter(Device::CUDA, 7);
  Tensor start = counter_take_(c, 5);
  EXPECT_EQ(values(start), std::vector<double>{7});
  EXPECT_EQ(counter_value(c), 12);

  Tensor step = make_counter(Device::CUDA, 25);
  Tensor a = Tensor::zeros({1}, DType::F64, Device::CUDA);
  linear_decay_lr_(step, 2e-4, 100, a, Tensor());
  EXPECT_EQ(a.item(), linear_decay_lr(25, 2e-4, 100));

  Tensor buffer = Tensor::zeros({2, 3}, DType::F32, Device::CUDA), row = make_counter(Device::CUDA, 0);
  for (int r = 0; r < 3; ++r)
    metrics_append_(buffer, row, Tensor::from_vector({3}, {double(r), 1.5, -2.0 * r}, DType::F32, Device::CUDA));
  EXPECT_EQ(values(buffer), (std::vector<double>{2, 1.5, -4, 1, 1.5, -2}));

  Tensor e = rand_tensor({1000}, 1, -1, 1, DType::F32).to(Device::CUDA);
  Tensor g = rand_tensor({1000}, 2, -1, 1, DType::F32).to(Device::CUDA);
  Tensor e_cpu = e.to(Device::CPU), g_cpu = g.to(Device::CPU);
  Tensor s_cpu = make_counter(Device::CPU, 9), s_gpu = make_counter(Device::CUDA, 9);
  ema_update_(e, g, s_gpu, 3, 0.999);
  ema_update_(e_cpu, g_cpu, s_cpu, 3, 0.999);
  EXPECT_EQ(values(e), values(e_cpu)) << "the EMA update is the CPU's, bit for bit";

  // Adam on the GPU with its device-side step count: three steps as on the CPU.
  ParameterArena pa, pb;
  Tensor wa_ = pa.add_parameter("w", {300}, ParamInit::Weight);
  Tensor wb_ = pb.add_parameter("w", {300}, ParamInit::Weight);
  pa.build(Device::CPU, DType::F32);
  pb.build(Device::CUDA, DType::F32);
  Tensor w0 = rand_tensor({300}, 5, -1, 1, DType::F32), g0 = rand_tensor({300}, 6, -1, 1, DType::F32);
  wa_.copy_(w0);
  wb_.copy_(w0);
  wa_.grad().copy_(g0);
  wb_.grad().copy_(g0);
  Adam oa(pa, {1e-3, 0.5, 0.999, 1e-8}), ob(pb, {1e-3, 0.5, 0.999, 1e-8});
  for (int t = 0; t < 3; ++t) {
    oa.step();
    ob.step();
  }
  EXPECT_EQ(ob.step_count(), 3);
  std::vector<double> wa = values(wa_), wb = values(wb_);
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_NEAR(wa[i], wb[i], 1e-6) << i;
}

TEST(CudaParity, DeviceGeneratorDrawsTheCpuValues) {
  NN_SKIP_WITHOUT_CUDA();
  DeviceGenerator cpu(31, Device::CPU, 4), gpu(31, Device::CUDA, 4);
  for (int64_t n : {17, 1000}) {
    Tensor a = Tensor::empty({n}), b = Tensor::empty({n}, DType::F32, Device::CUDA);
    a.normal_(cpu);
    b.normal_(gpu);
    EXPECT_EQ(values(a), values(b)) << n;
    Tensor x = rand_tensor({n}, 8, -1, 1, DType::F32);
    EXPECT_EQ(values(dropout(x, 0.4, true, cpu)), values(dropout(x.to(Device::CUDA), 0.4, true, gpu))) << n;
  }
  EXPECT_EQ(cpu.offset(), gpu.offset());
}

// One capture, three replays: each replay draws the next noise (the counter is read and advanced
// on the device), so the three results equal three eager draws, and none equals another.
TEST(CudaGraphCuda, ReplaysDrawFreshNoiseFromDeviceCounters) {
  NN_SKIP_WITHOUT_CUDA();
  DeviceGenerator eager(5, Device::CUDA), replayed(5, Device::CUDA);
  Tensor out = Tensor::empty({257}, DType::F32, Device::CUDA);
  Tensor steps = make_counter(Device::CUDA, 0);
  CudaGraph graph;
  const std::string why = graph.capture([&] {
    Tensor noise = Tensor::empty({257}, DType::F32, Device::CUDA);  // allocated and freed inside the graph
    noise.normal_(replayed);
    out.copy_(noise);
    counter_take_(steps, 1, false);
  });
  ASSERT_EQ(why, "") << "capture failed";
  ASSERT_TRUE(graph.ready());
  EXPECT_GE(graph.kernel_nodes(), 3);
  EXPECT_EQ(replayed.offset(), 0u) << "capturing runs nothing";
  std::vector<std::vector<double>> seen;
  for (int r = 0; r < 3; ++r) {
    graph.replay();
    Tensor want = Tensor::empty({257}, DType::F32, Device::CUDA);
    want.normal_(eager);
    EXPECT_EQ(values(out), values(want)) << "replay " << r;
    seen.push_back(values(out));
  }
  EXPECT_NE(seen[0], seen[1]);
  EXPECT_EQ(counter_value(steps), 3);
  EXPECT_EQ(replayed.offset(), eager.offset());
}

TEST(CudaGraph, WithoutAGpuCaptureSaysWhy) {
  if (CudaGraph::supported()) GTEST_SKIP() << "a GPU is present: CudaGraphCuda.* cover capture";
  CudaGraph graph;
  bool ran = false;
  const std::string why = graph.capture([&] { ran = true; });
  EXPECT_FALSE(why.empty());
  EXPECT_FALSE(graph.ready());
  EXPECT_FALSE(ran) << "nothing is run when no capture can happen";
  EXPECT_THROW(graph.replay(), Error);
}

}  // namespace
}  // namespace nn::test
