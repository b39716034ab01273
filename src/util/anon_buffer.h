// A large scratch buffer in an anonymous mapping of its own, whose pages can
// be handed back to the kernel before the buffer is freed (release). For work
// matrices that are consumed front to back while their result is built: the
// result then grows into the memory the consumed part gave back instead of
// sitting beside all of it (the GPTQ factorisation's fp64 U and its fp32 copy).
#pragma once
#include <cstddef>
#include <string>

namespace slim {

class AnonBuffer {
 public:
  AnonBuffer() = default;
  // `bytes` of zero pages, touched only as they are written (huge pages
  // advised: advise_huge_pages). `what` names the buffer in the error when
  // the mapping fails.
  AnonBuffer(size_t bytes, const std::string& what);
  ~AnonBuffer();
  AnonBuffer(AnonBuffer&& o) noexcept;
  AnonBuffer& operator=(AnonBuffer&& o) noexcept;
  AnonBuffer(const AnonBuffer&) = delete;
  AnonBuffer& operator=(const AnonBuffer&) = delete;

  template <class T>
  T* as() { return static_cast<T*>(data_); }
  size_t size() const { return size_; }

  // Gives back the whole pages before byte `end` (the consumed front): they
  // read as zeros afterwards and no longer count as resident. The page that
  // holds `end` stays until a later call passes it. Calls are cheap when
  // `end` grows a little at a time (only the new pages are walked).
  void release_front(size_t end);

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
  size_t released_ = 0;  // bytes at the front already given back (a page multiple)
};

}  // namespace slim
