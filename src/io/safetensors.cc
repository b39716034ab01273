// safetensors reader (SafetensorsFile) and model-directory loader (TensorSet).
// The writer lives in safetensors_write.cc.
//
// Everything in a file is untrusted: open() checks every field before any
// pointer into the mapping is handed out, so later code can index tensors
// without re-validating. Tensor data pointers are NOT guaranteed to be aligned
// for their dtype (the format does not promise it and third-party writers do
// not always provide it); callers must memcpy or use unaligned loads.
#include "io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <utility>

#include "util/error.h"
#include "util/files.h"

namespace slim {

namespace {

using nlohmann::json;

// Same bound as the reference implementation: a larger header is either
// corrupt or an attempt to make us allocate/parse unbounded amounts.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Legitimate headers nest 3 deep ({name: {shape: [..]}}); anything much deeper
// is garbage and would only make the parser build huge stacks.
constexpr int kMaxJsonDepth = 64;

struct DTypeEntry {
  DType t;
  const char* name;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
    {DType::I16, "I16", 2}, {DType::I8, "I8", 1},   {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
};

const DTypeEntry& entry(DType t) {
  for (const auto& e : kDTypes)
    if (e.t == t) return e;
  fail("internal error: invalid DType value {}", int(t));
}

uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | uint64_t(std::to_integer<uint8_t>(p[i]));
  return v;
}

// Maximum bracket nesting outside of strings; cheap pre-check before parsing.
int json_depth(std::string_view s) {
  int depth = 0, max_depth = 0;
  bool in_str = false, esc = false;
  for (char c : s) {
    if (in_str) {
      if (esc)
        esc = false;
      else if (c == '\\')
        esc = true;
      else if (c == '"')
        in_str = false;
      continue;
    }
    if (c == '"') {
      in_str = true;
    } else if (c == '{' || c == '[') {
      max_depth = std::max(max_depth, ++depth);
      if (max_depth > kMaxJsonDepth) return max_depth;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return max_depth;
}

// Parses `text` as JSON. Duplicate keys are an error (nlohmann would silently
// keep the last one, which would hide a tensor listed twice); checked for the
// top-level object and the objects directly inside it.
json parse_json_no_dups(const std::string& path, std::string_view text, const char* what) {
  if (json_depth(text) > kMaxJsonDepth) fail("{}: {} JSON is nested too deeply", path, what);
  std::set<std::string> top_keys, inner_keys;
  std::string dup;
  auto cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::object_start && depth == 1) inner_keys.clear();
    if (ev == json::parse_event_t::key && dup.empty() && parsed.is_string()) {
      auto& keys = depth == 1 ? top_keys : inner_keys;
      if (depth <= 2 && !keys.insert(parsed.get<std::string>()).second) dup = parsed.get<std::string>();
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true);
  } catch (const json::exception& e) {
    fail("{}: {} is not valid JSON: {}", path, what, e.what());
  }
  if (!dup.empty()) fail("{}: {} JSON has a duplicate key '{}'", path, what, dup);
  return j;
}

// A JSON integer that fits in int64/uint64 (not a float, not a bool).
bool as_u64(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = uint64_t(v.get<int64_t>());
    return true;
  }
  return false;
}

TensorInfo parse_entry(const std::string& path, const std::string& name, const json& e,
                       uint64_t data_size) {
  if (!e.is_object()) fail("{}: tensor '{}': entry is not a JSON object", path, name);
  // Unknown extra fields are ignored, as the reference implementation does.
  TensorInfo t;
  t.name = name;

  auto dt = e.find("dtype");
  if (dt == e.end()) fail("{}: tensor '{}': missing dtype", path, name);
  if (!dt->is_string()) fail("{}: tensor '{}': dtype is not a string", path, name);
  if (!parse_dtype(dt->get<std::string>(), &t.dtype))
    fail("{}: tensor '{}': unknown or unsupported dtype '{}'", path, name, dt->get<std::string>());

  auto sh = e.find("shape");
  if (sh == e.end()) fail("{}: tensor '{}': missing shape", path, name);
  if (!sh->is_array()) fail("{}: tensor '{}': shape is not an array", path, name);
  uint64_t numel = 1;
  bool overflow = false;
  for (const auto& d : *sh) {
    if (d.is_number_integer() && !d.is_number_unsigned() && d.get<int64_t>() < 0)
      fail("{}: tensor '{}': negative shape dimension {}", path, name, d.get<int64_t>());
    uint64_t v = 0;
    if (!as_u64(d, &v)) fail("{}: tensor '{}': shape entry {} is not an integer", path, name, d.dump());
    if (v > uint64_t(std::numeric_limits<int64_t>::max()))
      fail("{}: tensor '{}': shape dimension {} is too large", path, name, v);
    t.shape.push_back(int64_t(v));
    overflow |= __builtin_mul_overflow(numel, v, &numel);
  }

  auto off = e.find("data_offsets");
  if (off == e.end()) fail("{}: tensor '{}': missing data_offsets", path, name);
  if (!off->is_array() || off->size() != 2 || !as_u64((*off)[0], &t.begin) ||
      !as_u64((*off)[1], &t.end))
    fail("{}: tensor '{}': data_offsets must be an array of 2 non-negative integers, got {}", path,
         name, off->dump());
  if (t.begin > t.end)
    fail("{}: tensor '{}': data_offsets begin {} > end {}", path, name, t.begin, t.end);
  if (t.end > data_size)
    fail("{}: tensor '{}': data_offsets end {} is beyond the data buffer ({} bytes)", path, name,
         t.end, data_size);

  // A zero dimension makes the product 0 whatever the other dimensions are, so
  // only an overflow with no zero dimension is a real (unrepresentable) size.
  uint64_t nbytes = 0;
  bool has_zero = std::find(t.shape.begin(), t.shape.end(), 0) != t.shape.end();
  if (!has_zero && (overflow || numel > uint64_t(std::numeric_limits<int64_t>::max()) ||
                    __builtin_mul_overflow(numel, uint64_t(dtype_size(t.dtype)), &nbytes)))
    fail("{}: tensor '{}': shape {} overflows the element/byte count", path, name, sh->dump());
  if (has_zero) nbytes = 0;
  if (nbytes != t.end - t.begin)
    fail("{}: tensor '{}': byte count {} (data_offsets [{}, {}]) != numel * dtype size = {}", path,
         name, t.end - t.begin, t.begin, t.end, nbytes);
  return t;
}

}  // namespace

size_t dtype_size(DType t) { return entry(t).size; }
const char* dtype_name(DType t) { return entry(t).name; }

bool parse_dtype(const std::string& s, DType* out) {
  for (const auto& e : kDTypes) {
    if (s == e.name) {
      *out = e.t;
      return true;
    }
  }
  return false;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // cannot overflow for tensors that passed open()
  return n;
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto f = std::make_shared<SafetensorsFile>();
  f->file_ = MappedFile::open(path);
  const size_t size = f->file_->size();
  const std::byte* base = f->file_->data();
  if (size < 8) fail("{}: file too short ({} bytes) to hold the 8-byte header length", path, size);

  const uint64_t n = read_u64_le(base);
  if (n > kMaxHeaderBytes)
    fail("{}: header length {} is too large (limit {} bytes)", path, n, kMaxHeaderBytes);
  if (n > size - 8)
    fail("{}: header length {} exceeds the file size ({} bytes after the length field)", path, n,
         size - 8);
  const uint64_t data_size = size - 8 - n;
  f->data_start_ = base + 8 + n;

  std::string_view text(reinterpret_cast<const char*>(base + 8), n);
  json j = parse_json_no_dups(path, text, "header");
  if (!j.is_object()) fail("{}: header is not a JSON object", path);

  for (const auto& [key, val] : j.items()) {
    if (key == "__metadata__") {
      if (!val.is_object()) fail("{}: __metadata__ is not a JSON object", path);
      for (const auto& [mk, mv] : val.items()) {
        if (!mv.is_string()) fail("{}: __metadata__ value for '{}' is not a string", path, mk);
        f->metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    f->tensors_.push_back(parse_entry(path, key, val, data_size));
  }

  // File order: makes iteration deterministic and the overlap check linear.
  std::sort(f->tensors_.begin(), f->tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  // Holes between tensors are tolerated (not our problem), shared bytes are not:
  // aliasing tensors would make in-place use of the mapping ambiguous. Empty
  // ranges occupy no bytes, so they cannot overlap anything.
  const TensorInfo* prev = nullptr;
  for (const auto& t : f->tensors_) {
    if (t.begin == t.end) continue;
    if (prev && t.begin < prev->end)
      fail("{}: tensors '{}' [{}, {}] and '{}' [{}, {}] overlap", path, prev->name, prev->begin,
           prev->end, t.name, t.begin, t.end);
    prev = &t;
  }
  for (size_t i = 0; i < f->tensors_.size(); ++i) f->index_[f->tensors_[i].name] = i;
  return f;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> SafetensorsFile::data(const TensorInfo& t) const {
  // Guards against a TensorInfo from another file (or hand-made) reaching past
  // this mapping; the ones from tensors() always pass.
  const uint64_t avail = uint64_t(file_->data() + file_->size() - data_start_);
  if (t.begin > t.end || t.end > avail)
    fail("{}: tensor '{}': byte range [{}, {}] is outside this file's data", path(), t.name,
         t.begin, t.end);
  return {data_start_ + t.begin, size_t(t.end - t.begin)};
}

// ---------------------------------------------------------------------------
// TensorSet

namespace {
namespace fs = std::filesystem;


// Shard names come from a downloaded file; they must stay inside the model dir.
bool safe_shard_name(const std::string& s) {
  return !s.empty() && s.find('/') == std::string::npos && s.find('\\') == std::string::npos &&
         s.find("..") == std::string::npos && s.find('\0') == std::string::npos;
}
}  // namespace

TensorSet TensorSet::open_file(const std::string& path) {
  TensorSet ts;
  ts.files_.push_back(SafetensorsFile::open(path));
  const SafetensorsFile* f = ts.files_.back().get();
  for (const auto& t : f->tensors()) ts.by_name_[t.name] = Ref{f, &t};
  return ts;
}

TensorSet TensorSet::open_dir(const std::string& dir, const std::string& single, const std::string& index) {
  const std::string index_path = (fs::path(dir) / index).string();
  const std::string single_path = (fs::path(dir) / single).string();
  if (!file_exists(index_path)) {
    if (file_exists(single_path)) return open_file(single_path);
    fail("{}: no safetensors weights found (looked for {} and {})", dir, index, single);
  }

  const std::string text = read_file(index_path);
  json j = parse_json_no_dups(index_path, text, "index");
  if (!j.is_object()) fail("{}: index is not a JSON object", index_path);
  auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object()) fail("{}: missing or non-object weight_map", index_path);
  if (wm->empty()) fail("{}: weight_map is empty", index_path);

  // shard file name -> tensor names the index places there
  std::map<std::string, std::vector<std::string>> shards;
  for (const auto& [name, shard] : wm->items()) {
    if (!shard.is_string())
      fail("{}: weight_map entry for tensor '{}' is not a string", index_path, name);
    const std::string s = shard.get<std::string>();
    if (!safe_shard_name(s))
      fail("{}: tensor '{}': refusing shard name '{}' (must be a plain file name)", index_path,
           name, s);
    shards[s].push_back(name);
  }

  TensorSet ts;
  for (const auto& [shard, names] : shards) {
    const std::string shard_path = (fs::path(dir) / shard).string();
    if (!file_exists(shard_path))
      fail("{}: missing shard file {} (listed for tensor '{}')", index_path, shard_path,
           names.front());
    ts.files_.push_back(SafetensorsFile::open(shard_path));
    const SafetensorsFile* f = ts.files_.back().get();
    for (const auto& name : names)
      if (!f->find(name))
        fail("{}: tensor '{}' is mapped to shard {} but that shard does not contain it",
             index_path, name, shard_path);
    // Every tensor of the shard is registered (not only those the index names)
    // so that a tensor stored in two shards is caught even if the index only
    // mentions one of them.
    for (const auto& t : f->tensors()) {
      auto [it, inserted] = ts.by_name_.emplace(t.name, Ref{f, &t});
      if (!inserted)
        fail("{}: duplicate tensor '{}' present in both {} and {}", index_path, t.name,
             it->second.file->path(), shard_path);
    }
  }
  return ts;
}

TensorSet::Ref TensorSet::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? Ref{nullptr, nullptr} : it->second;
}

std::vector<std::string> TensorSet::names() const {
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const auto& [name, ref] : by_name_) out.push_back(name);
  return out;
}

}  // namespace slim
