// common/large_table.h: memory for large tables probed at random (hash indexes, caches).
//
// Each probe of a table of many megabytes is a cache miss, and with 4 KiB pages a TLB miss as well (a page
// walk, itself a few more misses). Asking the kernel for 2 MiB pages (transparent huge pages, which Debian's
// default "madvise" mode gives only to memory that asks) takes most of the TLB misses away: in the key store a
// new applicant probes such tables six times. Where huge pages are off, this is ordinary aligned memory.
//
//   std::vector<Slot, LargeTableAllocator<Slot>> slots;
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace otinish {

template <typename T>
struct LargeTableAllocator {
  using value_type = T;
  static constexpr std::size_t kHugePage = std::size_t{2} << 20;

  LargeTableAllocator() noexcept = default;
  template <typename U>
  LargeTableAllocator(const LargeTableAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    // aligned_alloc wants a size that is a multiple of the alignment.
    const std::size_t align = bytes < kHugePage ? std::max(alignof(std::max_align_t), alignof(T)) : kHugePage;
    const std::size_t rounded = round_up(bytes, align);
    void* p = std::aligned_alloc(align, rounded);
    if (!p) throw std::bad_alloc();
    if (align == kHugePage) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: without huge pages it still works
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept { std::free(p); }

  template <typename U>
  bool operator==(const LargeTableAllocator<U>&) const noexcept { return true; }

 private:
  static std::size_t round_up(std::size_t n, std::size_t to) { return n == 0 ? to : (n + to - 1) / to * to; }
};

}  // namespace otinish
