// Exports MakeBackgroundThread().
#include "scaler/common/thread_priority.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace nimscaler {

Status MakeBackgroundThread(const std::string& name, int increment) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
  // On Linux, PRIO_PROCESS with a thread id sets that thread's niceness alone.
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  int now = getpriority(PRIO_PROCESS, tid);
  if (now == -1 && errno != 0) return Internal(std::string("getpriority: ") + std::strerror(errno));
  if (setpriority(PRIO_PROCESS, tid, std::min(19, now + increment)) != 0) {
    return Internal(std::string("setpriority: ") + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace nimscaler
