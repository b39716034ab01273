// libFuzzer target: one .safetensors file (header, offsets, dtypes, shapes), then every
// tensor's bytes read back.
#include "fuzz_util.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return slim_fuzz::expect_ok_or_error([&] {
    auto f = slim::SafetensorsFile::open(slim_fuzz::write_input("model.safetensors", data, size));
    unsigned sum = 0;
    for (const auto& t : f->tensors())
      for (std::byte b : f->data(t)) sum += unsigned(b);
    if (sum == 0xFFFFFFFFu) std::abort();  // uses the sum so the reads are not optimised away
  });
}
