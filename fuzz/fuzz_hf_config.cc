// libFuzzer target: config.json -> ModelConfig (architecture table, checked numbers).
#include "fuzz_util.h"
#include "io/hf_checkpoint.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return slim_fuzz::expect_ok_or_error([&] {
    slim::ModelConfig c = slim::parse_hf_config(slim_fuzz::write_input("config.json", data, size));
    slim::validate_config(c, "fuzz");
  });
}
