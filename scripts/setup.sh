#!/usr/bin/env bash
# Installs the system packages DynaSlim needs, when missing (Debian/Ubuntu; uses sudo when not root).
#   libopenblas-dev  BLAS (pthread build)      pkg-config, zlib1g-dev  build shims
#   dataset-fashion-mnist  real data for the demo and real-data tests
#   librsvg2-bin  renders report SVGs in tests  python3-numpy + pip safetensors  interop test
set -euo pipefail
need=()
for p in libopenblas-dev pkg-config zlib1g-dev libpng-dev libturbojpeg0-dev libarchive-dev libssl-dev dataset-fashion-mnist librsvg2-bin; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "setup: installing ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: please install: ${need[*]} (macOS: brew install openblas; Fashion-MNIST IDX files under --data)" >&2
  fi
fi
if ! python3 -c "import safetensors, numpy, onnx, onnxruntime" 2>/dev/null; then
  python3 -m pip install -q safetensors numpy onnx onnxruntime 2>/dev/null ||
    echo "setup: pip install safetensors numpy onnx onnxruntime failed; the interop and ONNX tests will be skipped" >&2
fi
