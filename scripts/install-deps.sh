#!/usr/bin/env bash
# Installs every build and run dependency of longctx from Debian packages.
# Idempotent; fails loudly. Options:
#   --corpus  also the Debian text packages the built-in default corpus is made from
#   --bench   also the peers used by bench/ (PyTorch)
#   --clang   also clang and its OpenMP runtime (the `clang` CMake preset)
#   --browser also Debian's Chromium, the headless browser the `longctx report` test opens
#             the page in (that test skips with a message without it)
#   --openai-client  also Node.js (Debian's nodejs and npm) and the `openai` npm package
#             (pinned, from the npm registry) in $LONGCTX_OPENAI_CLIENT_DIR (default
#             ~/.cache/longctx/openai-client), which the server's client test uses (it skips with
#             a message without it; tests never install anything themselves)
set -euo pipefail

want_corpus=0
want_bench=0
want_clang=0
want_browser=0
want_openai=0
OPENAI_VERSION=7.59.0
for arg in "$@"; do
  case "$arg" in
    --corpus) want_corpus=1 ;;
    --bench) want_bench=1 ;;
    --clang) want_clang=1 ;;
    --browser) want_browser=1 ;;
    --openai-client) want_openai=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown option '$arg' (known: --corpus, --bench, --clang, --browser, --openai-client)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas-dev libopenblas-openmp-dev libblis-dev libhwy-dev
  libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
  libsentencepiece-dev sentencepiece
  zlib1g-dev
  openmpi-bin libopenmpi-dev
)
if [ "$want_corpus" = 1 ]; then
  packages+=(bible-kjv bible-kjv-text jargon-text linux-doc-6.1 dict-gcide debian-reference-en)
fi
if [ "$want_bench" = 1 ]; then
  packages+=(python3-torch python3-numpy)
fi
if [ "$want_clang" = 1 ]; then
  packages+=(clang libomp-14-dev)
fi
if [ "$want_browser" = 1 ]; then
  packages+=(chromium)
fi
if [ "$want_openai" = 1 ] && ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

# The npm package goes in its own folder outside the repository (never vendored).
install_openai_client() {
  local dir="${LONGCTX_OPENAI_CLIENT_DIR:-$HOME/.cache/longctx/openai-client}"
  if [ -f "$dir/node_modules/openai/package.json" ] &&
     grep -q "\"version\": \"$OPENAI_VERSION\"" "$dir/node_modules/openai/package.json"; then
    echo "install-deps: openai $OPENAI_VERSION present in $dir"
    return
  fi
  mkdir -p "$dir"
  echo "install-deps: npm install openai@$OPENAI_VERSION into $dir"
  npm install --prefix "$dir" --no-audit --no-fund "openai@$OPENAI_VERSION"
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  if [ "$want_openai" = 1 ]; then install_openai_client; fi
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
if [ "$want_openai" = 1 ]; then install_openai_client; fi
echo "install-deps: done"
