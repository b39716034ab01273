#include "util/anon_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <utility>

#include "util/error.h"
#include "util/huge_pages.h"

namespace slim {

AnonBuffer::AnonBuffer(size_t bytes, const std::string& what) {
  if (bytes == 0) return;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  SLIM_CHECK(p != MAP_FAILED, "{}: cannot map {} bytes", what, bytes);
  data_ = p;
  size_ = bytes;
  advise_huge_pages(p, bytes);
}

AnonBuffer::~AnonBuffer() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

AnonBuffer::AnonBuffer(AnonBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), released_(std::exchange(o.released_, 0)) {}

AnonBuffer& AnonBuffer::operator=(AnonBuffer&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    released_ = std::exchange(o.released_, 0);
  }
  return *this;
}

void AnonBuffer::release_front(size_t end) {
  SLIM_CHECK(end <= size_, "internal: release of the first {} bytes of a {}-byte buffer", end, size_);
  const size_t page = size_t(::sysconf(_SC_PAGESIZE));
  const size_t last = end / page * page;
  if (last <= released_) return;
  // Advice on our own private anonymous pages: they become zero-fill again.
  // A failure leaves them resident, which changes no result. No huge pages
  // there any more: khugepaged may otherwise fill a released 2 MiB range back
  // in whole (it collapses ranges with up to 511 of 512 pages missing).
  char* from = static_cast<char*>(data_) + released_;
  ::madvise(from, last - released_, MADV_NOHUGEPAGE);
  ::madvise(from, last - released_, MADV_DONTNEED);
  released_ = last;
}

}  // namespace slim
