// Tests for include/nn/tensor.h: storage, views, copies, fills, printing, errors.
#include <sstream>

#include "test_util.h"

namespace nn::test {
namespace {

TEST(Tensor, FactoriesAndProperties) {
  Tensor t = Tensor::full({2, 3, 4}, 1.5, DType::F64);
  EXPECT_EQ(t.dim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.nbytes(), 24u * 8u);
  for (double v : t.to_vector()) EXPECT_EQ(v, 1.5);
  Tensor s = Tensor::zeros({});  // 0-dim: one element
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.item(), 0.0);
  EXPECT_THROW(t.size(3), Error);
  EXPECT_THROW(Tensor::empty({2, -1}), Error);
}

TEST(Tensor, ReshapeIsAView) {
  Tensor t = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor v = reshape(t, {3, -1});
  EXPECT_EQ(v.shape(), (Shape{3, 2}));
  EXPECT_EQ(v.raw(), t.raw()) << "reshape must not copy";
  v.data<float>()[0] = 42;
  EXPECT_EQ(t.to_vector()[0], 42);
  EXPECT_EQ(flatten(Tensor::zeros({4, 2, 3, 5})).shape(), (Shape{4, 30}));
  try {
    reshape(t, {4, 2});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(2,3)"), std::string::npos) << e.what();
  }
}

TEST(Tensor, CopiesAndDtypes) {
  Tensor a = Tensor::from_vector({3}, {0.1, 0.2, 0.3}, DType::F64);
  Tensor b = a.to(DType::F32);
  EXPECT_EQ(b.dtype(), DType::F32);
  EXPECT_FLOAT_EQ(static_cast<float>(b.to_vector()[1]), 0.2f);
  Tensor c = a.clone();
  c.data<double>()[0] = 9;
  EXPECT_EQ(a.to_vector()[0], 0.1) << "clone must copy";
  EXPECT_THROW(a.data<float>(), Error);  // wrong dtype
  EXPECT_THROW(a.copy_(Tensor::zeros({4}, DType::F64)), Error);
}

TEST(Tensor, StorageOnlyDtypes) {
  Tensor bytes = Tensor::from_vector({3}, {0, 128, 255}, DType::U8);
  EXPECT_EQ(bytes.nbytes(), 3u);
  EXPECT_EQ(bytes.data<uint8_t>()[2], 255);
  EXPECT_EQ(bytes.to(DType::F32).to_vector(), (std::vector<double>{0, 128, 255}));
  Tensor idx = Tensor::zeros({2}, DType::I64);
  idx.data<int64_t>()[1] = int64_t{1} << 40;
  EXPECT_EQ(idx.to_vector()[1], static_cast<double>(int64_t{1} << 40));
  EXPECT_THROW(relu(bytes), Error);  // ops compute in float32/float64 only
  EXPECT_THROW(bytes.data<float>(), Error);
}

TEST(Tensor, PrintsShapeDtypeAndValues) {
  std::ostringstream os;
  os << Tensor::from_vector({2}, {1, 2});
  EXPECT_EQ(os.str(), "Tensor(float32 cpu (2)) [1, 2]");
}

TEST(Tensor, CudaTensorsWithoutGpuGiveAClearError) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present";
  try {
    Tensor::zeros({2}, DType::F32, Device::CUDA);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_TRUE(msg.find("no usable GPU") != std::string::npos || msg.find("no CUDA backend") != std::string::npos)
        << msg;
  }
}

TEST(CudaParity, TensorRoundTrip) {
  NN_SKIP_WITHOUT_CUDA();
  Tensor a = rand_tensor({5, 7}, 3, -1, 1, DType::F32);
  Tensor g = a.to(Device::CUDA);
  EXPECT_TRUE(g.is_cuda());
  EXPECT_EQ(g.to(Device::CPU).to_vector(), a.to_vector());
  Tensor g2 = Tensor::zeros({5, 7}, DType::F32, Device::CUDA);
  g2.copy_(g);  // device to device
  EXPECT_EQ(g2.to_vector(), a.to_vector());
  // float64 on CUDA is storage (the step state's scalars), which no op accepts.
  Tensor d = Tensor::from_vector({2}, {0.25, -3.0}, DType::F64, Device::CUDA);
  EXPECT_EQ(d.to_vector(), (std::vector<double>{0.25, -3.0}));
  EXPECT_EQ(Tensor::zeros({2}, DType::F64, Device::CUDA).to_vector(), (std::vector<double>{0, 0}));
  EXPECT_THROW(add(d, d), Error);  // CUDA kernels are float32 only
  EXPECT_THROW(add(a, g), Error);                                        // mixed devices
}

}  // namespace
}  // namespace nn::test
