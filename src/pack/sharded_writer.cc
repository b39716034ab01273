#include "pack/sharded_writer.h"

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/hf_checkpoint.h"
#include "pack/packed_model.h"
#include "util/error.h"
#include "util/files.h"

namespace slim {

namespace fs = std::filesystem;

ShardedModelWriter::ShardedModelWriter(const Model& m, std::string dir, ShardedWriterOptions opt)
    : m_(m), dir_(std::move(dir)), opt_(std::move(opt)) {}

std::string ShardedModelWriter::shard_name(int shard) const {
  return fmt::format("model-{:05d}-of-{:05d}.{}", shard, n_shards(), opt_.pack ? "slim.safetensors" : "safetensors");
}

namespace {
void write_part(const Model& m, const std::string& dir, const ShardedWriterOptions& o, int part,
                const std::string& file, std::span<const LinearQuantParams> params) {
  if (o.pack) {
    PackedSaveOptions po;
    po.source_dtype = dtype_name(o.dtype);
    po.metadata = o.metadata;
    po.head_bits = o.head_bits;
    po.embed_bits = o.embed_bits;
    po.part = part;
    po.file_name = file;
    po.group_size = o.group_size;
    save_packed_model(m, params, po, dir);
  } else {
    HfSaveOptions so;
    so.dtype = o.dtype;
    so.metadata = o.metadata;
    so.part = part;
    so.file_name = file;
    save_hf_model(m, dir, so);
  }
}
}  // namespace

void ShardedModelWriter::write_rest() { write_part(m_, dir_, opt_, kRestPart, shard_name(1), {}); }

void ShardedModelWriter::write_block(int layer, std::span<const LinearQuantParams> params) {
  SLIM_CHECK(layer >= 0 && layer < m_.config.n_layers, "internal: block {} of {}", layer, m_.config.n_layers);
  write_part(m_, dir_, opt_, layer, shard_name(layer + 2), params);
}

void ShardedModelWriter::write_index() const {
  nlohmann::ordered_json map = nlohmann::ordered_json::object();
  int64_t total = 0;
  for (int s = 1; s <= n_shards(); ++s) {
    const std::string name = shard_name(s);
    const auto f = SafetensorsFile::open((fs::path(dir_) / name).string());
    for (const auto& t : f->tensors()) {
      map[t.name] = name;
      total += int64_t(t.end - t.begin);
    }
  }
  const nlohmann::ordered_json index = {{"metadata", {{"total_size", total}}}, {"weight_map", map}};
  const char* index_name = opt_.pack ? kPackedIndexName : "model.safetensors.index.json";
  write_file_atomic((fs::path(dir_) / index_name).string(), index.dump(2) + "\n");
}

}  // namespace slim
