// shape.cpp — reshape and flatten: views over the same storage (no copy).
//
//   forward:  y = x viewed with a new shape (same number of elements, row-major order)
//   backward: dx += dy viewed with x's shape
//
// Tests: tests/test_elementwise.cpp (Gradcheck.reshape, CudaParity.reshape, Tensor.ReshapeIsAView).
#include "op_util.h"

namespace nn {

Tensor reshape(const Tensor& x, const Shape& shape) {
  check_defined("reshape", x, "input");
  Shape target = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      NN_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      NN_CHECK(target[i] >= 0, "reshape: negative dimension in ", shape_str(shape));
      known *= target[i];
    }
  }
  if (infer >= 0) {
    NN_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot view ", shape_str(x.shape()), " as ",
             shape_str(shape));
    target[infer] = x.numel() / known;
  }
  NN_CHECK(shape_numel(target) == x.numel(), "reshape: cannot view ", shape_str(x.shape()), " (", x.numel(),
           " elements) as ", shape_str(shape));
  Tensor y = x.reshape_view(target);
  record_op(y, "reshape", {x}, [x](const Tensor& gy) { accumulate_(x.ensure_grad(), gy.reshape_view(x.shape())); });
  return y;
}

Tensor flatten(const Tensor& x) {
  check_defined("flatten", x, "input");
  NN_CHECK(x.dim() >= 1, "flatten: needs at least 1 dimension, got ", shape_str(x.shape()));
  return reshape(x, {x.size(0), -1});
}

}  // namespace nn
