// Broken or hostile checkpoints are refused with an error naming the file and
// the problem: never a crash, never a silent wrong answer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/hf_checkpoint.h"
#include "io/llama2c_checkpoint.h"
#include "io/model_source.h"
#include "test_util.h"
#include "tiny_model.h"
#include "util/files.h"

namespace slim {
namespace {

using test::expect_error;

std::string bytes_of(const std::string& path) { return read_file(path); }
void put(const std::string& path, const std::string& s) { std::ofstream(path, std::ios::binary) << s; }

class Llama2cErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    save_llama2c(test::make_tiny_model(), dir.file("ok.bin"));
    good = bytes_of(dir.file("ok.bin"));
  }
  void write_header_field(int index, int32_t value) {
    std::string s = good;
    std::memcpy(s.data() + 4 * index, &value, 4);
    put(bad(), s);
  }
  std::string bad() const { return dir.file("bad.bin"); }
  test::TempDir dir;
  std::string good;
};

TEST_F(Llama2cErrors, TooSmall) {
  put(bad(), good.substr(0, 10));
  expect_error([&] { load_llama2c(bad()); }, {bad(), "too small"});
}
TEST_F(Llama2cErrors, Truncated) {
  put(bad(), good.substr(0, good.size() - 4));
  expect_error([&] { load_llama2c(bad()); }, {bad(), "size mismatch"});
}
TEST_F(Llama2cErrors, TrailingBytes) {
  put(bad(), good + "junk");
  expect_error([&] { load_llama2c(bad()); }, {bad(), "size mismatch"});
}
TEST_F(Llama2cErrors, VersionedExportMagic) {
  write_header_field(0, 0x616b3432);
  expect_error([&] { load_llama2c(bad()); }, {bad(), "version"});
}
TEST_F(Llama2cErrors, NegativeOrZeroDims) {
  write_header_field(2, 0);  // layers
  expect_error([&] { load_llama2c(bad()); }, {bad(), "positive"});
  write_header_field(1, -5);  // hidden
  expect_error([&] { load_llama2c(bad()); }, {bad(), "positive"});
}
TEST_F(Llama2cErrors, HeadsDoNotDivide) {
  write_header_field(3, 3);  // dim 16 % 3 != 0
  expect_error([&] { load_llama2c(bad()); }, {bad(), "multiple"});
  write_header_field(4, 3);  // n_heads 4 % kv 3 != 0
  expect_error([&] { load_llama2c(bad()); }, {bad(), "multiple"});
}
TEST_F(Llama2cErrors, HugeDimsDoNotOverflow) {
  write_header_field(0, 1 << 30);
  expect_error([&] { load_llama2c(bad()); }, {bad()});
}
TEST_F(Llama2cErrors, MostNegativeVocabIsOutOfRange) {
  // vocab_size's sign flags a shared classifier; -2^31 has no positive counterpart (found by the fuzz smoke).
  write_header_field(5, INT32_MIN);
  expect_error([&] { load_llama2c(bad()); }, {bad(), "vocab_size", "out of range"});
}
TEST_F(Llama2cErrors, MissingFile) {
  expect_error([&] { load_llama2c(dir.file("nope.bin")); }, {"nope.bin", "cannot open"});
}

class HfErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    model = test::make_tiny_model();
    save_hf_model(model, dir.path());
    cfg = nlohmann::json::parse(read_file(dir.file("config.json")));
  }
  void write_cfg() { put(dir.file("config.json"), cfg.dump()); }
  // Rewrites model.safetensors keeping only the tensors `keep` accepts,
  // optionally changing one tensor.
  void rewrite(const std::function<bool(TensorToWrite&)>& keep) {
    auto f = SafetensorsFile::open(dir.file("model.safetensors"));
    std::vector<TensorToWrite> out;
    std::vector<std::vector<std::byte>> store;
    store.reserve(f->tensors().size());
    for (const auto& t : f->tensors()) {
      auto d = f->data(t);
      store.emplace_back(d.begin(), d.end());
      TensorToWrite w{t.name, t.dtype, t.shape, store.back()};
      if (keep(w)) out.push_back(w);
    }
    f.reset();
    write_safetensors(dir.file("model.safetensors"), out);
  }
  test::TempDir dir;
  Model model;
  nlohmann::json cfg;
};

TEST_F(HfErrors, NoConfig) {
  std::filesystem::remove(dir.file("config.json"));
  expect_error([&] { load_hf_model(dir.path()); }, {dir.path(), "config.json"});
}
TEST_F(HfErrors, BadConfigJson) {
  put(dir.file("config.json"), "{\"hidden_size\": 16,");
  expect_error([&] { load_hf_model(dir.path()); }, {"config.json", "invalid JSON"});
}
TEST_F(HfErrors, UnsupportedArchitecture) {
  cfg["architectures"] = {"BertModel"};
  write_cfg();
  expect_error([&] { load_hf_model(dir.path()); }, {"config.json", "BertModel", "not supported"});
}
TEST_F(HfErrors, WrongFieldType) {
  cfg["hidden_size"] = "sixteen";
  write_cfg();
  expect_error([&] { load_hf_model(dir.path()); }, {"config.json", "hidden_size"});
}
TEST_F(HfErrors, ConfigDisagreesWithTensorShapes) {
  cfg["intermediate_size"] = 44;
  write_cfg();
  expect_error([&] { load_hf_model(dir.path()); }, {"model.safetensors", "gate_proj", "shape"});
}
TEST_F(HfErrors, MissingTensor) {
  rewrite([](TensorToWrite& t) { return t.name != "model.layers.1.mlp.up_proj.weight"; });
  expect_error([&] { load_hf_model(dir.path()); }, {"model.layers.1.mlp.up_proj.weight", "missing"});
}
TEST_F(HfErrors, MissingUntiedHead) {
  cfg["tie_word_embeddings"] = false;
  write_cfg();
  expect_error([&] { load_hf_model(dir.path()); }, {"lm_head.weight"});
}
TEST_F(HfErrors, IntegerWeights) {
  rewrite([](TensorToWrite& t) {
    if (t.name == "model.norm.weight") t.dtype = DType::I32;
    return true;
  });
  expect_error([&] { load_hf_model(dir.path()); }, {"model.norm.weight", "I32"});
}
TEST_F(HfErrors, UnsupportedRopeScaling) {
  cfg["rope_scaling"] = {{"rope_type", "longrope"}, {"factor", 4.0}};
  write_cfg();
  expect_error([&] { load_hf_model(dir.path()); }, {"config.json", "longrope", "supported: default, linear"});
}
TEST_F(HfErrors, GqaHeadsMustDivide) {
  cfg["num_key_value_heads"] = 3;
  write_cfg();
  expect_error([&] { load_hf_model(dir.path()); }, {"config.json", "multiple"});
}
TEST_F(HfErrors, NoWeightsFile) {
  std::filesystem::remove(dir.file("model.safetensors"));
  expect_error([&] { load_hf_model(dir.path()); }, {"model.safetensors"});
}

TEST(ModelSource, UnknownPathNamesIt) {
  expect_error([] { resolve_model("/no/such/model-dir", ""); }, {"/no/such/model-dir", "no such file"});
}
TEST(ModelSource, Llama2cNeedsTokenizer) {
  test::TempDir dir;
  save_llama2c(test::make_tiny_model(), dir.file("m.bin"));
  expect_error([&] { open_model(dir.file("m.bin"), ""); }, {"m.bin", "--tokenizer"});
}

}  // namespace
}  // namespace slim
