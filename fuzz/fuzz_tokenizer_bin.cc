// libFuzzer target: llama2.c tokenizer.bin (max_token_length, then score/len/bytes per
// token) for a 512-token vocabulary, then encode/decode.
#include "fuzz_util.h"
#include "io/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return slim_fuzz::expect_ok_or_error([&] {
    auto tok = slim::load_llama2c_tokenizer(slim_fuzz::write_input("tokenizer.bin", data, size), 512);
    std::vector<int> ids = tok->encode("Once upon a time, \xc3\xa9\xff", true);
    (void)tok->decode(ids);
  });
}
