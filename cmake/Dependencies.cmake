# Third-party libraries, all from Debian 12 packages (scripts/install_deps.sh installs them).
find_package(OpenMP REQUIRED)          # GCC's libgomp: the same runtime oneDNN 2.6.3 is built on
find_package(dnnl 2.6 REQUIRED)        # oneDNN, v2 API
find_package(hwy REQUIRED)             # Highway 1.0.3
find_package(fmt REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(Threads REQUIRED)
find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)

if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND OpenMP_CXX_LIB_NAMES MATCHES "omp$")
  message(WARNING "OpenMP resolves to LLVM's libomp; hsanet must link GNU libgomp only (oneDNN uses it)")
endif()

if(HSANET_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(HSANET_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

if(NOT HSANET_MPI STREQUAL "OFF")
  find_package(MPI COMPONENTS CXX QUIET)
  if(MPI_CXX_FOUND)
    set(HSANET_HAVE_MPI ON)
    message(STATUS "hsanet: MPI found, data-parallel training enabled")
  elseif(HSANET_MPI STREQUAL "ON")
    message(FATAL_ERROR "HSANET_MPI=ON but no MPI C++ library was found (apt-get install libopenmpi-dev)")
  else()
    message(STATUS "hsanet: MPI not found, data-parallel training disabled")
  endif()
endif()
