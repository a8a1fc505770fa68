#!/usr/bin/env bash
# The test command: installs dependencies, configures, builds and runs the whole
# suite through CTest. Usage: scripts/test.sh [preset]   (release | debug | asan)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
jobs="$(nproc)"

scripts/install-deps.sh --browser   # Chromium: the report test opens the HTML page in it
# Node.js and the `openai` npm client for the server's real-client test; the npm registry is
# the one network dependency of the suite, so a failure here only makes that test skip.
scripts/install-deps.sh --openai-client ||
  echo "test.sh: warning: the openai npm client could not be installed; ServeCli.OpenAiNodeClient will skip" >&2
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
ctest --preset "$preset" -j "$jobs"
