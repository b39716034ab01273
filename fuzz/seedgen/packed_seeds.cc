// Writes the seed corpus of fuzz_packed_model (fuzz/corpus/fuzz_packed_model): tiny models
// (tests/tiny_model.h) quantized and packed by the real writer, each file prefixed with the
// one byte that tells the fuzz target which config.json to pair it with (0: LLaMA, 1: Qwen2
// with q/k/v biases; see fuzz_packed_model.cc). Also prints both config.json files, which the
// fuzz target embeds. Usage: packed_seeds OUT_DIR
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "calib/dataset.h"
#include "pack/packed_model.h"
#include "quant/pipeline.h"
#include "tiny_model.h"
#include "util/files.h"

namespace fs = std::filesystem;

namespace {
struct Seed {
  const char* name;
  const char* method;
  int bits, group_size;
  bool qwen;
  const char* dtype;
  int head_bits, embed_bits;
};

void write_seed(const Seed& s, const fs::path& out) {
  slim::test::TinySpec spec;
  spec.hidden = 44;  // a partial last group at group size 16
  spec.layers = 1;
  if (s.qwen) {
    spec.qkv_bias = true;
    spec.pos = slim::PosKind::RopeHalves;
    spec.tie = false;
  }
  slim::Model m = slim::test::make_tiny_model(spec);
  const slim::CalibWindows calib = slim::sample_windows(slim::test::random_tokens(2000, spec.vocab, 9), 8, 32, 0);
  slim::QuantizeOptions o;
  o.method = s.method;
  o.bits = s.bits;
  o.group_size = s.group_size;
  o.progress = false;
  std::vector<slim::LinearQuantParams> params;
  o.params_out = &params;
  slim::quantize_model(m, std::string(s.method) == "rtn" ? nullptr : &calib, o);
  const fs::path dir = fs::temp_directory_path() / fmt::format("slim-packed-seed-{}", s.name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  slim::PackedSaveOptions po;
  po.source_dtype = s.dtype;
  po.head_bits = s.head_bits;
  po.embed_bits = s.embed_bits;
  po.head_group_size = 16;
  slim::save_packed_model(m, params, po, dir.string());
  const std::string file = slim::read_file((dir / slim::kPackedFileName).string());
  std::ofstream(out / s.name, std::ios::binary).put(char(s.qwen ? 1 : 0)).write(file.data(), std::streamsize(file.size()));
  std::cout << "== " << s.name << " (" << file.size() << " bytes), config.json:\n"
            << slim::read_file((dir / "config.json").string()) << "\n";
  fs::remove_all(dir);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: packed_seeds OUT_DIR\n";
    return 2;
  }
  const fs::path out = argv[1];
  fs::create_directories(out);
  const Seed seeds[] = {
      {"rtn2_g16", "rtn", 2, 16, false, "F32", 0, 0},
      {"rtn3_row_head4_embed4", "rtn", 3, -1, false, "F16", 4, 4},
      {"slim2_g16", "slim", 2, 16, false, "BF16", 0, 0},  // SBA keeps layers this small uniform
      {"rtn1_g16", "rtn", 1, 16, false, "F32", 1, 0},     // 1-bit groups (offsets), 1-bit packed head
      {"gptq4_g16_qwen_bias", "gptq", 4, 16, true, "F32", 2, 0},
  };
  for (const auto& s : seeds) write_seed(s, out);
  return 0;
}
