#!/usr/bin/env bash
# Installs every build and run dependency of longctx from Debian packages.
# Idempotent; fails loudly. Options:
#   --corpus  also the Debian text packages the built-in default corpus is made from
#   --bench   also the peers used by bench/ (PyTorch)
#   --clang   also clang and its OpenMP runtime (the `clang` CMake preset)
#   --browser also Debian's Chromium, the headless browser the `longctx report` test opens
#             the page in (that test skips with a message without it)
set -euo pipefail

want_corpus=0
want_bench=0
want_clang=0
want_browser=0
for arg in "$@"; do
  case "$arg" in
    --corpus) want_corpus=1 ;;
    --bench) want_bench=1 ;;
    --clang) want_clang=1 ;;
    --browser) want_browser=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown option '$arg' (known: --corpus, --bench, --clang, --browser)" >&2; exit 2 ;;
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

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
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
echo "install-deps: done"
