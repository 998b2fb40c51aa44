// Exports UseFixedMmapThreshold and FreeMemoryReleaser.
#include "scaler/common/allocator.h"

#include <algorithm>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace nimscaler {

void UseFixedMmapThreshold() {
#if defined(__GLIBC__)
  // Setting it turns the dynamic adjustment off. Above libcurl's 256 KiB receive buffer, which
  // it allocates and frees around every transfer (scaler/net/curl_http_client.cc): at 128 KiB
  // each scrape paid an mmap and munmap, twice the collection CPU.
  mallopt(M_MMAP_THRESHOLD, 512 * 1024);
#endif
}

bool FreeMemoryReleaser::Poll(bool force) {
#if defined(__GLIBC__)
  // Trimmed pages stay in the free lists (only their memory is returned), so free bytes that
  // grow past the last trim's level are newly freed memory.
  size_t free_bytes = mallinfo2().fordblks;
  free_after_trim_ = std::min(free_after_trim_, free_bytes);
  if (!force && free_bytes - free_after_trim_ <= slack_) return false;
  malloc_trim(0);
  free_after_trim_ = mallinfo2().fordblks;
  return true;
#else
  (void)force;
  return false;
#endif
}

}  // namespace nimscaler
