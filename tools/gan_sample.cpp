// gan_sample — images from a gan_train checkpoint's generator.
//
//   gan_sample --checkpoint runs/dcgan/checkpoint_latest.safetensors --out samples.png
//       an 8x8 grid of 64 samples (--count N, --nrow K)
//   gan_sample --checkpoint ... --interpolate --steps 10 --out strip.png
//       a strip walking in a straight line from one noise vector to another
//
// The generator is rebuilt from the configuration stored in the checkpoint, run in eval mode
// (batchnorm running statistics), on the CPU unless --device cuda. --seed picks the noise.
#include <iostream>

#include "io/png.h"
#include "tool_options.h"
#include "train/models.h"

int main(int argc, char** argv) {
  GanSampleArgs args;
  if (auto exit_code = parse_gan_sample(argc, argv, args)) return *exit_code;
  const std::string &checkpoint = args.checkpoint, &out = args.out, &device_name = args.device;
  const int64_t count = args.count, steps = args.steps;
  int64_t nrow = args.nrow;
  const uint64_t seed = args.seed;
  const bool interpolate = args.interpolate;
  try {
    const nn::Device device = device_name == "cuda" ? nn::Device::CUDA : nn::Device::CPU;
    auto gan = nn::train::load_generator(checkpoint, device);

    nn::Generator rng(seed);
    nn::Tensor noise;
    if (!interpolate) {
      noise = nn::Tensor::empty(gan->noise_shape(count), nn::DType::F32, nn::Device::CPU);
      noise.normal_(rng);
    } else {
      // z_t = (1 - t) z_a + t z_b for t = 0, 1/(steps-1), ..., 1.
      nn::Tensor ends = nn::Tensor::empty(gan->noise_shape(2), nn::DType::F32, nn::Device::CPU);
      ends.normal_(rng);
      noise = nn::Tensor::empty(gan->noise_shape(steps), nn::DType::F32, nn::Device::CPU);
      const int64_t nz = gan->noise_shape(1)[1];
      const float* z = ends.data<float>();
      float* dst = noise.data<float>();
      for (int64_t s = 0; s < steps; ++s) {
        const float t = static_cast<float>(s) / static_cast<float>(steps - 1);
        for (int64_t k = 0; k < nz; ++k) dst[s * nz + k] = (1 - t) * z[k] + t * z[nz + k];
      }
      nrow = steps;
    }
    nn::NoGradGuard no_grad;
    nn::Tensor images = gan->generator.net.forward(noise.to(device));
    nn::io::write_image_grid_png(out, images, nrow);
    std::cout << "wrote " << images.size(0) << " images from " << checkpoint << " to " << out << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "gan_sample: error: " << e.what() << "\n";
    return 1;
  }
}
