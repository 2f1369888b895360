// The op list (include/nn/ops.def) is the contract: every differentiable op has a float64
// gradcheck (test Gradcheck.<op>) and a CUDA-vs-CPU test (test CudaParity.<op>). This file fails
// when one is missing, and checks that the two helpers can fail at all.
#include <gtest/gtest-spi.h>

#include <set>
#include <string>

#include "test_util.h"

namespace nn::test {
namespace {

const std::vector<std::string>& op_list() {
  static const std::vector<std::string> ops = {
#define NN_OP(name) #name,
#include "nn/ops.def"
#undef NN_OP
  };
  return ops;
}

std::set<std::string> tests_in_suite(const std::string& suite_name) {
  std::set<std::string> names;
  const ::testing::UnitTest* unit = ::testing::UnitTest::GetInstance();
  for (int i = 0; i < unit->total_test_suite_count(); ++i) {
    const ::testing::TestSuite* suite = unit->GetTestSuite(i);
    if (suite_name != suite->name()) continue;
    for (int j = 0; j < suite->total_test_count(); ++j) names.insert(suite->GetTestInfo(j)->name());
  }
  return names;
}

TEST(OpCoverage, EveryOpHasAGradcheckAndACudaParityTest) {
  ASSERT_GE(op_list().size(), 20u);
  std::set<std::string> gradchecks = tests_in_suite("Gradcheck");
  std::set<std::string> parities = tests_in_suite("CudaParity");
  for (const std::string& op : op_list()) {
    EXPECT_TRUE(gradchecks.count(op)) << "op '" << op << "' (ops.def) has no TEST(Gradcheck, " << op << ")";
    EXPECT_TRUE(parities.count(op)) << "op '" << op << "' (ops.def) has no TEST(CudaParity, " << op << ")";
  }
}

// An op whose backward forgets the factor 2 of d(x^2)/dx: gradcheck must catch it.
Tensor square_with_wrong_gradient(const Tensor& x) {
  Tensor y;
  {
    NoGradGuard no_grad;
    y = mul(x, x);
  }
  record_op(y, "wrong_square", {x}, [x](const Tensor& gy) { accumulate_(x.ensure_grad(), mul(gy, x.detach())); });
  return y;
}

TEST(OpCoverage, GradcheckCatchesAWrongGradient) {
  Tensor x = rand_tensor({5}, 77, 0.5, 1.5).requires_grad_();
  EXPECT_NONFATAL_FAILURE(gradcheck([](const auto& in) { return square_with_wrong_gradient(in[0]); }, {x}),
                          "gradient of input 0");
}

TEST(OpCoverage, AllCloseReportsTheWorstElement) {
  std::string where;
  EXPECT_TRUE(all_close({1.0, 2.0}, {1.0, 2.0 + 1e-9}, 1e-8, 0, &where));
  EXPECT_FALSE(all_close({1.0, 2.5, 3.0}, {1.0, 2.0, 3.1}, 1e-3, 0, &where));
  EXPECT_NE(where.find("worst element 1"), std::string::npos) << where;
  EXPECT_FALSE(all_close({NAN}, {1.0}, 1.0, 1.0, &where)) << "NaN never passes";
}

}  // namespace
}  // namespace nn::test
