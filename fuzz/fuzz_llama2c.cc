// libFuzzer target: a llama2.c checkpoint (7-int header, then fp32 tensors).
#include "fuzz_util.h"
#include "io/llama2c_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return slim_fuzz::expect_ok_or_error(
      [&] { (void)slim::load_llama2c(slim_fuzz::write_input("model.bin", data, size)); });
}
