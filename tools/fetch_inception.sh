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
#    the metadata). It needs a Python with torch and safetensors: $PYTHON, else python3 when it
#    has them, else a virtual environment .venv/inception made here (torch's CPU build).
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
PY="${PYTHON:-python3}"

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
# The .pth is a torch pickle, so the conversion needs torch. Without one (and no PYTHON given),
# a private virtual environment gets the CPU build of torch once (about 200 MB; PyPI's default
# build when PyTorch's CPU index cannot be reached).
if ! "$PY" -c "import torch, safetensors" 2>/dev/null; then
  [[ -z "${PYTHON:-}" ]] ||
    nn_die "$PY has no torch/safetensors: pip install torch safetensors, or set PYTHON=<a python that has them>"
  VENV=".venv/inception"
  if ! "$VENV/bin/python" -c "import torch, safetensors" 2>/dev/null; then
    nn_log "python3 has no torch: installing torch (CPU) and safetensors into $VENV, once"
    python3 -m venv "$VENV" ||
      nn_die "python3 -m venv failed (apt-get install python3-venv), or set PYTHON=<a python with torch and safetensors>"
    "$VENV/bin/pip" install -q --index-url https://download.pytorch.org/whl/cpu torch 2>/dev/null ||
      "$VENV/bin/pip" install -q torch || nn_die "pip install torch failed (see above)"
    "$VENV/bin/pip" install -q safetensors numpy || nn_die "pip install safetensors failed (see above)"
  fi
  PY="$VENV/bin/python"
fi
"$PY" tools/convert_inception.py "$PTH" "$OUT"
