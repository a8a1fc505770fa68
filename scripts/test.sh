#!/usr/bin/env bash
# The test command: installs dependencies, configures, builds and runs the whole
# suite through CTest. Usage: scripts/test.sh [preset]   (release | debug | asan)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
jobs="$(nproc)"

scripts/install-deps.sh --browser   # Chromium: the report test opens the HTML page in it
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
ctest --preset "$preset" -j "$jobs"
