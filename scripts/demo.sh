#!/usr/bin/env bash
# The main job on a fresh machine: set-up, release build, then the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release
.build/release/dynaslim bench kernels
