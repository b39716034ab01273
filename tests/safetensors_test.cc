// Tests for io/safetensors: write/read round trip, every validation failure of
// SafetensorsFile::open, sharded model directories, atomic replacement, and a
// seeded mutation fuzz (open() must succeed or throw slim::Error, nothing else).
#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "util/error.h"

namespace slim {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "slim_st_XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char((v >> (8 * i)) & 0xff);
  return s;
}

// A file with `header` as JSON text and `data_bytes` bytes of data buffer.
std::string crafted(const std::string& header, size_t data_bytes) {
  std::string s = le64(header.size()) + header;
  for (size_t i = 0; i < data_bytes; ++i) s.push_back(char(i * 7 + 1));
  return s;
}

template <typename T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span<const T>(v));
}

// Expects open() to throw slim::Error whose message names the file and contains
// every keyword.
void expect_open_fails(const std::string& path, const std::vector<std::string>& keywords) {
  try {
    SafetensorsFile::open(path);
    ADD_FAILURE() << "open() accepted " << path;
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const auto& k : keywords) EXPECT_NE(msg.find(k), std::string::npos) << "'" << k << "' not in: " << msg;
  }
}

// ---------------------------------------------------------------------------
// Round trip

TEST(SafetensorsRoundTrip, AllDtypesMetadataZeroSizeAndScalar) {
  TempDir dir;
  const std::string path = dir.file("rt.safetensors");
  std::vector<float> f32 = {1.5f, -2.f, 3.25f, 0.f, 1e-3f, 7.f};
  std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x7bff, 0x0001};
  std::vector<uint16_t> bf16 = {0x3f80, 0x4049, 0xff80};
  std::vector<int32_t> i32 = {-1, 2, 2147483647, -2147483647 - 1};
  std::vector<uint8_t> u8 = {0, 1, 128, 254, 255};
  std::vector<float> empty;
  std::vector<float> scalar = {42.f};
  std::vector<TensorToWrite> ts = {
      {"w.f32", DType::F32, {2, 3}, bytes_of(f32)},
      {"w.f16", DType::F16, {4}, bytes_of(f16)},
      {"w.bf16", DType::BF16, {3}, bytes_of(bf16)},
      {"w.i32", DType::I32, {2, 2}, bytes_of(i32)},
      {"w.u8", DType::U8, {5}, bytes_of(u8)},
      {"w.empty", DType::F32, {0, 4}, bytes_of(empty)},
      {"w.scalar", DType::F32, {}, bytes_of(scalar)},
  };
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "quote \" and \xc3\xa9"}};
  write_safetensors(path, ts, meta);

  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f->path(), path);
  EXPECT_EQ(f->metadata(), meta);
  ASSERT_EQ(f->tensors().size(), ts.size());
  for (const auto& w : ts) {
    const TensorInfo* t = f->find(w.name);
    ASSERT_NE(t, nullptr) << w.name;
    EXPECT_EQ(t->dtype, w.dtype) << w.name;
    EXPECT_EQ(t->shape, w.shape) << w.name;
    auto d = f->data(*t);
    ASSERT_EQ(d.size(), w.data.size()) << w.name;
    EXPECT_EQ(size_t(t->numel()) * dtype_size(t->dtype), d.size()) << w.name;
    if (!d.empty()) {
      EXPECT_EQ(std::memcmp(d.data(), w.data.data(), d.size()), 0) << w.name;
    }
  }
  EXPECT_EQ(f->find("w.scalar")->numel(), 1);
  EXPECT_EQ(f->find("w.empty")->numel(), 0);
  EXPECT_EQ(f->find("absent"), nullptr);

  // Header padded to a multiple of 8, data laid out contiguously in the given
  // order and exactly filling the buffer (what the reference reader demands).
  auto raw = f->mapping()->bytes();
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u);
  EXPECT_TRUE(char(raw[8 + n - 1]) == ' ' || char(raw[8 + n - 1]) == '}');
  uint64_t expect_begin = 0;
  for (const auto& w : ts) {
    const TensorInfo* t = f->find(w.name);
    EXPECT_EQ(t->begin, expect_begin) << w.name;
    expect_begin = t->end;
  }
  EXPECT_EQ(8 + n + expect_begin, raw.size());
  // The first tensor starts at the 8-aligned data buffer.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f->data(*f->find("w.f32")).data()) % 8, 0u);
}

TEST(SafetensorsRoundTrip, EmptyFileNoTensors) {
  TempDir dir;
  const std::string path = dir.file("e.safetensors");
  write_safetensors(path, {});
  auto f = SafetensorsFile::open(path);
  EXPECT_TRUE(f->tensors().empty());
  EXPECT_TRUE(f->metadata().empty());
}

TEST(SafetensorsRoundTrip, HolesAndEmptyRangesAndExtraFieldsAccepted) {
  TempDir dir;
  const std::string path = dir.file("holes.safetensors");
  write_bytes(path, crafted(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16],"x":1},)"
                            R"("z":{"dtype":"F32","shape":[0],"data_offsets":[2,2]}})",
                            20));
  auto f = SafetensorsFile::open(path);
  ASSERT_EQ(f->tensors().size(), 3u);
  EXPECT_EQ(f->data(*f->find("b")).size(), 8u);
  EXPECT_EQ(f->data(*f->find("z")).size(), 0u);
}

// ---------------------------------------------------------------------------
// Writer validation and atomicity

TEST(SafetensorsWrite, RejectsInvalidInput) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  std::vector<float> four(4);
  auto expect_throw = [&](std::vector<TensorToWrite> ts, const char* keyword) {
    try {
      write_safetensors(path, ts);
      ADD_FAILURE() << "accepted: " << keyword;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(keyword), std::string::npos) << e.what();
    }
  };
  expect_throw({{"a", DType::F32, {3}, bytes_of(four)}}, "bytes");
  expect_throw({{"a", DType::F16, {4}, bytes_of(four)}}, "bytes");
  expect_throw({{"a", DType::F32, {4}, bytes_of(four)}, {"a", DType::F32, {4}, bytes_of(four)}},
               "duplicate");
  expect_throw({{"a", DType::F32, {-4}, bytes_of(four)}}, "negative");
  expect_throw({{"a", DType::F32, {int64_t(1) << 40, int64_t(1) << 40}, bytes_of(four)}},
               "overflow");
  expect_throw({{"__metadata__", DType::F32, {4}, bytes_of(four)}}, "reserved");
  expect_throw({{"bad\xff", DType::F32, {4}, bytes_of(four)}}, "header");
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(fs::is_empty(dir.path()));  // no temporary left behind

  EXPECT_THROW(write_safetensors(dir.file("no/such/dir/x.safetensors"), {}), Error);
}

TEST(SafetensorsWrite, ReplacesExistingFileAtomically) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  std::vector<float> a = {1, 2, 3}, b = {9, 8, 7, 6, 5};
  write_safetensors(path, {{"x", DType::F32, {3}, bytes_of(a)}});
  auto old_file = SafetensorsFile::open(path);

  write_safetensors(path, {{"x", DType::F32, {5}, bytes_of(b)}, {"y", DType::U8, {0}, {}}});
  // A reader that had the old file open keeps seeing it intact: the new content
  // arrived as a new inode via rename, not by rewriting in place.
  auto od = old_file->data(*old_file->find("x"));
  ASSERT_EQ(od.size(), 12u);
  EXPECT_EQ(std::memcmp(od.data(), a.data(), 12), 0);

  auto f = SafetensorsFile::open(path);
  ASSERT_NE(f->find("y"), nullptr);
  auto d = f->data(*f->find("x"));
  ASSERT_EQ(d.size(), 20u);
  EXPECT_EQ(std::memcmp(d.data(), b.data(), 20), 0);

  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(dir.path())) entries.push_back(e.path().filename());
  EXPECT_EQ(entries, std::vector<std::string>{"m.safetensors"});
}

// ---------------------------------------------------------------------------
// Malformed files: one test per validation rule.

class SafetensorsMalformed : public ::testing::Test {
 protected:
  // Writes raw bytes and checks that open() refuses them.
  void expect_raw(const std::string& bytes, const std::vector<std::string>& keywords) {
    write_bytes(path_, bytes);
    expect_open_fails(path_, keywords);
  }
  void expect_header(const std::string& header, size_t data_bytes,
                     const std::vector<std::string>& keywords) {
    expect_raw(crafted(header, data_bytes), keywords);
  }
  // Header with a single tensor "t" whose entry body is `body`.
  void expect_entry(const std::string& body, size_t data_bytes, const std::vector<std::string>& kw) {
    std::vector<std::string> k = kw;
    k.push_back("'t'");
    expect_header(R"({"t":)" + body + "}", data_bytes, k);
  }
  TempDir dir_;
  std::string path_ = dir_.file("bad.safetensors");
};

TEST_F(SafetensorsMalformed, EmptyFile) { expect_raw("", {"too short"}); }
TEST_F(SafetensorsMalformed, ShorterThanEightBytes) { expect_raw("\x02\0\0\0\0", {"too short"}); }

TEST_F(SafetensorsMalformed, HeaderLengthBeyondFile) {
  expect_raw(le64(1000) + "{}", {"header length", "exceeds"});
}
TEST_F(SafetensorsMalformed, HeaderLengthAbsurd) {
  expect_raw(le64(uint64_t(1) << 40) + "{}", {"header length", "too large"});
  expect_raw(le64(~uint64_t(0)) + "{}", {"header length", "too large"});
}

TEST_F(SafetensorsMalformed, HeaderNotJson) {
  expect_header("{\"t\": {", 0, {"not valid JSON"});
  expect_header("", 0, {"not valid JSON"});
  expect_header("{} trailing", 0, {"not valid JSON"});
  expect_header("{\"\xff\xfe\": 1}", 0, {"not valid JSON"});  // invalid UTF-8
}
TEST_F(SafetensorsMalformed, HeaderNotObject) {
  expect_header("[1, 2]", 0, {"not a JSON object"});
  expect_header("\"s\"", 0, {"not a JSON object"});
}
TEST_F(SafetensorsMalformed, HeaderNestedTooDeeply) {
  expect_header(std::string(100000, '[') + std::string(100000, ']'), 0, {"nested too deeply"});
}
TEST_F(SafetensorsMalformed, DuplicateTensorName) {
  expect_header(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                R"("t":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                2, {"duplicate", "'t'"});
}
TEST_F(SafetensorsMalformed, EntryNotObject) {
  expect_entry("5", 0, {"not a JSON object"});
  expect_entry("[]", 0, {"not a JSON object"});
}

TEST_F(SafetensorsMalformed, MissingDtype) {
  expect_entry(R"({"shape":[1],"data_offsets":[0,1]})", 1, {"missing dtype"});
}
TEST_F(SafetensorsMalformed, DtypeNotString) {
  expect_entry(R"({"dtype":4,"shape":[1],"data_offsets":[0,4]})", 4, {"dtype"});
}
TEST_F(SafetensorsMalformed, UnknownDtype) {
  expect_entry(R"({"dtype":"Q4","shape":[1],"data_offsets":[0,1]})", 1, {"unknown", "Q4"});
  expect_entry(R"({"dtype":"f32","shape":[1],"data_offsets":[0,4]})", 4, {"unknown"});
}
TEST_F(SafetensorsMalformed, MissingShape) {
  expect_entry(R"({"dtype":"U8","data_offsets":[0,1]})", 1, {"missing shape"});
}
TEST_F(SafetensorsMalformed, ShapeWronglyTyped) {
  expect_entry(R"({"dtype":"U8","shape":1,"data_offsets":[0,1]})", 1, {"shape"});
  expect_entry(R"({"dtype":"U8","shape":[1.5],"data_offsets":[0,1]})", 1, {"shape", "integer"});
  expect_entry(R"({"dtype":"U8","shape":["1"],"data_offsets":[0,1]})", 1, {"shape", "integer"});
  expect_entry(R"({"dtype":"U8","shape":[true],"data_offsets":[0,1]})", 1, {"shape", "integer"});
}
TEST_F(SafetensorsMalformed, NegativeShapeDim) {
  expect_entry(R"({"dtype":"U8","shape":[-1],"data_offsets":[0,0]})", 0, {"negative"});
  expect_entry(R"({"dtype":"U8","shape":[-2,-3],"data_offsets":[0,6]})", 6, {"negative"});
}
TEST_F(SafetensorsMalformed, ShapeDimTooLarge) {
  expect_entry(R"({"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,0]})", 0,
               {"too large"});
}
TEST_F(SafetensorsMalformed, MissingDataOffsets) {
  expect_entry(R"({"dtype":"U8","shape":[1]})", 1, {"missing data_offsets"});
}
TEST_F(SafetensorsMalformed, DataOffsetsWronglyTyped) {
  for (const char* off : {R"("0,1")", "[0]", "[0,1,2]", "[-1,0]", "[0,-1]", "[0.0,1.0]", "[0,\"1\"]",
                          "{}", "[0,18446744073709551616]"})
    expect_entry(std::string(R"({"dtype":"U8","shape":[1],"data_offsets":)") + off + "}", 1,
                 {"data_offsets"});
}
TEST_F(SafetensorsMalformed, BeginAfterEnd) {
  expect_entry(R"({"dtype":"U8","shape":[0],"data_offsets":[3,1]})", 4, {"begin 3 > end 1"});
}
TEST_F(SafetensorsMalformed, EndBeyondDataBuffer) {
  expect_entry(R"({"dtype":"U8","shape":[4],"data_offsets":[0,4]})", 3, {"beyond the data buffer"});
  expect_entry(R"({"dtype":"U8","shape":[1],"data_offsets":[18446744073709551614,18446744073709551615]})",
               3, {"beyond the data buffer"});
}
TEST_F(SafetensorsMalformed, ByteCountMismatch) {
  expect_entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})", 8, {"byte count"});
  expect_entry(R"({"dtype":"F32","shape":[],"data_offsets":[0,0]})", 8, {"byte count"});
  expect_entry(R"({"dtype":"U8","shape":[0],"data_offsets":[0,1]})", 8, {"byte count"});
}
TEST_F(SafetensorsMalformed, ShapeOverflow) {
  // 2^40 * 2^40 wraps to 0 in 64 bits; a naive product would "match" [0, 0].
  expect_entry(R"({"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,0]})", 0,
               {"overflow"});
  // Element count fits, byte count does not: 2^62 * 4 wraps to 0.
  expect_entry(R"({"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]})", 0,
               {"overflow"});
  // 2^32 * 2^32 * 2 wraps the element count even before the dtype size.
  expect_entry(R"({"dtype":"U8","shape":[4294967296,4294967296,2],"data_offsets":[0,0]})", 0,
               {"overflow"});
}
TEST_F(SafetensorsMalformed, OverlappingTensors) {
  expect_header(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                R"("b":{"dtype":"U8","shape":[4],"data_offsets":[3,7]}})",
                8, {"overlap", "'a'", "'b'"});
  // Identical ranges, listed in reverse name order.
  expect_header(R"({"z":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},)"
                R"("y":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                8, {"overlap"});
  // Containment: b lies inside a, and c after a starts before a ends.
  expect_header(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},)"
                R"("c":{"dtype":"U8","shape":[2],"data_offsets":[8,10]}})",
                10, {"overlap"});
}
TEST_F(SafetensorsMalformed, MetadataNotObjectOfStrings) {
  expect_header(R"({"__metadata__":"x"})", 0, {"__metadata__"});
  expect_header(R"({"__metadata__":["a"]})", 0, {"__metadata__"});
  expect_header(R"({"__metadata__":{"k":1}})", 0, {"__metadata__", "'k'"});
  expect_header(R"({"__metadata__":{"k":{"a":"b"}}})", 0, {"__metadata__", "'k'"});
}

// ---------------------------------------------------------------------------
// TensorSet: model directories

class SafetensorsTensorSet : public ::testing::Test {
 protected:
  void shard(const std::string& file, const std::vector<std::string>& names) {
    std::vector<TensorToWrite> ts;
    for (const auto& n : names) ts.push_back({n, DType::F32, {2}, bytes_of(data_)});
    write_safetensors(dir_.file(file), ts);
  }
  void index(const std::string& weight_map_json) {
    write_bytes(dir_.file("model.safetensors.index.json"),
                R"({"metadata":{"total_size":24},"weight_map":)" + weight_map_json + "}");
  }
  void expect_dir_fails(const std::vector<std::string>& keywords) {
    try {
      TensorSet::open_dir(dir_.path());
      ADD_FAILURE() << "open_dir accepted the directory";
    } catch (const Error& e) {
      for (const auto& k : keywords) EXPECT_NE(std::string(e.what()).find(k), std::string::npos) << e.what();
    }
  }
  TempDir dir_;
  std::vector<float> data_ = {1.f, 2.f};
};

TEST_F(SafetensorsTensorSet, SingleFile) {
  shard("model.safetensors", {"a", "b"});
  auto ts = TensorSet::open_dir(dir_.path());
  EXPECT_EQ(ts.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ts.files().size(), 1u);
  auto r = ts.find("b");
  ASSERT_NE(r.file, nullptr);
  EXPECT_EQ(r.info->name, "b");
  EXPECT_EQ(r.file->data(*r.info).size(), 8u);
  EXPECT_EQ(ts.find("c").file, nullptr);

  auto single = TensorSet::open_file(dir_.file("model.safetensors"));
  EXPECT_EQ(single.names(), ts.names());
}

TEST_F(SafetensorsTensorSet, NothingToOpen) {
  expect_dir_fails({dir_.path(), "model.safetensors.index.json", "model.safetensors"});
}

TEST_F(SafetensorsTensorSet, TwoShards) {
  shard("model-00001-of-00002.safetensors", {"a", "b"});
  shard("model-00002-of-00002.safetensors", {"c"});
  index(R"({"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors",)"
        R"("c":"model-00002-of-00002.safetensors"})");
  auto ts = TensorSet::open_dir(dir_.path());
  EXPECT_EQ(ts.names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ts.files().size(), 2u);
  auto r = ts.find("c");
  ASSERT_NE(r.file, nullptr);
  EXPECT_NE(r.file->path().find("00002-of"), std::string::npos);
  float v[2];
  std::memcpy(v, r.file->data(*r.info).data(), sizeof v);
  EXPECT_EQ(v[1], 2.f);
  // Copies share the files; refs stay valid after the original is gone.
  TensorSet copy = ts;
  ts = TensorSet::open_file(dir_.file("model-00001-of-00002.safetensors"));
  EXPECT_EQ(copy.find("c").info->name, "c");
}

TEST_F(SafetensorsTensorSet, MissingShard) {
  shard("s1.safetensors", {"a"});
  index(R"({"a":"s1.safetensors","b":"s2.safetensors"})");
  expect_dir_fails({"missing shard", "s2.safetensors", "'b'"});
}

TEST_F(SafetensorsTensorSet, NameInWrongShard) {
  shard("s1.safetensors", {"a"});
  shard("s2.safetensors", {"b"});
  index(R"({"a":"s2.safetensors","b":"s2.safetensors"})");
  expect_dir_fails({"'a'", "s2.safetensors", "does not contain"});
}

TEST_F(SafetensorsTensorSet, NameInTwoShards) {
  shard("s1.safetensors", {"a", "b"});
  shard("s2.safetensors", {"b", "c"});
  index(R"({"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"})");
  expect_dir_fails({"duplicate", "'b'", "s1.safetensors", "s2.safetensors"});
}

TEST_F(SafetensorsTensorSet, DuplicateKeyInIndex) {
  shard("s1.safetensors", {"a"});
  shard("s2.safetensors", {"a"});
  index(R"({"a":"s1.safetensors","a":"s2.safetensors"})");
  expect_dir_fails({"duplicate", "'a'"});
}

TEST_F(SafetensorsTensorSet, UnsafeShardNames) {
  shard("s1.safetensors", {"a"});
  for (const char* bad : {"../s1.safetensors", "sub/s1.safetensors", "/etc/passwd", "..", ""}) {
    index(std::string(R"({"a":")") + bad + "\"}");
    expect_dir_fails({"refusing shard name"});
  }
}

TEST_F(SafetensorsTensorSet, MalformedIndex) {
  index("{");  // the weight_map object is left unclosed
  expect_dir_fails({"model.safetensors.index.json", "not valid JSON"});
  write_bytes(dir_.file("model.safetensors.index.json"), R"({"metadata":{}})");
  expect_dir_fails({"weight_map"});
  index(R"({"a":3})");
  expect_dir_fails({"'a'", "not a string"});
  index("{}");
  expect_dir_fails({"weight_map is empty"});
}

TEST_F(SafetensorsTensorSet, BadShardContentNamesShard) {
  write_bytes(dir_.file("s1.safetensors"), "xx");
  index(R"({"a":"s1.safetensors"})");
  expect_dir_fails({"s1.safetensors", "too short"});
}

// ---------------------------------------------------------------------------
// Fuzz: random corruption must never crash, only succeed or throw slim::Error.

TEST(SafetensorsFuzz, RandomCorruptionNeverCrashes) {
  TempDir dir;
  const std::string good = dir.file("good.safetensors");
  std::vector<float> f32 = {1, 2, 3, 4, 5, 6};
  std::vector<uint16_t> bf16 = {1, 2, 3};
  std::vector<uint8_t> u8 = {7, 8, 9, 10, 11};
  write_safetensors(good,
                    {{"a", DType::F32, {2, 3}, bytes_of(f32)},
                     {"b", DType::BF16, {3}, bytes_of(bf16)},
                     {"c", DType::U8, {5}, bytes_of(u8)},
                     {"d", DType::F32, {0}, {}}},
                    {{"k", "v"}});
  std::string base;
  {
    std::ifstream in(good, std::ios::binary);
    base.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(base.size(), 16u);

  const std::string path = dir.file("fuzz.safetensors");
  const std::string interesting = "{}[]\",:0123456789-.e \\";
  std::mt19937_64 rng(20240611);
  int ok = 0, refused = 0;
  for (int it = 0; it < 2000; ++it) {
    std::string s = base;
    int n_mut = 1 + int(rng() % 3);
    for (int m = 0; m < n_mut && !s.empty(); ++m) {
      size_t pos = rng() % s.size();
      switch (rng() % 6) {
        case 0: s[pos] = char(s[pos] ^ (1 << (rng() % 8))); break;
        case 1: s[pos] = char(rng()); break;
        case 2: s.resize(rng() % s.size()); break;
        case 3: s[pos] = interesting[rng() % interesting.size()]; break;
        case 4: if (s.size() >= 8) s[rng() % 8] = char(rng()); break;  // header length
        case 5: s.insert(pos, 1, interesting[rng() % interesting.size()]); break;
      }
    }
    write_bytes(path, s);
    try {
      auto f = SafetensorsFile::open(path);
      ++ok;
      // Whatever was accepted must be safe to read in full.
      unsigned sum = 0;
      for (const auto& t : f->tensors()) {
        auto d = f->data(t);
        ASSERT_EQ(d.size(), size_t(t.numel()) * dtype_size(t.dtype));
        for (std::byte b : d) sum += unsigned(b);
      }
      (void)sum;
    } catch (const Error& e) {
      ++refused;
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "iteration " << it << ": non-slim exception: " << e.what();
    } catch (...) {
      ADD_FAILURE() << "iteration " << it << ": unknown exception";
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace slim
