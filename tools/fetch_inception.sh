#!/usr/bin/env bash
# tools/fetch_inception.sh: download pytorch-fid's FID Inception weights and convert them for the
# engine, in one command:
#
#   tools/fetch_inception.sh            # -> data/inception/pt_inception-2015-12-05-6726825d.safetensors
#   PYTHON=/path/to/venv/bin/python tools/fetch_inception.sh
#
# 1. data/inception/pt_inception-2015-12-05-6726825d.pth, unless already there: downloaded (curl or
#    wget) from pytorch-fid's release to a .part file, renamed when complete;
# 2. tools/convert_inception.py checks that its SHA-256 begins with 6726825d and writes the
#    safetensors file gan_eval reads (float32, pytorch-fid's tensor names, the .pth's SHA-256 in
#    the metadata). It needs a Python with torch and safetensors ($PYTHON, default python3).
#
# The .pth is about 92 MB; neither file is ever committed. Set INCEPTION_PTH to convert a copy
# you already have instead of downloading. One line and a non-zero exit on any failure.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "$0")/common.sh"

readonly URL="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
readonly DEST_DIR="data/inception"
readonly PTH="${INCEPTION_PTH:-$DEST_DIR/pt_inception-2015-12-05-6726825d.pth}"
readonly OUT="$DEST_DIR/pt_inception-2015-12-05-6726825d.safetensors"
readonly PY="${PYTHON:-python3}"

mkdir -p "$DEST_DIR"
if [[ ! -f "$PTH" ]]; then
  nn_log "downloading $URL"
  if command -v curl >/dev/null 2>&1; then
    curl -fL --retry 3 -o "$PTH.part" "$URL" || nn_die "download failed: $URL"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$PTH.part" "$URL" || nn_die "download failed: $URL"
  else
    nn_die "needs curl or wget to download $URL"
  fi
  mv "$PTH.part" "$PTH"
fi
"$PY" -c "import torch, safetensors" 2>/dev/null ||
  nn_die "$PY has no torch/safetensors: pip install torch safetensors, or set PYTHON=<a python that has them>"
"$PY" tools/convert_inception.py "$PTH" "$OUT"
