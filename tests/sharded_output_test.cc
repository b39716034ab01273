// Streaming output (pack/sharded_writer.h): blocks written as they finish into
// shards with an index, each block released once written; the sharded model
// loads as the same model as the one quantized in memory, fake-quantized and
// packed, and is readable by a plain safetensors reader.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "calib/dataset.h"
#include "io/hf_checkpoint.h"
#include "io/model_source.h"
#include "io/safetensors.h"
#include "model/forward.h"
#include "pack/packed_model.h"
#include "pack/sharded_writer.h"
#include "quant/pipeline.h"
#include "test_util.h"
#include "tiny_model.h"

namespace slim {
namespace {

namespace fs = std::filesystem;

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0.f;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

struct Streamed {
  std::vector<float> logits_in_memory;  // of the model quantized without streaming
  std::vector<int> released_before_next;  // blocks whose weights were gone when the next one finished
};

// Quantizes the same tiny model twice, in memory and streamed into `dir`.
Streamed quantize_streamed(const std::string& method, bool pack, const std::string& dir, ElemType source) {
  test::TinySpec spec;
  spec.layers = 3;
  spec.pos = PosKind::RopeHalves;
  Model base = test::make_tiny_model(spec);
  if (source != ElemType::F32) {  // a 16-bit checkpoint, as users bring, loaded in place
    test::TempDir src;
    HfSaveOptions so;
    so.dtype = source == ElemType::BF16 ? DType::BF16 : DType::F16;
    save_hf_model(base, src.path(), so);
    base = load_model(src.path());
    for (auto& b : base.weights.blocks) EXPECT_EQ(b.wq.w.type(), source);
    // (the mapping keeps the file readable after the directory is removed)
  }
  const CalibWindows calib = sample_windows(test::random_tokens(2000, spec.vocab, 9), 8, 32, 0);
  QuantizeOptions o;
  o.method = method;
  o.bits = 3;
  o.group_size = 8;
  o.progress = false;
  o.lwc_epochs = 2;

  Streamed r;
  {
    Model m = base;
    quantize_model(m, method == "rtn" ? nullptr : &calib, o);
    r.logits_in_memory = forward_logits(m, test::random_tokens(20, spec.vocab, 5));
  }
  Model m = base;
  std::vector<LinearQuantParams> params;
  if (pack) o.params_out = &params;
  ShardedWriterOptions wo;
  wo.pack = pack;
  wo.dtype = DType::F32;
  wo.group_size = o.group_size;
  ShardedModelWriter w(m, dir, wo);
  w.write_rest();
  size_t done = 0;
  o.block_done = [&](int l, const QuantizeOptions::BlockState&) {
    for (int k = 0; k < l; ++k)
      if (m.weights.blocks[size_t(k)].wq.w.empty()) r.released_before_next.push_back(k);
    size_t end = done;
    while (end < params.size() && params[end].layer == l) ++end;
    w.write_block(l, std::span<const LinearQuantParams>(params.data() + done, end - done));
    done = end;
    for (auto& ref : m.weights.blocks[size_t(l)].linears()) ref.linear->w = Tensor();
  };
  quantize_model(m, method == "rtn" ? nullptr : &calib, o);
  w.write_index();
  return r;
}

TEST(ShardedOutput, StreamedModelLoadsAsTheInMemoryOne) {
  for (const char* method : {"rtn", "gptq", "slim"})
    for (bool pack : {false, true})
      for (ElemType src : {ElemType::F32, ElemType::BF16}) {
        SCOPED_TRACE(fmt::format("{} pack={} source={}", method, pack, elem_type_name(src)));
        test::TempDir dir;
        const Streamed s = quantize_streamed(method, pack, dir.path(), src);
        EXPECT_EQ(s.released_before_next, (std::vector<int>{0, 0, 1}));  // block 0 seen at l=1 and l=2, block 1 at l=2
        const std::string ext = pack ? ".slim.safetensors" : ".safetensors";
        for (int k = 1; k <= 4; ++k)
          EXPECT_TRUE(fs::exists(fs::path(dir.path()) / fmt::format("model-{:05d}-of-00004{}", k, ext)));
        EXPECT_FALSE(fs::exists(fs::path(dir.path()) / ("model" + ext)));
        // A plain reader: the index lists every tensor once, each in its shard.
        const TensorSet set = pack ? TensorSet::open_dir(dir.path(), kPackedFileName, kPackedIndexName)
                                   : TensorSet::open_dir(dir.path());
        EXPECT_EQ(set.files().size(), 4u);
        EXPECT_TRUE(set.find("model.layers.2.mlp.down_proj" + std::string(pack ? ".qweight" : ".weight")).file);
        const std::string want_shard = fmt::format("model-00004-of-00004{}", ext);
        EXPECT_EQ(fs::path(set.find(std::string("model.layers.2.self_attn.q_proj") + (pack ? ".qweight" : ".weight"))
                               .file->path())
                      .filename()
                      .string(),
                  want_shard);
        Model loaded = load_model(dir.path());
        EXPECT_EQ(loaded.format, pack ? kPackedFormat : "hf-safetensors");
        const auto got = forward_logits(loaded, test::random_tokens(20, loaded.config.vocab_size, 5));
        EXPECT_LT(max_abs_diff(got, s.logits_in_memory), 2e-4f);
      }
}

}  // namespace
}  // namespace slim

namespace slim {
namespace {

// --scratch: the activations live in a mapped scratch file; same result.
TEST(ShardedOutput, ScratchFileActivationsGiveTheSameModel) {
  for (bool fp16 : {false, true}) {
    Model a = test::make_tiny_model(), b = a;
    const CalibWindows calib = sample_windows(test::random_tokens(2000, 48, 9), 8, 32, 0);
    QuantizeOptions o;
    o.bits = 3;
    o.group_size = 8;
    o.progress = false;
    o.fp16_activations = fp16;
    quantize_model(a, &calib, o);
    test::TempDir scratch;
    o.scratch_dir = scratch.path();
    quantize_model(b, &calib, o);
    for (size_t l = 0; l < a.weights.blocks.size(); ++l) {
      auto ra = a.weights.blocks[l].linears(), rb = b.weights.blocks[l].linears();
      for (size_t j = 0; j < ra.size(); ++j)
        ASSERT_EQ(std::memcmp(ra[j].linear->w.data(), rb[j].linear->w.data(), size_t(ra[j].linear->w.bytes())), 0);
    }
    EXPECT_TRUE(fs::is_empty(scratch.path()));  // the scratch file was unlinked at once
  }
}

}  // namespace
}  // namespace slim
