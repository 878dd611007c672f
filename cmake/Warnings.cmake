# One place for compiler flags. No -march=native: Highway dispatches at run time.
add_library(hsanet_flags INTERFACE)
target_compile_options(hsanet_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wno-unused-parameter>)
target_compile_features(hsanet_flags INTERFACE cxx_std_20)
