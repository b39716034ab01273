// libFuzzer target: tokenizer.json load, then encode/decode of a fixed text with
// ASCII, multi-byte UTF-8, invalid UTF-8 and special-token-like pieces.
#include "fuzz_util.h"
#include "io/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return slim_fuzz::expect_ok_or_error([&] {
    auto tok = slim::load_hf_tokenizer(slim_fuzz::write_input("tokenizer.json", data, size));
    static const std::string text = "Hello  world\n\tcaf\xc3\xa9 \xe2\x84\xaa \xff\xfe <s></s><|endoftext|> 12345";
    std::vector<int> ids = tok->encode(text, true);
    (void)tok->decode(ids);
  });
}
