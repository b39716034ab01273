// The BPE merge loop shared by the llama2.c tokenizer (merge the pair whose
// concatenation has the highest score) and the HF tokenizer (merge the pair of
// lowest rank): repeatedly merge the best adjacent pair, leftmost on ties.
// O(n log n): symbols form a doubly linked list over positions; candidate
// pairs sit in a heap and are re-validated when popped (stale ones skipped).
#pragma once
#include <optional>
#include <queue>
#include <vector>

namespace slim {

struct BpeMerge {
  double priority;  // higher merges first
  int merged_id;
};

// lookup(left_id, right_id) -> std::optional<BpeMerge>; nullopt when the pair
// does not merge.
template <typename Lookup>
void bpe_merge(std::vector<int>& ids, Lookup&& lookup) {
  const int n = static_cast<int>(ids.size());
  if (n < 2) return;
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Cand {
    double priority;
    int left, right, left_id, right_id, merged_id;
  };
  auto worse = [](const Cand& a, const Cand& b) {
    return a.priority != b.priority ? a.priority < b.priority : a.left > b.left;
  };
  std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> heap(worse);
  auto consider = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    if (std::optional<BpeMerge> m = lookup(ids[l], ids[r]))
      heap.push({m->priority, l, r, ids[l], ids[r], m->merged_id});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i, i + 1);
  std::vector<char> alive(n, 1);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    // Stale if either side was merged away or changed since the push.
    if (!alive[c.left] || !alive[c.right] || next[c.left] != c.right || ids[c.left] != c.left_id ||
        ids[c.right] != c.right_id)
      continue;
    ids[c.left] = c.merged_id;
    alive[c.right] = 0;
    next[c.left] = next[c.right];
    if (next[c.left] >= 0) prev[next[c.left]] = c.left;
    consider(prev[c.left], c.left);
    consider(c.left, next[c.left]);
  }
  std::vector<int> out;
  out.reserve(n);
  for (int i = 0; i >= 0; i = next[i]) out.push_back(ids[i]);
  ids.swap(out);
}

}  // namespace slim
