#pragma once
// The heap settings of a long-running server, and handing freed memory back to the OS.

#include <cstddef>

namespace nimscaler {

/// glibc raises its mmap threshold each time a large block is freed, so after a few /metrics
/// pages of thousands of triggers every large buffer comes from the per-thread arenas and
/// stays there: a server polled once a second grew from 47 to 120 MiB with 2,000 triggers. A
/// fixed threshold keeps blocks of 512 KiB and more in their own mappings, returned when freed
/// (smaller ones are reused from the arenas). Call once at startup, before threads start.
/// No-op off glibc.
void UseFixedMmapThreshold();

/// Hands free heap pages back to the OS once enough has been freed: after many triggers are
/// forgotten, their memory lies free in the arenas, and glibc returns only the top of the main
/// heap by itself. Call Poll() now and then (every few seconds) from one thread.
class FreeMemoryReleaser {
 public:
  /// Trims when the arenas' free bytes have grown by more than `slack` since the last trim.
  explicit FreeMemoryReleaser(size_t slack = size_t{4} << 20) : slack_(slack) {}

  /// Returns whether it trimmed. Cheap when it does not (sums the arenas' free lists); a trim
  /// walks them and releases every free page. `force` trims whatever the free bytes say (the
  /// caller knows much was freed: the free-byte count alone misses frees that merge into an
  /// arena's top). Always false off glibc.
  bool Poll(bool force = false);

 private:
  size_t slack_;
  size_t free_after_trim_ = 0;  // the arenas' free bytes after the last trim (or the lowest since)
};

}  // namespace nimscaler
