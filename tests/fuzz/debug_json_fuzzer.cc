// libFuzzer target for the /debug/scaledobjects writer's string path (issue 19 item 1):
// arbitrary bytes as a pod's endpoint, error, engine, missing text and signal names go
// through PodRecordJson and DumpJson (scaler/http/debug_json.h), and through the text helpers
// those texts pass on the way (Truncate, SanitizeUtf8, Printable). Checked properties:
//   - nothing throws; the dump is valid UTF-8 and parses back with the strict parser;
//   - each string field comes back as SanitizeUtf8(input), which is the input when valid;
//   - IsValidUtf8 agrees with nlohmann's own strict serializer;
//   - Truncate keeps a prefix of at most `max` bytes and never splits a character.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "scaler/common/text.h"
#include "scaler/http/debug_json.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

bool StrictDumpAccepts(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nimscaler;
  FuzzedDataProvider in(data, size);
  signals::PodReading pod;
  pod.endpoint = in.ConsumeRandomLengthString(256);
  pod.error = in.ConsumeRandomLengthString(1024);
  pod.engine = in.ConsumeRandomLengthString(64);
  pod.missing = in.ConsumeRandomLengthString(256);
  pod.answered = in.ConsumeBool();
  pod.stale = in.ConsumeBool();
  size_t signals = in.ConsumeIntegralInRange<size_t>(0, 4);
  for (size_t i = 0; i < signals; ++i) {
    std::string name = in.ConsumeRandomLengthString(64);
    pod.gauges[name] = in.ConsumeFloatingPoint<double>();
  }
  size_t max = in.ConsumeIntegralInRange<size_t>(0, 300);
  std::string rest = in.ConsumeRemainingBytesAsString();

  // The writer.
  std::string text = http::DumpJson(http::PodRecordJson(pod), in.ConsumeBool() ? 2 : -1);
  Check(IsValidUtf8(text));
  nlohmann::json back = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  Check(!back.is_discarded() && back.is_object());
  Check(back["endpoint"] == SanitizeUtf8(pod.endpoint));
  Check(back["engine"] == SanitizeUtf8(pod.engine));
  Check(pod.error.empty() ? !back.contains("error") : back["error"] == SanitizeUtf8(pod.error));
  Check(back["signals"].size() <= pod.gauges.size());

  // The helpers, on the free-form bytes.
  bool valid = IsValidUtf8(rest);
  Check(valid == StrictDumpAccepts(rest));
  std::string clean = SanitizeUtf8(rest);
  Check(IsValidUtf8(clean));
  if (valid) Check(clean == rest);
  std::string no_controls = SanitizeUtf8(rest, true);
  Check(IsValidUtf8(no_controls));
  for (char c : no_controls) Check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F);
  Check(IsValidUtf8(Printable(rest, max)));
  std::string cut = Truncate(rest, max);
  if (rest.size() <= max) {
    Check(cut == rest);
  } else {
    Check(cut.size() >= 3 && cut.compare(cut.size() - 3, 3, "...") == 0);
    std::string kept = cut.substr(0, cut.size() - 3);
    Check(kept.size() <= max && kept.size() + 3 >= max);
    Check(rest.compare(0, kept.size(), kept) == 0);
    if (valid) Check(IsValidUtf8(kept));
  }
  // A dump with raw invalid bytes (not sanitized first) must not throw either.
  nlohmann::json raw = {{"raw", rest}, {rest, 1}};
  Check(IsValidUtf8(http::DumpJson(raw, -1)));
  return 0;
}
