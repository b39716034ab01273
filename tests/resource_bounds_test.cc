// Resource bounds up front (issue 14): commands estimate their large buffers
// from the options and the model and refuse, naming the option to change,
// when the estimate exceeds the memory available ($SLIM_MEMORY_LIMIT in
// tests); ppl --max-chunks tokenizes only the prefix it needs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>
#include <chrono>
#include <thread>

#include <cstdlib>
#include <fstream>

#include "calib/sequential.h"
#include "eval/perplexity.h"
#include "io/text_prefix.h"
#include "model/forward.h"
#include "quant/pipeline.h"
#include "test_util.h"
#include "tiny_model.h"
#include "util/error.h"
#include "util/files.h"
#include "util/anon_buffer.h"
#include "util/huge_pages.h"
#include "util/startup_env.h"
#include "util/memory.h"
#include "util/progress.h"

namespace slim {
namespace {

// Sets $SLIM_MEMORY_LIMIT for one test.
class MemoryLimit {
 public:
  explicit MemoryLimit(const char* v) { setenv("SLIM_MEMORY_LIMIT", v, 1); }
  ~MemoryLimit() { unsetenv("SLIM_MEMORY_LIMIT"); }
};

using test::error_of;

// stories260K's shape.
ModelConfig stories260k() {
  ModelConfig c;
  c.dim = 64, c.hidden_dim = 172, c.n_layers = 5, c.n_heads = 8, c.n_kv_heads = 4, c.head_dim = 8;
  c.vocab_size = 512, c.max_seq_len = 512;
  return c;
}

TEST(MemoryBounds, LimitFromTheEnvironment) {
  {
    MemoryLimit l("3M");
    EXPECT_EQ(available_memory_bytes(), 3 << 20);
  }
  {
    MemoryLimit l("off");
    EXPECT_EQ(available_memory_bytes(), -1);
  }
  {
    MemoryLimit l("lots");
    EXPECT_THROW(available_memory_bytes(), Error);
  }
  EXPECT_GT(available_memory_bytes(), 0);  // /proc/meminfo MemAvailable
}

// A fake /proc/self/cgroup + /sys/fs/cgroup tree.
void put(const std::filesystem::path& f, const std::string& text) {
  std::filesystem::create_directories(f.parent_path());
  std::ofstream(f) << text;
}

TEST(MemoryBounds, CgroupV2LimitIsTheLeastHeadroomOverTheCgroupAndItsAncestors) {
  test::TempDir t;
  const std::filesystem::path root = t.path();
  const auto sys = root / "sys", job = sys / "slurm" / "job_7";
  put(root / "cgroup", "0::/slurm/job_7\n");
  put(sys / "cgroup.controllers", "memory\n");
  // The job: 8 GiB limit, 3 GiB charged of which 1 GiB inactive page cache -> 6 GiB left.
  put(job / "memory.max", "8589934592\n");
  put(job / "memory.current", "3221225472\n");
  put(job / "memory.stat", "anon 2147483648\ninactive_file 1073741824\nactive_file 0\n");
  // Its parent: no limit.
  put(sys / "slurm" / "memory.max", "max\n");
  put(sys / "slurm" / "memory.current", "9999\n");
  EXPECT_EQ(cgroup_available_bytes((root / "cgroup").string(), sys.string()), int64_t(6) << 30);
  // A tighter parent wins: 5 GiB limit, 2 GiB used.
  put(sys / "slurm" / "memory.max", "5368709120\n");
  put(sys / "slurm" / "memory.current", "2147483648\n");
  EXPECT_EQ(cgroup_available_bytes((root / "cgroup").string(), sys.string()), int64_t(3) << 30);
  // Over the limit: nothing left, not a negative count.
  put(job / "memory.current", "9663676416\n");
  put(job / "memory.stat", "inactive_file 0\n");
  EXPECT_EQ(cgroup_available_bytes((root / "cgroup").string(), sys.string()), 0);
}

TEST(MemoryBounds, CgroupV1MemoryControllerAndContainerView) {
  test::TempDir t;
  const std::filesystem::path root = t.path();
  const auto sys = root / "sys";
  put(root / "cgroup", "4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n0::/\n");
  // Inside the container the mount shows only its own cgroup at the root (the host path is absent).
  put(sys / "memory" / "memory.limit_in_bytes", "4294967296\n");
  put(sys / "memory" / "memory.usage_in_bytes", "1073741824\n");
  put(sys / "memory" / "memory.stat", "cache 0\ntotal_inactive_file 536870912\n");
  EXPECT_EQ(cgroup_available_bytes((root / "cgroup").string(), sys.string()),
            (int64_t(4) << 30) - (int64_t(1) << 29));
  // v1 writes a page-aligned 2^63 for "no limit".
  put(sys / "memory" / "memory.limit_in_bytes", "9223372036854771712\n");
  EXPECT_EQ(cgroup_available_bytes((root / "cgroup").string(), sys.string()), -1);
  // No cgroup file, or garbage in it: no limit known.
  EXPECT_EQ(cgroup_available_bytes((root / "none").string(), sys.string()), -1);
  put(root / "bad", "garbage\n::::\n");
  EXPECT_EQ(cgroup_available_bytes((root / "bad").string(), sys.string()), -1);
}

TEST(MemoryBounds, HugeNsamplesIsRefusedWithTheEstimateAndTheOption) {
  // --nsamples 100000 --seqlen 256 on stories260K allocated 6.5 GB in one buffer unchecked.
  QuantizeOptions o;
  o.method = "gptq";
  const MemoryNeed need = quantize_memory(stories260k(), 100000, 256, o);
  EXPECT_GE(need.total(), int64_t(100000) * 256 * 64 * 4);
  MemoryLimit l("1G");
  const std::string msg = error_of([&] { require_memory(need, "quantize", "lower --nsamples or --seqlen"); });
  EXPECT_NE(msg.find("--nsamples"), std::string::npos) << msg;
  EXPECT_NE(msg.find("calibration activations 6.10 GiB"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1.00 GiB available"), std::string::npos) << msg;
  o.fp16_activations = true;  // the other way out halves the store
  EXPECT_LT(quantize_memory(stories260k(), 100000, 256, o).total(), need.total() * 6 / 10);
  o.method = "rtn";
  EXPECT_EQ(quantize_memory(stories260k(), 100000, 256, o).total(), 0);
}

TEST(MemoryBounds, SlimPlusCountsItsFullPrecisionStreamAndTrainingBuffers) {
  // slim+ runs in the streaming driver with a second activation stream (the
  // training targets) and one block's training state on top of slim's needs.
  QuantizeOptions o;
  o.method = "slim";
  o.bits = 2;
  o.group_size = 16;
  const int64_t stream = int64_t(1000) * 256 * 64 * 4;  // one fp32 store of 1000 x 256 tokens, dim 64
  const MemoryNeed slim = quantize_memory(stories260k(), 1000, 256, o);
  o.method = "slim+";
  const MemoryNeed plus = quantize_memory(stories260k(), 1000, 256, o);
  EXPECT_GE(plus.total() - slim.total(), stream);
  bool training = false;
  for (const auto& p : plus.parts) training = training || (p.what.find("SliM-LLM+") == 0 && p.bytes > 0);
  EXPECT_TRUE(training) << plus.describe();
  o.lwc_aug_loss = true;  // its second targets are kept for every window
  EXPECT_GE(quantize_memory(stories260k(), 1000, 256, o).total() - plus.total(), stream);
}

TEST(MemoryBounds, CalibrationIsRefusedBeforeAllocatingTheActivations) {
  Model m = test::make_tiny_model();
  const CalibWindows calib = sample_windows(test::random_tokens(2000, m.config.vocab_size, 9), 8, 32, 0);
  QuantizeOptions o;
  o.method = "gptq";
  o.group_size = 16;
  o.progress = false;
  MemoryLimit l("2K");
  const std::string msg = error_of([&] { quantize_model(m, &calib, o); });
  EXPECT_NE(msg.find("calibration needs about"), std::string::npos) << msg;
}

TEST(MemoryBounds, KvCacheEstimateMatchesTheCache) {
  Model m = test::make_tiny_model();
  KVCache kv;
  kv.init(m.config, 40);
  EXPECT_EQ(kv_cache_bytes(m.config, 40), int64_t(kv.k.size() + kv.v.size()) * 4);
  ModelConfig big = stories260k();
  big.n_layers = 32, big.n_kv_heads = 8, big.head_dim = 128, big.max_seq_len = 131072;
  MemoryLimit l("8G");  // a Llama-3-8B-shaped cache at the full 128k context is 32 GiB
  MemoryNeed need;
  need.add("KV cache", kv_cache_bytes(big, 131072));
  EXPECT_NE(error_of([&] { require_memory(need, "slim generate", "lower --max-tokens"); }).find("--max-tokens"),
            std::string::npos);
}

// Parts of different phases are never held together: the need is what is
// held throughout plus the largest phase (a 70B-wide quantization's Hessian
// batch and GPTQ factorisation were summed, 24.0 GiB instead of ~20).
TEST(MemoryBounds, PhasesCountOnlyTheLargest) {
  MemoryNeed need;
  need.add("activations", 100);
  need.add("batch", 30, "Hessian pass");
  need.add("factor", 50, "quantization");
  need.add("u", 20, "quantization");
  need.add("sums", 10);
  EXPECT_EQ(need.total(), 100 + 10 + 70);
  EXPECT_NE(need.describe().find("then the largest phase, quantization: factor"), std::string::npos) << need.describe();
  EXPECT_EQ(need.describe().find("batch"), std::string::npos) << need.describe();
  need.add("big batch", 100, "Hessian pass");
  EXPECT_EQ(need.total(), 110 + 130);
  // A quantization's estimate: the factorisation and the batch are phases.
  QuantizeOptions o;
  o.method = "gptq";
  const MemoryNeed q = quantize_memory(stories260k(), 8, 256, o);
  std::set<std::string> phases;
  for (const auto& p : q.parts) phases.insert(p.phase);
  EXPECT_EQ(phases, (std::set<std::string>{"", "Hessian pass", "quantization"})) << q.describe();
}

// A buffer that lives 0.2 s between two progress lines still shows in the
// sampled peak: the sampler thread sees it (without one, nobody would).
TEST(MemoryBounds, SamplerCatchesAShortPeak) {
  if (anonymous_rss_bytes() == 0) GTEST_SKIP() << "no /proc/self/status RssAnon here";
  const int64_t before = anonymous_rss_bytes();
  // Above any peak an earlier test of this process left, so the check can fail.
  const int64_t size = std::max<int64_t>(int64_t(128) << 20, sampled_peak_anonymous_bytes() - before + (int64_t(64) << 20));
  {
    const AnonymousMemorySampler sampler(std::chrono::milliseconds(10));
    std::vector<char> big(static_cast<size_t>(size));
    for (size_t i = 0; i < big.size(); i += 4096) big[i] = char(i);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(big[4096], char(4096));
  }
  EXPECT_GE(sampled_peak_anonymous_bytes(), before + size - (int64_t(8) << 20));
}

// A consumed front given back no longer counts as resident and reads as
// zeros; the page holding the boundary and what follows keep their bytes.
TEST(MemoryBounds, AnonBufferReleaseFrontGivesPagesBack) {
  if (anonymous_rss_bytes() == 0) GTEST_SKIP() << "no /proc/self/status RssAnon here";
  const size_t size = size_t(64) << 20, front = (size_t(48) << 20) + 100;
  AnonBuffer b(size, "test buffer");
  unsigned char* p = b.as<unsigned char>();
  for (size_t i = 0; i < size; i += 4096) p[i] = 1;
  p[front] = 7;
  p[size - 1] = 9;
  const int64_t full = anonymous_rss_bytes();
  b.release_front(front);
  const int64_t after = anonymous_rss_bytes();
  EXPECT_GE(full - after, int64_t(40) << 20) << full << " -> " << after;
  EXPECT_EQ(p[0], 0);
  EXPECT_EQ(p[(size_t(48) << 20) - 4096], 0);
  EXPECT_EQ(p[front], 7);
  EXPECT_EQ(p[size - 1], 9);
  b.release_front(front - 4096);  // behind what was given back: nothing changes
  EXPECT_EQ(p[front], 7);
  EXPECT_THROW(b.release_front(size + 1), Error);
}

// When slim re-executes itself with glibc's malloc asking for huge pages:
// only in THP "madvise" mode, never over the user's own hugetlb setting (nor
// twice: the exec'd process sees its own), never with SLIM_NO_HUGE_PAGES.
TEST(HugePages, MallocTunablesDecision) {
  const std::string madvise = "always [madvise] never", always = "[always] madvise never";
  EXPECT_EQ(malloc_huge_pages_tunables(madvise, nullptr, nullptr), "glibc.malloc.hugetlb=1");
  EXPECT_EQ(malloc_huge_pages_tunables(madvise, "", nullptr), "glibc.malloc.hugetlb=1");
  EXPECT_EQ(malloc_huge_pages_tunables(madvise, "glibc.malloc.arena_max=2", nullptr),
            "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1");
  EXPECT_EQ(malloc_huge_pages_tunables(madvise, "glibc.malloc.hugetlb=1", nullptr), "");
  EXPECT_EQ(malloc_huge_pages_tunables(madvise, "glibc.malloc.hugetlb=0", nullptr), "");
  EXPECT_EQ(malloc_huge_pages_tunables(always, nullptr, nullptr), "");
  EXPECT_EQ(malloc_huge_pages_tunables("always madvise [never]", nullptr, nullptr), "");
  EXPECT_EQ(malloc_huge_pages_tunables("", nullptr, nullptr), "");  // no such file
  EXPECT_EQ(malloc_huge_pages_tunables(madvise, nullptr, "1"), "");
  EXPECT_EQ(malloc_huge_pages_tunables(madvise, nullptr, "0"), "glibc.malloc.hugetlb=1");
}

// libgomp's spin before sleeping: slim shortens it to 1000 unless the user
// chose a wait policy or a spin count (then nothing changes, nor after the
// exec, which sees its own GOMP_SPINCOUNT).
TEST(StartupEnv, OmpSpinCountDecision) {
  // The user's setting wins, whatever the load.
  EXPECT_EQ(omp_spin_count("passive", nullptr, 2.0, 2), "");
  EXPECT_EQ(omp_spin_count("active", nullptr, 0.0, 2), "");
  EXPECT_EQ(omp_spin_count(nullptr, "1000", 2.0, 2), "");
  EXPECT_EQ(omp_spin_count(nullptr, "300000", 2.0, 2), "");
  // Unset: 10000 on an idle machine, 1000 when a CPU is taken or the load is unknown.
  EXPECT_EQ(omp_spin_count(nullptr, nullptr, 2.0, 2), "10000");
  EXPECT_EQ(omp_spin_count("", "", 1.6, 2), "10000");
  EXPECT_EQ(omp_spin_count(nullptr, nullptr, 1.4, 2), "1000");
  EXPECT_EQ(omp_spin_count(nullptr, nullptr, 1.0, 2), "1000");
  EXPECT_EQ(omp_spin_count(nullptr, nullptr, 63.0, 64), "1000");
  EXPECT_EQ(omp_spin_count(nullptr, nullptr, 63.8, 64), "10000");
  EXPECT_EQ(omp_spin_count(nullptr, nullptr, -1.0, 2), "1000");
  EXPECT_EQ(omp_spin_count(nullptr, nullptr, 0.0, 0), "1000");
}

// Progress inside a unit (a block's forward windows): the line shows the
// whole units and an ETA from the fraction; units of an earlier run (resume)
// do not count in the rate.
TEST(ProgressLines, FractionMovesTheEta) {
  auto line = [](double done, long before) {
    Progress p("block", 4, true, /*min_interval_s=*/0);
    p.set_done_before(before);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    testing::internal::CaptureStderr();
    p.update_fraction(done, "layer 1 Hessian pass: window 3/8");
    return testing::internal::GetCapturedStderr();
  };
  auto eta = [](const std::string& s) {  // seconds, -1 for "?"
    const size_t at = s.find("ETA ");
    return at == std::string::npos || s[at + 4] == '?' ? -1 : std::atoi(s.c_str() + at + 4);
  };
  const std::string a = line(1.5, 0);
  EXPECT_NE(a.find("block 1/4"), std::string::npos) << a;
  EXPECT_NE(a.find("window 3/8"), std::string::npos) << a;
  // 1.1 s (more on a loaded machine) for 1.5 units, 2.5 to go: ~1.8 s
  EXPECT_GE(eta(a), 1) << a;
  EXPECT_LE(eta(a), 3) << a;
  const std::string b = line(1.5, 1);  // the same time for 0.5 units: ~5.5 s
  EXPECT_GE(eta(b), 5) << b;
  EXPECT_LE(eta(b), 9) << b;
  const std::string c = line(0.0, 0);
  EXPECT_NE(c.find("ETA ?"), std::string::npos) << c;
}

TEST(MemoryBounds, PerplexityNeedGrowsWithSeqlenAndThreads) {
  const ModelConfig c = stories260k();
  EXPECT_GT(perplexity_memory(c, 512, 1).total(), perplexity_memory(c, 256, 1).total());
  EXPECT_GT(perplexity_memory(c, 256, 8).total(), perplexity_memory(c, 256, 1).total());
}

// A tokenizer that merges "ab" into one token, so a cut between a and b
// would change the answer.
class PairTokenizer : public Tokenizer {
 public:
  std::vector<int> encode(std::string_view text, bool add_bos) const override {
    std::vector<int> ids;
    if (add_bos) ids.push_back(1);
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == 'a' && i + 1 < text.size() && text[i + 1] == 'b') {
        ids.push_back(300);
        ++i;
      } else {
        ids.push_back(static_cast<unsigned char>(text[i]));
      }
    }
    return ids;
  }
  std::string decode(std::span<const int>) const override { return ""; }
  std::string piece(int) const override { return ""; }
  int vocab_size() const override { return 301; }
  int bos_id() const override { return 1; }
  int eos_id() const override { return 2; }
  std::string kind() const override { return "pair"; }
};

TEST(TextPrefix, MaxChunksTokenizesOnlyAPrefixEqualToTheWholeText) {
  test::TempDir d;
  std::string text;
  for (int i = 0; text.size() < (2u << 20); ++i) text += "ab cab line " + std::to_string(i) + "\nab";
  std::ofstream(d.file("t.txt"), std::ios::binary) << text;
  PairTokenizer tok;
  const std::vector<int> whole = tok.encode(text, true);
  for (size_t need : {size_t(1), size_t(1000), size_t(20000)}) {
    const TextPrefix p = encode_text_prefix(tok, d.file("t.txt"), need, true);
    ASSERT_EQ(p.tokens.size(), need);
    EXPECT_TRUE(std::equal(p.tokens.begin(), p.tokens.end(), whole.begin())) << need;
    EXPECT_FALSE(p.whole_file);
    // Bounded by the need (two prefixes of 64 KiB or 16 bytes a token), not the file.
    EXPECT_LE(p.bytes_read, 2 * std::max<int64_t>(64 << 10, 16 * int64_t(need)));
  }
  const TextPrefix all = encode_text_prefix(tok, d.file("t.txt"), whole.size() + 10, true);
  EXPECT_TRUE(all.whole_file);
  EXPECT_EQ(all.tokens, whole);
  EXPECT_THROW(encode_text_prefix(tok, d.path(), 10, true), Error);
}

TEST(TextPrefix, SharedTokenizerPrefixEqualsWholeText) {
  SLIM_REQUIRE_SHARED(shared);
  auto tok = load_tokenizer(shared + "/data/models/tok512.bin", 512);
  const std::string path = shared + "/data/text/wikitext2_test.txt";
  const std::vector<int> whole = tok->encode(read_file(path), true);
  const TextPrefix p = encode_text_prefix(*tok, path, 2 * 256, true);
  ASSERT_EQ(p.tokens.size(), 512u);
  EXPECT_TRUE(std::equal(p.tokens.begin(), p.tokens.end(), whole.begin()));
}

}  // namespace
}  // namespace slim
