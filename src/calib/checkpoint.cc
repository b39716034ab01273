#include "calib/checkpoint.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "util/error.h"
#include "util/files.h"

namespace slim {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
constexpr int kCheckpointVersion = 1;
constexpr const char* kManifest = "checkpoint.json";
constexpr const char* kBitmap = "bitmap.partial.json";

std::string hex(uint64_t v) { return fmt::format("{:016x}", v); }

// Every field where a and b differ, as "path: a vs b".
void diff(const json& a, const json& b, const std::string& path, std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [k, v] : a.items()) diff(v, b.contains(k) ? b[k] : json(), path.empty() ? k : path + "." + k, out);
    for (const auto& [k, v] : b.items())
      if (!a.contains(k)) diff(json(), v, path.empty() ? k : path + "." + k, out);
  } else if (a != b) {
    out.push_back(fmt::format("{}: {} now, {} in the checkpoint", path, a.dump(), b.dump()));
  }
}
}  // namespace

uint64_t hash_bytes(std::span<const std::byte> b, uint64_t seed) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ seed ^ (uint64_t(b.size()) * 0xff51afd7ed558ccdull);
  size_t i = 0;
  for (; i + 8 <= b.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, b.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < b.size(); ++i) h = (h ^ uint64_t(b[i])) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

json model_fingerprint(const std::string& model_path) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(model_path, ec)) {
    for (const auto& e : fs::directory_iterator(model_path, ec)) {
      const std::string n = e.path().filename().string();
      if (e.is_regular_file(ec) && (n == "config.json" || n.ends_with(".safetensors") || n.ends_with(".index.json")))
        files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(model_path);
  }
  json out = json::object();
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    SLIM_CHECK(in, "{}: cannot open", f.string());
    const int64_t size = int64_t(fs::file_size(f, ec));
    constexpr int64_t kMiB = 1 << 20;
    std::vector<std::byte> buf(size_t(std::min(size, 2 * kMiB)));
    const int64_t head = std::min(size, kMiB);
    in.read(reinterpret_cast<char*>(buf.data()), head);
    if (size > head) {
      const int64_t tail = std::min(size - head, kMiB);
      in.seekg(size - tail);
      in.read(reinterpret_cast<char*>(buf.data() + head), tail);
    }
    SLIM_CHECK(in, "{}: cannot read", f.string());
    out[f.filename().string()] = {{"bytes", size}, {"sample_hash", hex(hash_bytes(buf))}};
  }
  return out;
}

Checkpoint::Checkpoint(std::string dir, json fingerprint) : dir_(std::move(dir)), fingerprint_(std::move(fingerprint)) {}

bool Checkpoint::exists() const { return file_exists((fs::path(dir_) / kManifest).string()); }

CheckpointState Checkpoint::load() const {
  const std::string path = (fs::path(dir_) / kManifest).string();
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::exception& e) {
    fail("{}: not a readable checkpoint ({}); remove the directory or use --restart", path, e.what());
  }
  SLIM_CHECK(j.is_object() && j.value("version", 0) == kCheckpointVersion,
             "{}: checkpoint version {} (this build writes {}); use --restart", path,
             j.is_object() ? j.value("version", 0) : 0, kCheckpointVersion);
  std::vector<std::string> diffs;
  diff(fingerprint_, j.value("fingerprint", json()), "", diffs);
  if (!diffs.empty())
    fail("{}: this checkpoint is of another run; it differs in:\n  {}\nrun the original command with --resume, or "
         "use --restart to discard the checkpoint",
         path, fmt::join(diffs, "\n  "));
  CheckpointState st;
  try {
    st.next_block = j.at("next_block").get<int>();
    st.n_blocks = j.at("n_blocks").get<int>();
    st.layers = j.at("layers");
    // The report lines are summed on resume: each must be what a run wrote.
    SLIM_CHECK(st.layers.is_array(), "{}: 'layers' is not an array; use --restart", path);
    for (const auto& line : st.layers) {
      const bool ok = line.is_object() && line.contains("shape") && line["shape"].is_array() &&
                      line["shape"].size() == 2 && line["shape"][0].is_number_unsigned() &&
                      line["shape"][1].is_number_unsigned() && line.contains("bits_per_weight") &&
                      line["bits_per_weight"].is_number() && line.contains("seconds") && line["seconds"].is_number() &&
                      (!line.contains("damp_retries") || line["damp_retries"].is_number_integer());
      SLIM_CHECK(ok, "{}: damaged report line {}; use --restart", path, line.dump());
    }
    auto stream = [&](const char* key, CheckpointState::Stream& s) {
      const json& in = j.value(key, json());
      if (in.is_null()) return;
      if (in.contains("parts")) {  // several ranks: one part each
        s.parts = in.at("parts");
        SLIM_CHECK(s.parts.is_array() && !s.parts.empty(), "{}: {}.parts is not a non-empty array; use --restart",
                   path, key);
        for (const json& p : s.parts) {
          const std::string f = p.at("file").get<std::string>();
          SLIM_CHECK(!f.empty() && f.find('/') == std::string::npos, "{}: {} part file '{}' is not a plain name",
                     path, key, f);
          (void)p.at("bytes").get<int64_t>();
          (void)std::stoull(p.at("hash").get<std::string>(), nullptr, 16);
        }
        return;
      }
      s.file = in.at("file").get<std::string>();
      s.bytes = in.at("bytes").get<int64_t>();
      s.hash = std::stoull(in.at("hash").get<std::string>(), nullptr, 16);
      SLIM_CHECK(s.file.find('/') == std::string::npos, "{}: {} file '{}' is not a plain name", path, key, s.file);
    };
    SLIM_CHECK(j.contains("inputs"), "{}: no 'inputs' entry; use --restart", path);
    stream("inputs", st.inputs);
    stream("reference", st.reference);
    st.blocks = j.value("blocks", json::array());
    SLIM_CHECK(st.blocks.is_array(), "{}: 'blocks' is not an array; use --restart", path);
  } catch (const json::exception& e) {
    fail("{}: damaged checkpoint ({}); use --restart", path, e.what());
  }
  SLIM_CHECK(st.next_block >= 1 && st.next_block <= st.n_blocks, "{}: next_block {} outside 1..{}", path,
             st.next_block, st.n_blocks);
  const std::string bm = (fs::path(dir_) / kBitmap).string();
  if (file_exists(bm)) st.bitmap = load_bitmap(bm);
  return st;
}

namespace {
void load_stream(const std::string& dir, const CheckpointState::Stream& s, const char* what, std::span<std::byte> out) {
  const std::string path = (fs::path(dir) / s.file).string();
  SLIM_CHECK(!s.file.empty(), "{}: the checkpoint holds no {}; use --restart", dir, what);
  SLIM_CHECK(int64_t(out.size()) == s.bytes, "{}: the checkpoint holds {} bytes of {}, this run needs {}", path,
             s.bytes, what, out.size());
  std::ifstream in(path, std::ios::binary);
  SLIM_CHECK(in, "{}: cannot open the checkpointed {}", path, what);
  in.read(reinterpret_cast<char*>(out.data()), std::streamsize(out.size()));
  SLIM_CHECK(in && in.peek() == EOF, "{}: truncated or oversized (expected {} bytes)", path, out.size());
  SLIM_CHECK(hash_bytes(out) == s.hash, "{}: content does not match the checkpoint's hash; use --restart", path);
}
}  // namespace

void Checkpoint::load_inputs(const CheckpointState& st, std::span<std::byte> out) const {
  load_stream(dir_, st.inputs, "block inputs", out);
}

void Checkpoint::load_reference(const CheckpointState& st, std::span<std::byte> out) const {
  load_stream(dir_, st.reference, "full-precision (reference) block inputs", out);
}

void Checkpoint::commit(int next_block, int n_blocks, const json& layers, const Bitmap& bitmap,
                        std::span<const std::byte> inputs, std::span<const std::byte> reference,
                        const json& blocks) {
  const fs::path dir(dir_);
  std::vector<std::string> old_files;  // the previous commit's stream files, removed after this one
  if (exists()) {
    try {
      const json old = json::parse(read_file((dir / kManifest).string()));
      for (const char* key : {"inputs", "reference"})
        if (old.contains(key) && old[key].is_object()) old_files.push_back(old[key].value("file", ""));
    } catch (...) {
    }
  }
  auto write_stream = [&](const char* prefix, std::span<const std::byte> bytes) -> json {
    if (bytes.empty()) return nullptr;
    const std::string name = fmt::format("{}-{:05d}.bin", prefix, next_block);
    write_file_atomic((dir / name).string(), std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    return {{"file", name}, {"bytes", int64_t(bytes.size())}, {"hash", hex(hash_bytes(bytes))}};
  };
  const json in = write_stream("inputs", inputs), ref = write_stream("reference", reference);
  write_manifest(next_block, n_blocks, layers, bitmap, in, ref, blocks);
  std::error_code ec;
  for (const std::string& old : old_files) {
    const bool current = (!in.is_null() && old == in["file"]) || (!ref.is_null() && old == ref["file"]);
    if (!old.empty() && old.find('/') == std::string::npos && !current) fs::remove(dir / old, ec);
  }
}

void Checkpoint::write_manifest(int next_block, int n_blocks, const json& layers, const Bitmap& bitmap, const json& in,
                                const json& ref, const json& blocks) const {
  const fs::path dir(dir_);
  if (!bitmap.layers.empty()) save_bitmap((dir / kBitmap).string(), bitmap);
  json j = {{"version", kCheckpointVersion}, {"fingerprint", fingerprint_}, {"next_block", next_block},
            {"n_blocks", n_blocks},          {"layers", layers},           {"inputs", in}};
  if (!ref.is_null()) j["reference"] = ref;
  if (!blocks.empty()) j["blocks"] = blocks;
  write_file_atomic((dir / kManifest).string(), j.dump(1) + "\n");
}

void Checkpoint::commit_parts(int next_block, int n_blocks, const json& layers, const Bitmap& bitmap,
                              const json& parts_inputs, const json& parts_reference, const json& blocks) {
  auto entry = [](const json& parts) -> json { return parts.empty() ? json() : json{{"parts", parts}}; };
  write_manifest(next_block, n_blocks, layers, bitmap, entry(parts_inputs), entry(parts_reference), blocks);
}

namespace {
std::string part_name(const char* stream, int next_block, int rank, int ranks) {
  return fmt::format("{}-{:05d}.rank-{}-of-{}.bin", stream, next_block, rank, ranks);
}
}  // namespace

json Checkpoint::write_part(const std::string& dir, const char* stream, int next_block, int rank, int ranks,
                            std::span<const std::byte> bytes) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string name = part_name(stream, next_block, rank, ranks);
  write_file_atomic((fs::path(dir) / name).string(),
                    std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  return {{"file", name}, {"bytes", int64_t(bytes.size())}, {"hash", hex(hash_bytes(bytes))}};
}

void Checkpoint::load_part(const std::string& dir, const json& parts, int rank, const char* what,
                           std::span<std::byte> out) {
  SLIM_CHECK(parts.is_array() && rank < int(parts.size()), "{}: the checkpoint holds {} parts of {}, this is rank {}",
             dir, parts.is_array() ? parts.size() : 0, what, rank);
  const json& p = parts[size_t(rank)];
  CheckpointState::Stream s;
  s.file = p.at("file").get<std::string>();
  s.bytes = p.at("bytes").get<int64_t>();
  s.hash = std::stoull(p.at("hash").get<std::string>(), nullptr, 16);
  SLIM_CHECK(!s.file.empty() && s.file.find('/') == std::string::npos, "{}: part file '{}' is not a plain name", dir,
             s.file);
  load_stream(dir, s, what, out);
}

void Checkpoint::remove_old_parts(const std::string& dir, int rank, int ranks, const std::vector<std::string>& keep) {
  const std::string tail = fmt::format(".rank-{}-of-{}.bin", rank, ranks);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if ((n.starts_with("inputs-") || n.starts_with("reference-")) && n.ends_with(tail) &&
        std::find(keep.begin(), keep.end(), n) == keep.end())
      fs::remove(e.path(), ec);
  }
}

void Checkpoint::remove_files() const {
  const fs::path dir(dir_);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n == kManifest || n == kBitmap || ((n.starts_with("inputs-") || n.starts_with("reference-")) && n.ends_with(".bin"))) fs::remove(e.path(), ec);
  }
}

}  // namespace slim
