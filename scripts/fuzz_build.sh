# Sourced by the fuzz_*.sh scripts: configures the clang libFuzzer build and builds one target.
#   source scripts/fuzz_build.sh; build_fuzzer fuzz_decode     (sets $build, the build folder)
# Builds into build-fuzz/ (or $HSANET_FUZZ_BUILD_DIR): clang, ASan and UBSan, only the fuzzers.

build=${HSANET_FUZZ_BUILD_DIR:-build-fuzz}

build_fuzzer() {
  # clang's -fopenmp would pull in LLVM's libomp; the engine's libraries link OpenMP, and a
  # process must only ever hold GNU libgomp, so FindOpenMP is pointed at it explicitly.
  local gomp
  gomp=$(gcc -print-file-name=libgomp.so)
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DHSANET_FUZZ=ON \
    -DHSANET_BUILD_TESTS=OFF -DHSANET_BUILD_BENCH=OFF -DHSANET_CUDA=OFF -DHSANET_MPI=OFF \
    -DOpenMP_CXX_FLAGS=-fopenmp=libgomp -DOpenMP_CXX_LIB_NAMES=gomp -DOpenMP_gomp_LIBRARY="$gomp" \
    -DOpenMP_C_FLAGS=-fopenmp=libgomp -DOpenMP_C_LIB_NAMES=gomp >/dev/null
  cmake --build "$build" --target "$1" -j "$(nproc)"
}
