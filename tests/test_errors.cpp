// Errors carry the op, the shapes and the library's own message (DESIGN.md, "Errors throw").
// The CUDA/cuBLAS/cuDNN macros are exercised with error codes directly: turning a status into a
// message needs the libraries, not a GPU, so these run in CI too (in a CUDA build).
#include "test_util.h"

#if defined(NN_WITH_CUDA)
#include "cuda/context.h"
#endif

namespace nn::test {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(Errors, OpScopeNamesTheInnermostOpAndShapes) {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({3, 4});
  EXPECT_EQ(current_op_context(), "");
  {
    OpScope outer("matmul", {&a, &b});
    EXPECT_EQ(current_op_context(), " (in matmul on (2,3), (3,4))");
    {
      Tensor undefined;
      OpScope inner("relu backward", {&a, &undefined});
      EXPECT_EQ(current_op_context(), " (in relu backward on (2,3))");
    }
    EXPECT_EQ(current_op_context(), " (in matmul on (2,3), (3,4))");
  }
  EXPECT_EQ(current_op_context(), "");
}

#if defined(NN_WITH_CUDA)
TEST(Errors, CudaCheckReportsRuntimeMessageCallAndOp) {
  Tensor x = Tensor::zeros({64, 3, 32, 32});
  OpScope scope("conv2d", {&x});
  std::string msg = error_message([] { NN_CUDA_CHECK(cudaErrorInvalidValue); });
  EXPECT_TRUE(contains(msg, "CUDA error cudaErrorInvalidValue: invalid argument")) << msg;
  EXPECT_TRUE(contains(msg, "test_errors.cpp:")) << msg;
  EXPECT_TRUE(contains(msg, "(in conv2d on (64,3,32,32))")) << msg;
}

TEST(Errors, CudnnAndCublasChecksReportLibraryMessages) {
  std::string cudnn_msg = error_message([] { NN_CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM); });
  EXPECT_TRUE(contains(cudnn_msg, "cuDNN error CUDNN_STATUS_BAD_PARAM")) << cudnn_msg;
  std::string cublas_msg = error_message([] { NN_CUBLAS_CHECK(CUBLAS_STATUS_INVALID_VALUE); });
  EXPECT_TRUE(contains(cublas_msg, "cuBLAS error CUBLAS_STATUS_INVALID_VALUE")) << cublas_msg;
}
#else
TEST(Errors, CudaCheckReportsRuntimeMessageCallAndOp) { GTEST_SKIP() << "CPU-only build: no CUDA error macros"; }
TEST(Errors, CudnnAndCublasChecksReportLibraryMessages) { GTEST_SKIP() << "CPU-only build: no cuDNN/cuBLAS"; }
#endif

TEST(Errors, WrongDtypeNamesTheOp) {
  std::string msg = error_message([] { add(Tensor::zeros({2}), Tensor::zeros({2}, DType::F64)); });
  EXPECT_EQ(msg, "add: dtype mismatch: float32 cpu (2) and float64 cpu (2)");
}

}  // namespace
}  // namespace nn::test
