// libFuzzer target: bitmap.json (slim-bitmap v1/v2), parsed from memory.
#include "fuzz_util.h"
#include "quant/bitmap.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return slim_fuzz::expect_ok_or_error(
      [&] { (void)slim::bitmap_from_json(slim_fuzz::as_text(data, size), "bitmap.json"); });
}
