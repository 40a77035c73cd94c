#!/usr/bin/env bash
# Packs the Python 3.12 wheels that genrt's tests and benchmarks need on the lent GPU machine (which
# has no network) into parts of at most 45 MiB: .gpuwhl/deps-part-NN, each carried by one `run`
# and copied to /root/whl/ there (see tools/gpu_session.sh). Run in the project's root, after
# ../shared/tools/gpu-ort-parts (which makes .gpuwhl/ and keeps it out of git).
# Packages the machine already has are skipped there, so the list may be generous.
set -eu
cd "$(git rev-parse --show-toplevel)"
mkdir -p .gpuwhl/deps
python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .gpuwhl/deps cython pytest hypothesis "onnx>=1.21" "onnxscript>=0.5" click Pillow "starlette>=0.40" \
  "uvicorn>=0.30" httptools uvloop tqdm safetensors matplotlib scipy
tar -C .gpuwhl -cf .gpuwhl/deps.tar deps
rm -f .gpuwhl/deps-part-*
split -b 45M -d .gpuwhl/deps.tar .gpuwhl/deps-part-
rm .gpuwhl/deps.tar
ls -la .gpuwhl/deps-part-*
