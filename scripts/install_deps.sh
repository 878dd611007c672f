#!/usr/bin/env bash
# Installs the Debian 12 packages hsanet needs, only those that are missing. Idempotent.
# Run as root (or with sudo). Usage: scripts/install_deps.sh [--with-mpi]
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libdnnl-dev        # oneDNN 2.6.3: convolutions, matmul
  libhwy-dev         # Highway 1.0.3: SIMD kernels
  libstb-dev         # stb_image: image decoding
  libgtest-dev libgmock-dev  # tests
  libbenchmark-dev   # benchmarks
  libcli11-dev nlohmann-json3-dev libfmt-dev
  libopenmpi-dev openmpi-bin  # data-parallel training (optional at build time)
  python3
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install_deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
