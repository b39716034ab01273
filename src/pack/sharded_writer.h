// The quantized model written block by block as the quantization finishes
// each one: safetensors shards with an index, the Hugging Face convention.
//   fake-quantized: model-00001-of-0000N.safetensors + model.safetensors.index.json
//   packed:         model-00001-of-0000N.slim.safetensors + model.slim.safetensors.index.json
// Shard 1 holds everything outside the decoder blocks (embedding, final norm,
// head) and is written first, with config.json; shard l + 2 holds block l.
// Each shard is written atomically (temp + rename), so after a crash the
// shards on disk are complete ones; the index is written last. docs/FORMAT.md.
#pragma once
#include <map>
#include <span>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "model/weights.h"
#include "quant/pipeline.h"

namespace slim {

struct ShardedWriterOptions {
  bool pack = false;
  DType dtype = DType::F32;  // fake-quantized: every tensor; packed: the unquantized ones
  std::map<std::string, std::string> metadata;  // into every shard's header
  int head_bits = 0, embed_bits = 0;            // packed only (pack/packed_model.h)
  int group_size = 0;                           // packed: the model's group size
};

class ShardedModelWriter {
 public:
  ShardedModelWriter(const Model& m, std::string dir, ShardedWriterOptions opt);
  int n_shards() const { return m_.config.n_layers + 1; }
  std::string shard_name(int shard) const;  // shard in 1..n_shards()
  // Shard 1 and config.json.
  void write_rest();
  // Shard layer + 2 from the (quantized) block; `params` are the block's
  // linears' quantizer parameters (packed).
  void write_block(int layer, std::span<const LinearQuantParams> params);
  // The index, from the shard headers on disk (so a resumed run rebuilds it
  // the same). Every shard must exist.
  void write_index() const;

 private:
  const Model& m_;
  std::string dir_;
  ShardedWriterOptions opt_;
};

}  // namespace slim
