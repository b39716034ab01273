#!/usr/bin/env bash
# Installs every build and test dependency from Debian packages. Safe to re-run:
# apt-get skips what is already installed.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates
  libopenblas-openmp-dev liblapacke-dev
  nlohmann-json3-dev libsentencepiece-dev libpcre2-dev libcli11-dev
  libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev libpng-dev libhwy-dev
  libutf8proc-dev
  libopenmpi-dev openmpi-bin libscalapack-openmpi-dev
  libclang-rt-14-dev  # libFuzzer's runtime: the fuzz smoke of the sanitizer suite (test.sh --sanitize)
)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi
