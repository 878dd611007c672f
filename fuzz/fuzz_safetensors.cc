// libFuzzer target for the safetensors reader: arbitrary bytes must either parse or throw
// SafetensorsError, never crash, hang, over-allocate or throw anything else. Whatever parses must
// survive a write/read round trip unchanged, and its records must convert without surprises.
//
// Build and run: scripts/fuzz_safetensors.sh (clang, -DHSANET_FUZZ=ON).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

#include "io/safetensors.h"

using namespace hsanet;
using namespace hsanet::io;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A small header cap keeps each input cheap; the cap's own check is covered by the tests.
  SafetensorsLimits limits;
  limits.max_header_bytes = 1 << 20;
  SafeTensorsFile file;
  try {
    file = parse_safetensors(data, size, "fuzz-input", limits);
  } catch (const SafetensorsError&) {
    return 0;  // rejected with a clear error: the expected outcome for most inputs
  }

  std::vector<std::pair<std::string, TensorRecord>> records(file.tensors.begin(),
                                                            file.tensors.end());
  for (const auto& [name, r] : records) {
    // Every byte of an accepted record lies in the input, so conversions are bounded by it.
    Tensor t = r.to_float_tensor();
    if (t.numel() != r.numel()) std::abort();
    if (r.dtype != "F64" && r.dtype != "F32" && r.dtype != "F16" && r.dtype != "BF16") {
      try {
        if (static_cast<int64_t>(r.to_int64().size()) != r.numel()) std::abort();
      } catch (const SafetensorsError&) {
        if (r.dtype != "U64") std::abort();  // only U64 above INT64_MAX may refuse
      }
    }
  }

  // An accepted file is re-serialised and must read back identically.
  const std::vector<uint8_t> again = serialize_safetensors(records, file.metadata);
  SafeTensorsFile back = parse_safetensors(again.data(), again.size(), "round-trip", limits);
  if (back.metadata != file.metadata || back.tensors.size() != file.tensors.size()) std::abort();
  for (const auto& [name, r] : file.tensors) {
    const TensorRecord& b = back.at(name);
    if (b.dtype != r.dtype || b.shape != r.shape || b.bytes != r.bytes) std::abort();
  }
  return 0;
}
