// libFuzzer target: a llama2.c checkpoint (7-int header, then fp32 tensors), then a forward
// pass over two tokens of the loaded model (its shapes come from the fuzzed header).
#include <vector>

#include "fuzz_util.h"
#include "io/llama2c_checkpoint.h"
#include "model/forward.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return slim_fuzz::expect_ok_or_error([&] {
    const slim::Model m = slim::load_llama2c(slim_fuzz::write_input("model.bin", data, size));
    const std::vector<int> tokens = {0, m.config.vocab_size - 1};
    const std::vector<float> logits = slim::forward_logits(m, tokens);
    if (logits.size() != tokens.size() * size_t(m.config.vocab_size)) std::abort();
  });
}
