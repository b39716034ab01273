// config.json fields that used to be read wrong silently (issue 14): every
// number that becomes a size goes through util/json_num, which refuses
// wrapped, fractional, boolean and out-of-range values naming file and field.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "io/hf_checkpoint.h"
#include "test_util.h"
#include "tiny_model.h"
#include "util/error.h"
#include "util/files.h"
#include "util/json_num.h"

namespace slim {
namespace {

using nlohmann::json;

using test::expect_error;

TEST(JsonNum, IntegersAreBoundedAndExact) {
  EXPECT_EQ(json_int(json(42), "f.json", "x", 0, 100), 42);
  EXPECT_EQ(json_int(json(-3), "f.json", "x", -5, 5), -3);
  EXPECT_EQ(json_int(json(2048.0), "f.json", "x", 0, 4096), 2048);  // integral float
  expect_error([] { json_int(json(4294967300ull), "f.json", "x", 0, 1 << 30); }, {"f.json", "'x'", "4294967300"});
  expect_error([] { json_int(json(18446744073709551615ull), "f.json", "x", INT64_MIN, INT64_MAX); },
               {"18446744073709551615"});
  expect_error([] { json_int(json(256.5), "f.json", "x", 0, 1000); }, {"f.json", "'x'", "256.5", "whole"});
  expect_error([] { json_int(json(true), "f.json", "x", 0, 1000); }, {"f.json", "'x'", "boolean"});
  expect_error([] { json_int(json("12"), "f.json", "x", 0, 1000); }, {"f.json", "'x'", "string"});
  expect_error([] { json_int(json(1e300), "f.json", "x", 0, 1000); }, {"f.json", "'x'"});
}

TEST(JsonNum, FloatsAreFiniteAndBounded) {
  EXPECT_DOUBLE_EQ(json_float(json(1e-5), "f.json", "eps", 0, 1), 1e-5);
  EXPECT_DOUBLE_EQ(json_float(json(3), "f.json", "eps", 0, 10), 3.0);
  expect_error([] { json_float(json(false), "f.json", "eps", 0, 1); }, {"f.json", "'eps'", "boolean"});
  expect_error([] { json_float(json(2.0), "f.json", "eps", 0, 1); }, {"f.json", "'eps'", "outside"});
  EXPECT_EQ(json_int_or(json::object(), "k", 7, "f.json", 0, 10), 7);
  EXPECT_EQ(json_int_or(json{{"k", nullptr}}, "k", 7, "f.json", 0, 10), 7);
}

class HostileConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    test::TinySpec s;
    s.pos = PosKind::RopeHalves;
    save_hf_model(test::make_tiny_model(s), dir.path());
    cfg = json::parse(read_file(path()));
    ASSERT_NO_THROW(parse_hf_config(path()));
  }
  std::string path() const { return dir.file("config.json"); }
  ModelConfig parse_with(const char* key, const json& v) {
    json c = cfg;
    c[key] = v;
    std::ofstream(path(), std::ios::binary) << c.dump();
    return parse_hf_config(path());
  }
  test::TempDir dir;
  json cfg;
};

TEST_F(HostileConfig, LayerCountAbove32BitsIsRefusedNotWrapped) {
  expect_error([&] { parse_with("num_hidden_layers", 4294967298ull); },
               {"config.json", "num_hidden_layers", "4294967298"});
}

TEST_F(HostileConfig, FractionalSizeIsRefusedNotTruncated) {
  expect_error([&] { parse_with("intermediate_size", 40.5); }, {"config.json", "intermediate_size", "40.5"});
}

TEST_F(HostileConfig, BooleanLayerCountIsRefused) {
  // `true` read as 1 ran a 2-layer checkpoint as a 1-layer model.
  expect_error([&] { parse_with("num_hidden_layers", true); }, {"config.json", "num_hidden_layers", "boolean"});
}

TEST_F(HostileConfig, IntegralFloatSizeIsAccepted) {
  EXPECT_EQ(parse_with("num_hidden_layers", 2.0).n_layers, 2);
}

TEST_F(HostileConfig, NonStringHiddenActIsRefused) {
  expect_error([&] { parse_with("hidden_act", 3); }, {"config.json", "hidden_act", "must be a string"});
  expect_error([&] { parse_with("hidden_act", "gelu"); }, {"config.json", "gelu"});
}

TEST_F(HostileConfig, NegativeSlidingWindowIsRefused) {
  cfg["architectures"] = {"MistralForCausalLM"};
  expect_error([&] { parse_with("sliding_window", -5); }, {"config.json", "sliding_window", "-5"});
}

TEST_F(HostileConfig, BadRopeScalingTypeNamesTheField) {
  expect_error([&] { parse_with("rope_scaling", json{{"rope_type", 3}}); }, {"config.json", "rope_type"});
  expect_error([&] { parse_with("rope_scaling", "linear"); }, {"config.json", "rope_scaling"});
}

TEST_F(HostileConfig, BadTokenIdTypeNamesTheField) {
  expect_error([&] { parse_with("bos_token_id", "one"); }, {"config.json", "bos_token_id", "string"});
  expect_error([&] { parse_with("eos_token_id", json::array({"x"})); }, {"config.json", "eos_token_id"});
  expect_error([&] { parse_with("bos_token_id", -7); }, {"config.json", "bos_token_id", "-7"});
}

TEST_F(HostileConfig, NonNumericNormEpsNamesTheField) {
  expect_error([&] { parse_with("rms_norm_eps", "1e-5"); }, {"config.json", "rms_norm_eps", "string"});
}

}  // namespace
}  // namespace slim
