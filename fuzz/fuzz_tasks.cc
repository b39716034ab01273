// libFuzzer target: every zero-shot task reader on the same bytes (their formats differ,
// so one input exercises each reader's own error paths).
#include "fuzz_util.h"
#include "io/tasks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = slim_fuzz::write_input("task.jsonl", data, size);
  using Reader = std::vector<slim::McExample> (*)(const std::string&);
  static const Reader readers[] = {slim::read_arc, slim::read_boolq, slim::read_hellaswag, slim::read_winogrande};
  for (Reader r : readers) slim_fuzz::expect_ok_or_error([&] { (void)r(path); });
  slim_fuzz::expect_ok_or_error([&] { (void)slim::read_piqa(path, ""); });
  return 0;
}
