// slim pack: rewrites a packed model directory, e.g. to also pack its output
// head (--head-bits) after the fact, without quantizing the linears again.
// Codes, scales and zeros are copied as they are; the output directory is
// assembled under a temporary name and renamed at the end.
#include <fmt/format.h>

#include <filesystem>

#include "cli/commands.h"
#include "cli/common.h"
#include "io/model_source.h"
#include "pack/packed_model.h"
#include "io/safetensors.h"
#include "util/error.h"
#include "util/files.h"

namespace slim::cli {

namespace fs = std::filesystem;

namespace {
struct PackArgs {
  ModelArgs model;
  int head_bits = 0;
  int head_group_size = 128;
  int embed_bits = 0;
  std::string out;
};

void run(const PackArgs& a) {
  SLIM_CHECK(a.head_bits >= 0 && a.head_bits <= 8, "--head-bits must be in 0..8, got {}", a.head_bits);
  SLIM_CHECK(a.embed_bits >= 0 && a.embed_bits <= 8, "--embed-bits must be in 0..8, got {}", a.embed_bits);
  SLIM_CHECK(a.head_group_size == -1 || a.head_group_size >= 1,
             "--head-group-size must be -1 (one group per row) or positive, got {}", a.head_group_size);
  if (options_only()) return;
  LoadedModel lm = open_model(a.model.model, a.model.tokenizer, /*need_tokenizer=*/false);
  SLIM_CHECK(lm.model.format == kPackedFormat,
             "{}: slim pack rewrites packed models; make one with `slim quantize ... --pack`", lm.paths.model_path);
  // One file or shards (slim quantize writes shards as blocks finish): every
  // file carries the same format metadata, read from the first.
  const TensorSet src_set = TensorSet::open_dir(lm.paths.model_path, kPackedFileName, kPackedIndexName);
  const auto& src = src_set.files().at(0);
  PackedSaveOptions po;
  po.source_dtype = lm.model.source_dtype;
  po.head_bits = a.head_bits;
  po.head_group_size = a.head_group_size;
  po.embed_bits = a.embed_bits;
  for (const auto& [k, v] : src->metadata())
    if (k.rfind("slim.", 0) == 0 && k.find("head_") == std::string::npos && k.find("embed_") == std::string::npos) po.metadata[k] = v;
  po.metadata["slim.repacked_by"] = command_line();

  OutputDir out(a.out, {lm.paths.model_path, lm.paths.tokenizer_path});
  const fs::path final_dir = out.final_dir();
  {
    const std::string& tmp_dir = out.tmp();
    const fs::path tmp(tmp_dir);
    save_packed_model(lm.model, {}, po, tmp_dir);
    copy_tokenizer(lm.paths, tmp_dir);
    for (const char* f : {"quant_report.json", "bitmap.json"})
      if (file_exists((fs::path(lm.paths.model_path) / f).string()))
        fs::copy_file(fs::path(lm.paths.model_path) / f, tmp / f);
  }
  out.publish();
  fmt::print("wrote {}\n", final_dir.string());
}
}  // namespace

void add_pack(CLI::App& app) {
  auto a = std::make_shared<PackArgs>();
  auto* cmd = app.add_subcommand("pack", "rewrite a packed model, e.g. packing its output head or embedding too (--head-bits, --embed-bits)");
  add_model_options(cmd, a->model);
  cmd->add_option("--head-bits", a->head_bits, "pack the output head by RTN at this many bits; 0 keeps it as it is")
      ->capture_default_str();
  cmd->add_option("--embed-bits", a->embed_bits, "pack the token embedding by RTN at this many bits; 0 keeps it")
      ->capture_default_str();
  cmd->add_option("--head-group-size", a->head_group_size, "input columns per group of the packed head and embedding")
      ->capture_default_str();
  cmd->add_option("-o,--out", a->out, "output model directory")->required();
  cmd->callback([a] { run(*a); });
}

}  // namespace slim::cli
