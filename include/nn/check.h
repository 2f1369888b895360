// check.h — errors. Every failure in the engine throws nn::Error with one readable line:
// the op, the shapes, and (for CUDA/cuBLAS/cuDNN) the library's own message with call, file
// and line. Nothing here uses assert(): checks stay on in release builds.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace nn {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// str_cat("a", 1, "b") -> "a1b": builds error messages from any streamable values.
template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// "(2,3,8,8)"; a 0-dim (scalar) shape prints as "()".
std::string shape_str(const std::vector<int64_t>& shape);

[[noreturn]] void throw_error(const std::string& msg);

// " (in conv2d on (64,3,32,32), (128,3,4,4))" for the innermost OpScope of this thread, or "".
// The CUDA/cuBLAS/cuDNN check macros append it, so a library failure names the op and shapes.
std::string current_op_context();

}  // namespace nn

// NN_CHECK(cond, parts...): throws nn::Error(str_cat(parts...)) when cond is false.
#define NN_CHECK(cond, ...)                                   \
  do {                                                        \
    if (!(cond)) ::nn::throw_error(::nn::str_cat(__VA_ARGS__)); \
  } while (0)
