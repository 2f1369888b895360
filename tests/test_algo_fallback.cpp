// The cuDNN algorithm selection and fallback (src/cuda/algo_fallback.h), driven with fake
// candidate lists: plain C++, so these run on every machine, GPU or not. The CUDA side
// (src/cuda/cudnn_conv.cpp) only translates cuDNN's lists and statuses into these terms.
#include <gtest/gtest.h>

#include <iostream>
#include <vector>

#include "cuda/algo_fallback.h"
#include "nn/backend.h"
#include "test_util.h"

namespace nn::test {
namespace {

using cuda::AlgoAttempt;
using cuda::AlgoCandidate;
using cuda::AlgoPolicy;
using cuda::run_first_that_works;
using cuda::usable_candidates;

AlgoCandidate cand(int algo) {
  AlgoCandidate c;
  c.algo = algo;
  return c;
}

std::vector<int> algos(const std::vector<AlgoCandidate>& cs) {
  std::vector<int> out;
  for (const auto& c : cs) out.push_back(c.algo);
  return out;
}

TEST(AlgoFallback, UsableCandidatesKeepCudnnsOrderAndDropWhatThePolicyForbids) {
  std::vector<AlgoCandidate> listed;
  for (int a = 0; a < 7; ++a) listed.push_back(cand(a));
  listed[1].listed_ok = false;                    // failed its trial in cudnnFind
  listed[2].workspace_bytes = (size_t{1} << 30) + 1;  // over the cap
  listed[3].deterministic = false;
  listed[4].tensor_op_math = true;
  listed[5].transform_based = true;
  AlgoPolicy loose;  // defaults: not deterministic, TF32 off, FFT/Winograd allowed
  EXPECT_EQ(algos(usable_candidates(listed, loose)), (std::vector<int>{0, 3, 5, 6}));

  AlgoPolicy strict;
  strict.deterministic = true;
  strict.exact_algorithms = true;
  EXPECT_EQ(algos(usable_candidates(listed, strict)), (std::vector<int>{0, 6}));

  AlgoPolicy tf32;
  tf32.allow_tf32 = true;
  EXPECT_EQ(algos(usable_candidates(listed, tf32)), (std::vector<int>{0, 3, 4, 5, 6}));

  // The order is cuDNN's (best first), never re-sorted.
  std::vector<AlgoCandidate> reversed{cand(9), cand(2), cand(5)};
  EXPECT_EQ(algos(usable_candidates(reversed, loose)), (std::vector<int>{9, 2, 5}));
}

// The case the GPU check worries about: heuristics list an algorithm first that then refuses
// the geometry (D's last conv with a 1x1 output). The next one is tried and kept.
TEST(AlgoFallback, RefusedAlgorithmFallsBackToTheNextOne) {
  std::vector<AlgoCandidate> cs{cand(1), cand(0), cand(7)};
  std::vector<int> tried;
  const size_t chosen = run_first_that_works(
      cs,
      [&](const AlgoCandidate& c) {
        tried.push_back(c.algo);
        return c.algo == 1 ? AlgoAttempt::refused("CUDNN_STATUS_NOT_SUPPORTED") : AlgoAttempt::ran();
      },
      "forward of x (1,2,4,4)");
  EXPECT_EQ(chosen, 1u);
  EXPECT_EQ(tried, (std::vector<int>{1, 0})) << "stops at the first algorithm that runs";
}

TEST(AlgoFallback, FirstCandidateThatRunsIsKeptWithoutTryingOthers) {
  std::vector<AlgoCandidate> cs{cand(4), cand(5)};
  int calls = 0;
  EXPECT_EQ(run_first_that_works(
                cs,
                [&](const AlgoCandidate&) {
                  ++calls;
                  return AlgoAttempt::ran();
                },
                "x"),
            0u);
  EXPECT_EQ(calls, 1);
}

TEST(AlgoFallback, EveryRefusalIsNamedWhenNoneRuns) {
  std::vector<AlgoCandidate> cs{cand(1), cand(6)};
  expect_error_containing(
      [&] {
        run_first_that_works(
            cs,
            [](const AlgoCandidate& c) {
              return AlgoAttempt::refused(c.algo == 1 ? "CUDNN_STATUS_BAD_PARAM" : "CUDA out of memory: asked for 9 MiB");
            },
            "backward-data of x (2,3,1,1)");
      },
      {"no algorithm would run for backward-data of x (2,3,1,1)", "algorithm 1 (CUDNN_STATUS_BAD_PARAM)",
       "algorithm 6 (CUDA out of memory"});
}

// A real failure (an execution error) is not hidden by trying another algorithm.
TEST(AlgoFallback, FailureStopsAtOnce) {
  std::vector<AlgoCandidate> cs{cand(3), cand(0)};
  int calls = 0;
  expect_error_containing(
      [&] {
        run_first_that_works(
            cs,
            [&](const AlgoCandidate&) {
              ++calls;
              return AlgoAttempt::failed("CUDNN_STATUS_EXECUTION_FAILED");
            },
            "forward of y");
      },
      {"forward of y", "algorithm 3 failed", "CUDNN_STATUS_EXECUTION_FAILED"});
  EXPECT_EQ(calls, 1);
}

TEST(AlgoFallback, NoCandidateIsAClearError) {
  expect_error_containing(
      [] { run_first_that_works({}, [](const AlgoCandidate&) { return AlgoAttempt::ran(); }, "forward of z"); },
      {"no usable algorithm for forward of z"});
}

}  // namespace
}  // namespace nn::test

namespace nn::test {
namespace {

// The libraries the process loaded, by file (what gan_train's start block prints). cuDNN and
// cuBLAS answer their version queries without a GPU, so this runs in every CUDA build.
TEST(CudaLibraries, DescriptionNamesTheLoadedFiles) {
  if (!cuda_built()) GTEST_SKIP() << "CPU-only build: no cuDNN or cuBLAS";
  const std::string d = cuda_library_description();
  std::cout << "loaded: " << d << "\n";  // in the GPU check's cuda_tests log too
  EXPECT_NE(d.find("cuDNN 9."), std::string::npos) << d;
  EXPECT_NE(d.find("libcudnn.so.9"), std::string::npos) << d;
  EXPECT_NE(d.find("cuBLAS "), std::string::npos) << d;
  EXPECT_NE(d.find("libcublas.so."), std::string::npos) << d;
  EXPECT_EQ(d.find("file unknown"), std::string::npos) << d;
  // The build links one cuDNN and the run path puts its folder first: no mismatch warning.
  EXPECT_EQ(d.find("warning"), std::string::npos) << d;
}

}  // namespace
}  // namespace nn::test
