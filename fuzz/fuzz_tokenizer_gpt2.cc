// libFuzzer target: GPT-2 vocab.json + merges.txt (+ special_tokens_map.json) load,
// then encode/decode of a fixed text. The input is the files joined by NUL bytes:
// vocab.json \0 merges.txt [\0 special_tokens_map.json]; a missing part is an empty file.
#include "fuzz_util.h"
#include "io/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = slim_fuzz::as_text(data, size);
  std::string_view parts[3], rest = in;
  for (int i = 0; i < 3; ++i) {
    const size_t nul = i < 2 ? rest.find('\0') : std::string_view::npos;
    parts[i] = rest.substr(0, nul);
    rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  }
  auto write = [](const char* name, std::string_view s) {
    return slim_fuzz::write_input(name, reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  return slim_fuzz::expect_ok_or_error([&] {
    const std::string vocab = write("vocab.json", parts[0]);
    const std::string merges = write("merges.txt", parts[1]);
    write("special_tokens_map.json", parts[2].empty() ? std::string_view("{}") : parts[2]);
    auto tok = slim::load_gpt2_tokenizer(vocab, merges);
    static const std::string text = "Hello  world\n\tcaf\xc3\xa9 \xff\xfe <s></s><|endoftext|> 12345";
    std::vector<int> ids = tok->encode(text, true);
    (void)tok->decode(ids);
  });
}
