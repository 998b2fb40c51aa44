#pragma once
// SpecBuilders: resolves triggers that are not cached yet on a few threads of their own, so the
// gRPC port's one thread (async_calls.h) never builds a spec (issue 19 item 9: one caller
// sending 10,000 unknown keys made every other caller wait ~260 ms a call).
//
// Requests for the same (namespace, name, metadata) waiting at once are built once and all
// answered from that build. The queue is bounded: when full, the request is answered at once
// with UNAVAILABLE (KEDA asks again on its next poll).

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "scaler/config/metadata_reader.h"
#include "scaler/engine/tracked_object.h"

namespace nimscaler::service {

/// Thread-safe.
class SpecBuilders {
 public:
  using Answer = Result<std::shared_ptr<engine::TrackedObject>>;
  using Done = std::function<void(const Answer&)>;
  /// Builds (slow): ScalerEngine::Resolve or a test's stand-in.
  using BuildFn = std::function<Answer(const std::string& ns, const std::string& name, const config::Metadata& md)>;

  SpecBuilders(BuildFn build, size_t threads, size_t max_queued);
  ~SpecBuilders();
  SpecBuilders(const SpecBuilders&) = delete;
  SpecBuilders& operator=(const SpecBuilders&) = delete;

  /// Calls `done` once with the answer, on a builder thread; or at once on this thread with
  /// UNAVAILABLE when the queue is full or the builders are stopped. `done` must not block long.
  void Submit(std::string ns, std::string name, config::Metadata md, Done done);

  /// Requests still queued are answered UNAVAILABLE ("shutting down"); builds running finish
  /// and are answered; later Submit()s are answered at once. Idempotent.
  void Stop();

  /// Distinct triggers queued or being built (for tests and /metrics).
  size_t pending() const;

 private:
  using Key = std::tuple<std::string, std::string, config::Metadata>;
  void Run();

  const BuildFn build_;
  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<Key, std::vector<Done>> waiting_;  // queued or being built, with everyone to answer
  std::deque<const Key*> queue_;              // not started yet (keys of waiting_)
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace nimscaler::service
