#!/usr/bin/env bash
# Installs the Debian 12 packages hsanet needs, only those that are missing. Idempotent.
# Starts from a bare Debian 12 root: scripts/check_fresh_machine.sh proves it in a clean chroot.
# Run as root (or with sudo).
#
# Usage: scripts/install_deps.sh [--no-mpi] [--with-chromium]
#   --no-mpi   leave out Open MPI: CMake then builds without data-parallel training
#              (HSANET_MPI=AUTO) and its 2-process test reports itself skipped. By default it is
#              installed, so that the README's two commands configure the same build and the
#              second does not rebuild the first's.
#   --with-chromium  also Chromium (about 300 MB), for scripts/check_report.sh, which renders a
#              run's report.html headless; without it that check reports itself skipped.
set -euo pipefail

with_mpi=1
with_chromium=0
for arg in "$@"; do
  case "$arg" in
    --no-mpi) with_mpi=0 ;;
    --with-chromium) with_chromium=1 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install_deps: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libdnnl-dev        # oneDNN 2.6.3: convolutions, matmul
  # Debian's oneDNN CMake package (dnnl-config.cmake) calls find_package(OpenCL) even for this
  # CPU-only use, and stops the configure step without it. Its headers and the ICD loader are
  # small, and installing them keeps find_package(dnnl), the documented way to find oneDNN,
  # instead of a hand-written search that would drift from Debian's package.
  ocl-icd-opencl-dev opencl-c-headers
  libhwy-dev         # Highway 1.0.3: SIMD kernels
  libstb-dev         # stb_image: image decoding
  libgtest-dev libgmock-dev  # tests
  libbenchmark-dev   # benchmarks
  libcli11-dev nlohmann-json3-dev
  libfmt-dev         # messages of any length (fmt::format), never a fixed buffer
  python3
)
if [ "$with_mpi" -eq 1 ]; then
  packages+=(libopenmpi-dev openmpi-bin)   # data-parallel training (optional: HSANET_MPI=AUTO)
fi
if [ "$with_chromium" -eq 1 ]; then
  packages+=(chromium)   # scripts/check_report.sh: report.html in a real browser (optional)
fi

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
