#!/usr/bin/env bash
# tools/train.sh: the main job: set up, build, fetch CIFAR-100, then train a GAN.
# This is the README's first quick-start command.
#
# Usage: tools/train.sh [gan_train options...]
#   tools/train.sh                 # the dcgan preset, 100 epochs, into runs/dcgan
#   tools/train.sh --device cpu --max-steps 20   # a smoke run on the CPU
#   tools/train.sh --help          # gan_train's options
#   BUILD_DIR=build NN_CMAKE_ARGS="-DCMAKE_CUDA_ARCHITECTURES=80" tools/train.sh
# Every argument goes to gan_train unchanged.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "$0")/common.sh"

bash tools/setup.sh
# NN_CMAKE_ARGS: extra cmake options for the build, split on spaces.
# shellcheck disable=SC2086
bash tools/build.sh ${NN_CMAKE_ARGS:-}

gan_train="${BUILD_DIR:-build}/gan_train"
if [[ ! -x "$gan_train" ]]; then
  nn_die "gan_train was not built (see the build output above)"
fi
nn_fetch_data
exec "$gan_train" "$@"
