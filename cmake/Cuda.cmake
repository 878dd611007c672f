# Optional CUDA backend (the attention hot path; docs/cuda.md).
#   HSANET_CUDA=AUTO  builds it when nvcc is found (/usr/local/cuda/bin/nvcc is tried too)
#   HSANET_CUDA=ON    builds it or stops here with a clear message
#   HSANET_CUDA=OFF   never builds it
# Sets HSANET_HAVE_CUDA. Without it src/ops/cuda_stub.cc stands in for the backend, so the rest of
# the engine is the same either way.
if(NOT HSANET_CUDA MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "HSANET_CUDA must be AUTO, ON or OFF (got '${HSANET_CUDA}')")
endif()
set(HSANET_HAVE_CUDA OFF)
if(NOT HSANET_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  # Ampere (sm_80) and Hopper (sm_90) machine code, plus PTX of each so newer chips JIT it.
  # Two architectures keep nvcc's time on the 2-core CI machines short; set
  # -DCMAKE_CUDA_ARCHITECTURES=... to build for others.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "80;90")
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(CMAKE_CUDA_STANDARD 17)  # the newest dialect CMake 3.20+ knows for nvcc; the .cu files need no more
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(CMAKE_CUDA_EXTENSIONS OFF)
    set(HSANET_HAVE_CUDA ON)
    message(STATUS "hsanet: CUDA backend ON (${CMAKE_CUDA_COMPILER}, CUDA ${CUDAToolkit_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
  elseif(HSANET_CUDA STREQUAL "ON")
    message(FATAL_ERROR "HSANET_CUDA=ON but no CUDA compiler (nvcc) was found; install the CUDA toolkit, put nvcc on PATH (or set CUDACXX), or configure with -DHSANET_CUDA=OFF")
  else()
    message(STATUS "hsanet: CUDA backend OFF (nvcc not found)")
  endif()
else()
  message(STATUS "hsanet: CUDA backend OFF (HSANET_CUDA=OFF)")
endif()
