// Zero-shot multiple-choice evaluation: task readers (templates checked
// string-for-string against lm-evaluation-harness), malformed input, the
// scoring arithmetic on a hand-checkable bigram model, prefix sharing against
// an independent full forward pass, and PIQA on stories260K (shared data).
#include "eval/zeroshot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "io/model_source.h"
#include "io/tasks.h"
#include "model/forward.h"
#include "test_util.h"
#include "tiny_model.h"
#include "util/error.h"

namespace slim {
namespace {

using Strings = std::vector<std::string>;

void write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

using test::expect_error;

// ---------------------------------------------------------------- readers --

TEST(Tasks, PiqaTemplateAndLabelsFile) {
  test::TempDir d;
  write(d.file("piqa_valid.jsonl"),
        "{\"goal\": \"How do I dry a shirt?\", \"sol1\": \"Hang it up. \", \"sol2\": \"Soak it.\"}\n"
        "{\"goal\": \"dresser\", \"sol1\": \"a\", \"sol2\": \"b\"}\n");
  write(d.file("piqa_valid-labels.lst"), "0\n1\n");
  TaskData t = load_task("piqa", d.path());
  ASSERT_EQ(t.examples.size(), 2u);
  EXPECT_EQ(t.file, d.file("piqa_valid.jsonl"));
  const McExample& e = t.examples[0];
  EXPECT_EQ(e.context, "Question: How do I dry a shirt?\nAnswer:");
  EXPECT_EQ(e.continuations, (Strings{" Hang it up. ", " Soak it."}));  // verbatim, trailing space kept
  EXPECT_EQ(e.label, 0);
  EXPECT_EQ(t.examples[1].label, 1);

  // Hugging Face export: the label inline, no .lst.
  write(d.file("hf/piqa.jsonl"), "{\"goal\": \"g\", \"sol1\": \"x\", \"sol2\": \"y\", \"label\": 1}\n");
  EXPECT_EQ(load_task("piqa", d.file("hf")).examples[0].label, 1);

  write(d.file("piqa_valid-labels.lst"), "0\n2\n");
  expect_error([&] { read_piqa(d.file("piqa_valid.jsonl"), d.file("piqa_valid-labels.lst")); },
               "piqa_valid-labels.lst:2:");
  write(d.file("piqa_valid-labels.lst"), "0\n");
  expect_error([&] { read_piqa(d.file("piqa_valid.jsonl"), d.file("piqa_valid-labels.lst")); }, "has 1 labels");
}

TEST(Tasks, ArcTemplateAndLabelForms) {
  test::TempDir d;
  write(d.file("ARC-Easy-Dev.jsonl"),
        R"({"id": "q1", "question": {"stem": "Which is a gas?", "choices": [{"text": "ice", "label": "A"}, )"
        R"({"text": "steam", "label": "B"}, {"text": "rock", "label": "C"}]}, "answerKey": "B"})"
        "\n"
        R"({"question": {"stem": "Pick 3", "choices": [{"text": "one", "label": "1"}, {"text": "two", "label": "2"}, )"
        R"({"text": "three", "label": "3"}, {"text": "four", "label": "4"}]}, "answerKey": "3"})"
        "\n"
        // A numeric key in a lettered file maps 1->A.
        R"({"question": {"stem": "Q", "choices": [{"text": "x", "label": "A"}, {"text": "y", "label": "B"}]}, )"
        R"("answerKey": "2"})"
        "\n");
  TaskData t = load_task("arc_easy", d.path());
  ASSERT_EQ(t.examples.size(), 3u);
  EXPECT_EQ(t.examples[0].context, "Question: Which is a gas?\nAnswer:");
  EXPECT_EQ(t.examples[0].continuations, (Strings{" ice", " steam", " rock"}));
  EXPECT_EQ(t.examples[0].label, 1);
  EXPECT_EQ(t.examples[1].label, 2);
  EXPECT_EQ(t.examples[2].label, 1);
  // The test split wins over dev (lm-eval reports ARC on test).
  write(d.file("ARC-Easy-Test.jsonl"),
        R"({"question": "Hf style?", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "A"})");
  t = load_task("arc_easy", d.path());
  EXPECT_EQ(t.file, d.file("ARC-Easy-Test.jsonl"));
  EXPECT_EQ(t.examples[0].context, "Question: Hf style?\nAnswer:");
  EXPECT_EQ(t.examples[0].continuations, (Strings{" a", " b"}));

  write(d.file("bad.jsonl"), R"({"question": {"stem": "Q", "choices": [{"text": "x", "label": "A"}, )"
                             R"({"text": "y", "label": "B"}]}, "answerKey": "F"})");
  expect_error([&] { read_arc(d.file("bad.jsonl")); }, "bad.jsonl:1: answerKey \"F\"");
}

TEST(Tasks, BoolqTemplate) {
  test::TempDir d;
  write(d.file("boolq/dev.jsonl"),
        R"({"question": "is the sky blue", "title": "Sky", "answer": true, "passage": "The sky is blue."})"
        "\n"
        R"({"question": "q", "passage": "p", "label": 0})"
        "\n");
  TaskData t = load_task("boolq", d.path());
  ASSERT_EQ(t.examples.size(), 2u);
  EXPECT_EQ(t.examples[0].context, "The sky is blue.\nQuestion: is the sky blue?\nAnswer:");
  EXPECT_EQ(t.examples[0].continuations, (Strings{" no", " yes"}));
  EXPECT_EQ(t.examples[0].label, 1);
  EXPECT_EQ(t.examples[1].label, 0);
}

TEST(Tasks, HellaswagJsonlPreprocess) {
  // Expected strings produced by lm-eval's utils.py preprocess/process_docs in Python.
  EXPECT_EQ(hellaswag_preprocess("  a [title] b [x]c   d  "), "a. b c  d");
  EXPECT_EQ(hellaswag_preprocess("x [a\nb] y"), "x [a\nb] y");  // '.' does not cross lines
  EXPECT_EQ(hellaswag_preprocess("[t]"), "");
  EXPECT_EQ(py_capitalize("DIG a Hole"), "Dig a hole");
  EXPECT_EQ(py_capitalize(""), "");

  test::TempDir d;
  write(
      d.file("hellaswag_val.jsonl"),
      R"({"ind": 4, "activity_label": "Home and Garden", "ctx_a": "[header] How to plant tulips [title] Pick a sunny spot.", )"
      R"("ctx_b": "DIG a hole [step] that is  deep", "endings": ["eight inches deep. [substeps] Use a trowel.", )"
      R"("  and   plant the Bulb. ", "[unclosed bracket", "then water [it]."], "label": 1})"
      "\n");
  TaskData t = load_task("hellaswag", d.path());
  ASSERT_EQ(t.examples.size(), 1u);
  EXPECT_EQ(t.examples[0].context, "Home and Garden: How to plant tulips. Pick a sunny spot. Dig a hole that is deep");
  EXPECT_EQ(t.examples[0].continuations, (Strings{" eight inches deep. Use a trowel.", " and  plant the Bulb.",
                                                  " [unclosed bracket", " then water ."}));
  EXPECT_EQ(t.examples[0].label, 1);
}

TEST(Tasks, HellaswagLlamaCppSixLineText) {
  test::TempDir d;
  // llama.cpp layout: context, gold label, then 4 endings.
  write(d.file("hellaswag_val_full.txt"),
        "Roof shingle removal: A man is sitting on a roof. He\n3\nis using wrap.\nis ripping tiles.\n"
        "is holding a cube.\nstarts pulling up roofing.\n"
        "Ctx two\r\n0\r\ne0\r\ne1\r\ne2\r\ne3\r\n");
  TaskData t = load_task("hellaswag", d.path());
  ASSERT_EQ(t.examples.size(), 2u);
  EXPECT_EQ(t.examples[0].context, "Roof shingle removal: A man is sitting on a roof. He");
  EXPECT_EQ(t.examples[0].continuations,
            (Strings{" is using wrap.", " is ripping tiles.", " is holding a cube.", " starts pulling up roofing."}));
  EXPECT_EQ(t.examples[0].label, 3);
  EXPECT_EQ(t.examples[1].context, "Ctx two");  // CRLF tolerated
  EXPECT_EQ(t.examples[1].continuations[3], " e3");

  write(d.file("short.txt"), "c\n1\na\nb\nc\nd\nnext context\n");
  expect_error([&] { read_hellaswag(d.file("short.txt")); }, "short.txt:7: incomplete task");
  write(d.file("badlabel.txt"), "c\n1\na\nb\nc\nd\nc2\nfour\na\nb\nc\nd\n");
  expect_error([&] { read_hellaswag(d.file("badlabel.txt")); }, "badlabel.txt:8: expected the gold ending index");
}

TEST(Tasks, WinograndePartialScoring) {
  test::TempDir d;
  write(d.file("winogrande_1.1/dev.jsonl"),
        R"({"qID": "x", "sentence": "Sarah was a much better surgeon than Maria so _ always got the harder cases. ", )"
        R"("option1": "Sarah", "option2": "Maria", "answer": "1"})"
        "\n"
        R"({"sentence": "A _ b", "option1": "x", "option2": "y", "answer": 2})"
        "\n");
  TaskData t = load_task("winogrande", d.path());
  ASSERT_EQ(t.examples.size(), 2u);
  const McExample& e = t.examples[0];
  EXPECT_EQ(e.choice_contexts, (Strings{"Sarah was a much better surgeon than Maria so Sarah",
                                        "Sarah was a much better surgeon than Maria so Maria"}));
  EXPECT_EQ(e.context_for(1), "Sarah was a much better surgeon than Maria so Maria");
  EXPECT_EQ(e.continuations, (Strings{" always got the harder cases.", " always got the harder cases."}));
  EXPECT_EQ(e.label, 0);
  EXPECT_EQ(t.examples[1].label, 1);

  write(d.file("noblank.jsonl"), R"({"sentence": "no blank", "option1": "x", "option2": "y", "answer": "1"})");
  expect_error([&] { read_winogrande(d.file("noblank.jsonl")); }, "noblank.jsonl:1: the sentence has no \"_\"");
  write(d.file("test.jsonl"), R"({"sentence": "a _", "option1": "x", "option2": "y", "answer": ""})");
  expect_error([&] { read_winogrande(d.file("test.jsonl")); }, "test.jsonl:1: field \"answer\"");
}

TEST(Tasks, MalformedLinesNameFileAndLine) {
  test::TempDir d;
  const std::string good_piqa = R"({"goal": "g", "sol1": "a", "sol2": "b", "label": 0})";
  write(d.file("a.jsonl"), good_piqa + "\n\n{\"goal\": \"g\", \"sol1\": \"a\"\n");
  expect_error([&] { read_piqa(d.file("a.jsonl"), ""); }, "a.jsonl:3: invalid JSON");
  write(d.file("b.jsonl"), good_piqa + "\n" + R"({"goal": "g", "sol2": "b", "label": 0})" + "\n");
  expect_error([&] { read_piqa(d.file("b.jsonl"), ""); }, "b.jsonl:2: missing field \"sol1\"");
  write(d.file("c.jsonl"), R"({"question": "q", "passage": 5, "answer": true})");
  expect_error([&] { read_boolq(d.file("c.jsonl")); }, "c.jsonl:1: field \"passage\" should be a string");
  write(d.file("d.jsonl"), R"({"question": "q", "passage": "p", "answer": "yes"})");
  expect_error([&] { read_boolq(d.file("d.jsonl")); }, "d.jsonl:1: field \"answer\"");
  write(d.file("e.jsonl"), R"({"activity_label": "a", "ctx_a": "b", "ctx_b": "c", "endings": ["x", "y"], "label": 7})");
  expect_error([&] { read_hellaswag(d.file("e.jsonl")); }, "e.jsonl:1: field \"label\" = 7 is outside 0..1");
  write(d.file("f.jsonl"), "[1, 2]\n");
  expect_error([&] { read_arc(d.file("f.jsonl")); }, "f.jsonl:1: expected a JSON object");
  write(d.file("empty.jsonl"), "\n\n");
  expect_error([&] { read_arc(d.file("empty.jsonl")); }, "no examples");
}

// Issue 14: an empty choice encodes to no tokens, scores 0 and always won.
TEST(Tasks, EmptyAnswerChoiceIsRefusedWithFileAndLine) {
  test::TempDir d;
  write(d.file("p.jsonl"), std::string(R"({"goal": "g", "sol1": "a", "sol2": "b", "label": 0})") + "\n" +
                               R"({"goal": "g", "sol1": "", "sol2": "b", "label": 0})" + "\n");
  expect_error([&] { read_piqa(d.file("p.jsonl"), ""); }, "p.jsonl:2: an answer choice is empty");
}

TEST(ZeroShot, ChoiceWithNoTokensIsRefusedNotAWinner) {
  Model m = test::make_tiny_model();
  McRequest q;
  q.label = 0;
  q.choices = {TokenPair{{1, 5, 6}, {7, 8}}, TokenPair{{1, 5, 6}, {}}};
  q.norm_len = {2, 1};
  ZeroShotOptions o;
  o.progress = false;
  expect_error([&] { evaluate_requests(m, std::vector<McRequest>{q}, o); }, "choice 1 encodes to no tokens");
}

TEST(Tasks, MissingFileListsWhatWasLookedFor) {
  test::TempDir d;
  expect_error([&] { load_task("boolq", d.path()); }, "looked for: boolq_dev.jsonl, boolq/dev.jsonl");
  expect_error([&] { load_task("mmlu", d.path()); }, "unknown task \"mmlu\" (known: piqa, arc_easy");
  for (const auto& t : known_tasks()) EXPECT_FALSE(task_file_candidates(t).empty()) << t;
}

// ---------------------------------------------------------------- scoring --

// One token per character: ' '=0, BOS=1, EOS=2, 'a'..'e'=3..7.
class CharTokenizer : public Tokenizer {
 public:
  std::vector<int> encode(std::string_view text, bool add_bos) const override {
    std::vector<int> ids;
    if (add_bos) ids.push_back(1);
    for (char ch : text) {
      SLIM_CHECK(ch == ' ' || (ch >= 'a' && ch <= 'e'), "CharTokenizer: no token for '{}'", ch);
      ids.push_back(ch == ' ' ? 0 : 3 + (ch - 'a'));
    }
    return ids;
  }
  std::string decode(std::span<const int>) const override { return ""; }
  std::string piece(int) const override { return ""; }
  int vocab_size() const override { return 8; }
  int bos_id() const override { return 1; }
  int eos_id() const override { return 2; }
  std::string kind() const override { return "char"; }
};

using test::bigram_logp;
using test::bigram_model;

TEST(ZeroShot, EncodePairMovesTrailingSpaceToContinuation) {
  CharTokenizer tok;
  TokenPair p = encode_pair(tok, "ab ", "c", true);
  EXPECT_EQ(p.context, (std::vector<int>{1, 3, 4}));
  EXPECT_EQ(p.continuation, (std::vector<int>{0, 5}));
  p = encode_pair(tok, "ab", " c", false);
  EXPECT_EQ(p.context, (std::vector<int>{3, 4}));
  EXPECT_EQ(p.continuation, (std::vector<int>{0, 5}));
  EXPECT_EQ(choice_norm_length(" abc"), 3);
  EXPECT_EQ(choice_norm_length(" \xC3\xA9t\xC3\xA9"), 3);  // "été": code points, as Python len()
  EXPECT_EQ(choice_norm_length(" "), 1);                   // never 0
}

TEST(ZeroShot, BigramModelAccuracyByHand) {
  const int V = 8;
  std::vector<float> A(size_t(V * V), 0.f);  // A[next * V + prev]
  auto set = [&](int prev, int next, float v) { A[size_t(next * V + prev)] = v; };
  // After a space 'a' is likely and 'e' unlikely; after 'b' a space; every
  // other transition is uniform (log 1/8).
  set(0, 3, 1.0f);
  set(0, 7, -1.0f);
  set(4, 0, 1.0f);
  Model m = bigram_model(V, A);
  CharTokenizer tok;
  // Context "b" -> tokens [BOS, b]; each continuation starts with the space.
  std::vector<McExample> ex = {
      {"b", {" d", " aaaa"}, 1, {}},  // " d" wins the sum, " aaaa" per character
      {"b", {" a", " e"}, 1, {}},     // " a" wins both: wrong twice
      {"b", {" ad", " e"}, 0, {}},    // " ad" wins both: right twice
  };
  // By hand: log p of each continuation token given the previous one.
  auto lp = [&](std::initializer_list<int> ids) {
    double s = 0;
    int prev = 4;  // 'b', the last context token
    for (int id : ids) s += bigram_logp(V, A, std::exchange(prev, id), id);
    return s;
  };
  const double d_ll = lp({0, 6}), aaaa_ll = lp({0, 3, 3, 3, 3}), a_ll = lp({0, 3}), e_ll = lp({0, 7}),
               ad_ll = lp({0, 3, 6});
  ASSERT_GT(d_ll, aaaa_ll);          // the sum prefers " d" ...
  ASSERT_GT(aaaa_ll / 4, d_ll / 1);  // ... the per-character mean " aaaa"
  ASSERT_GT(a_ll, e_ll);
  ASSERT_GT(ad_ll / 2, e_ll);
  ZeroShotOptions o;
  o.progress = false;
  McResult r = evaluate_mc(m, tok, ex, o);
  ASSERT_EQ(r.n, 3);
  EXPECT_NEAR(r.examples[0].loglik[0], d_ll, 1e-5);
  EXPECT_NEAR(r.examples[0].loglik[1], aaaa_ll, 1e-5);
  EXPECT_NEAR(r.examples[1].loglik[0], a_ll, 1e-5);
  EXPECT_NEAR(r.examples[1].loglik[1], e_ll, 1e-5);
  EXPECT_NEAR(r.examples[2].loglik[0], ad_ll, 1e-5);
  // (pred, pred_norm) vs label: (0, 1) vs 1, (0, 0) vs 1, (0, 0) vs 0.
  EXPECT_EQ(r.examples[0].pred, 0);
  EXPECT_EQ(r.examples[0].pred_norm, 1);
  EXPECT_EQ(r.examples[1].pred, 0);
  EXPECT_EQ(r.examples[1].pred_norm, 0);
  EXPECT_EQ(r.examples[2].pred, 0);
  EXPECT_EQ(r.examples[2].pred_norm, 0);
  EXPECT_DOUBLE_EQ(r.acc, 1.0 / 3);
  EXPECT_DOUBLE_EQ(r.acc_norm, 2.0 / 3);
  // sqrt(p(1-p)/(n-1)) = sqrt((2/9)/2) = 1/3 for both.
  EXPECT_NEAR(r.acc_stderr, 1.0 / 3, 1e-12);
  EXPECT_NEAR(r.acc_norm_stderr, 1.0 / 3, 1e-12);
  EXPECT_GT(r.examples_per_second(), 0);

  o.limit = 1;
  EXPECT_EQ(evaluate_mc(m, tok, ex, o).n, 1);
  EXPECT_DOUBLE_EQ(mean_stderr(0.5, 101), std::sqrt(0.25 / 100));
  EXPECT_EQ(mean_stderr(1.0, 1), 0.0);
  EXPECT_EQ(argmax_first(std::vector<double>{1, 3, 3}), 1);  // ties: first, as numpy
}

// Independent reference: one full forward pass per choice over the (left-
// truncated) sequence, log-softmax summed over the continuation rows.
double reference_loglik(const Model& m, const TokenPair& p, int max_len) {
  std::vector<int> full = p.context;
  full.insert(full.end(), p.continuation.begin(), p.continuation.end());
  if (full.size() > size_t(max_len) + 1) full.erase(full.begin(), full.end() - (max_len + 1));
  std::vector<int> input(full.begin(), full.end() - 1);
  std::vector<float> lg = forward_logits(m, input);  // (L, V)
  const int V = m.config.vocab_size, L = int(input.size()), c = int(p.continuation.size());
  double s = 0;
  for (int r = L - c; r < L; ++r) {
    const float* l = &lg[size_t(r) * V];
    double mx = *std::max_element(l, l + V), se = 0;
    for (int i = 0; i < V; ++i) se += std::exp(l[i] - mx);
    s += l[full[size_t(r + 1)]] - mx - std::log(se);
  }
  return s;
}

TEST(ZeroShot, SharedPrefixMatchesFullForward) {
  Model m = test::make_tiny_model();  // vocab 48, context 64
  const auto ctx = test::random_tokens(20, 48, 7);
  auto cont = [](int n, uint32_t seed) { return test::random_tokens(n, 48, seed); };
  // Same context (PIQA/ARC/HellaSwag), differing contexts (WinoGrande), and a
  // choice that shares the context's first continuation token.
  std::vector<TokenPair> same = {{ctx, cont(3, 1)}, {ctx, cont(6, 2)}, {ctx, cont(1, 3)}};
  same.push_back({ctx, same[1].continuation});
  same[3].continuation.back() = (same[3].continuation.back() + 1) % 48;
  std::vector<int> ctx2 = ctx;
  ctx2[15] = (ctx2[15] + 5) % 48;
  std::vector<TokenPair> diff = {{ctx, cont(4, 4)}, {ctx2, cont(4, 4)}};
  for (int max_len : {64, 22}) {  // 22: every choice cut from the left
    for (const auto* set : {&same, &diff}) {
      std::vector<double> got = score_choices(m, *set, max_len);
      for (size_t i = 0; i < set->size(); ++i)
        EXPECT_NEAR(got[i], reference_loglik(m, (*set)[i], max_len), 1e-4) << "max_len " << max_len << " choice " << i;
    }
  }
  // The request path counts the sharing and the truncation.
  ZeroShotOptions o;
  o.progress = false;
  std::vector<McRequest> reqs = {{same, {1, 1, 1, 1}, 0}};
  McResult r = evaluate_requests(m, reqs, o);
  EXPECT_EQ(r.truncated, 0);
  // The context (20 tokens, no BOS here) but its last token, whose logit
  // scores each first continuation token, runs once instead of four times.
  EXPECT_EQ(r.tokens_unshared - r.tokens_forwarded, 3 * 19);
  o.max_len = 22;  // cut from the left by different amounts: nothing left to share
  r = evaluate_requests(m, reqs, o);
  EXPECT_EQ(r.truncated, 1);
  EXPECT_EQ(r.tokens_forwarded, r.tokens_unshared);
  // A continuation longer than the context: scored in windows from the end,
  // full = ctx(20) + cont(30) = 50 tokens, max_len 22 -> inputs full[27, 49)
  // score full[28, 50), then inputs full[5, 27) score full[20, 28).
  TokenPair long_pair{ctx, cont(30, 9)};
  std::vector<int> full = ctx;
  full.insert(full.end(), long_pair.continuation.begin(), long_pair.continuation.end());
  auto window = [&](int s, int n_scored) {  // inputs full[s, s+22), the last n_scored rows scored
    return reference_loglik(m,
                            {std::vector<int>(full.begin() + s, full.begin() + s + 23 - n_scored),
                             std::vector<int>(full.begin() + s + 23 - n_scored, full.begin() + s + 23)},
                            22);
  };
  EXPECT_NEAR(score_choices(m, std::vector<TokenPair>{long_pair}, 22)[0], window(27, 22) + window(5, 8), 1e-4);
}

TEST(ZeroShot, Stories260kPiqaFromSharedData) {
  SLIM_REQUIRE_SHARED(shared);
  const std::string dir = shared + "/data/tasks";
  if (!std::filesystem::exists(dir + "/piqa_valid.jsonl")) GTEST_SKIP() << "no " << dir << "/piqa_valid.jsonl";
  TaskData t = load_task("piqa", dir);
  ASSERT_EQ(t.examples.size(), 1838u);
  EXPECT_EQ(t.examples[0].context, "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:");
  EXPECT_EQ(t.examples[0].label, 0);
  LoadedModel lm = open_model(shared + "/data/models/stories260K.bin", shared + "/data/models/tok512.bin");
  ZeroShotOptions o;
  o.progress = false;
  o.limit = 16;
  McResult r = evaluate_mc(lm.model, *lm.tokenizer, t.examples, o);
  ASSERT_EQ(r.n, 16);
  EXPECT_GE(r.acc, 0.0);
  EXPECT_LE(r.acc, 1.0);
  // Example 0 against a plain full forward pass of each choice.
  McRequest q = tokenize_example(*lm.tokenizer, t.examples[0], true);
  EXPECT_EQ(q.choices[0].context.front(), 1);  // BOS
  for (size_t i = 0; i < 2; ++i) {
    const double ll = r.examples[0].loglik[i];
    EXPECT_LT(ll, 0);
    EXPECT_NEAR(ll, reference_loglik(lm.model, q.choices[i], 512), 1e-3 * std::abs(ll));
  }
}

}  // namespace
}  // namespace slim
