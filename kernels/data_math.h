// data_math.h — the one formula that turns a dataset byte into a network input, shared by the
// CPU batch gather (src/data/cifar100.cpp) and the CUDA one (kernels/data.cu).
//
//   x = (byte - 127.5) / 127.5            i.e. byte / 127.5 - 1, mapping [0, 255] onto [-1, 1]
//
// Why this form and not fma(byte, 1/127.5f, -1): the subtraction is exact (byte and 127.5 need
// at most 9 significant bits) and the division is IEEE correctly rounded (div_rn, immune to
// nvcc's fast-math switches), so x is the float nearest to the true value byte/127.5 - 1 on
// both sides, bit for bit. The endpoints are exact (0 -> -1, 255 -> +1) and the map is
// symmetric (x(255 - b) = -x(b)). The fma form rounds 1/127.5 first and gives 255 -> 1 + 2^-23,
// just outside the generator's tanh range. Tested in tests/test_data.cpp.
#pragma once
#include <cstdint>

#include "hd.h"

namespace nn {

NN_HD float pixel_to_unit_range(uint8_t byte) {
  return div_rn(add_rn(static_cast<float>(byte), -127.5f), 127.5f);
}

}  // namespace nn
