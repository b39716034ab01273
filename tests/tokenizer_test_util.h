// Helpers shared by the tokenizer tests (tokenizer_test.cc,
// tokenizer_normalize_test.cc): writing the generated files, GPT-2's byte
// characters.
#pragma once
#include <fstream>
#include <string>

namespace slim::test {

// Writes `s` to `path` byte for byte.
inline void put(const std::string& path, const std::string& s) {
  std::ofstream(path, std::ios::binary) << s;
}

// GPT-2 bytes_to_unicode(), written out independently of the library.
inline std::string byte_char(int b) {
  auto printable = [](int c) {
    return (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174;
  };
  int cp = b;
  if (!printable(b)) {
    cp = 256;
    for (int k = 0; k < b; ++k) cp += !printable(k);
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

}  // namespace slim::test
