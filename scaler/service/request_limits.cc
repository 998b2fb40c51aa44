// Exports CheckNamespace(), CheckName(), CapErrorText(), FiniteMetricValue(), MetricValueInt().
#include "scaler/service/request_limits.h"

#include <cmath>

namespace nimscaler::service {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// A DNS-1123 label without the length rule: [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool IsLabel(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

// A short, printable prefix of a refused value for the error text.
std::string Shown(std::string_view v) {
  constexpr size_t kShown = 40;
  std::string out;
  for (size_t i = 0; i < v.size() && i < kShown; ++i) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    out += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? static_cast<char>(c) : '?';
  }
  if (v.size() > kShown) out += "...";
  return "\"" + out + "\"";
}

}  // namespace

std::optional<std::string> CheckNamespace(std::string_view ns) {
  if (ns.size() <= kMaxNamespaceLength && IsLabel(ns)) return std::nullopt;
  return "ScaledObjectRef.namespace " + Shown(ns) + " (" + std::to_string(ns.size()) +
         " bytes) is not a Kubernetes namespace: it must be a DNS-1123 label of 1-" +
         std::to_string(kMaxNamespaceLength) + " characters [a-z0-9-], starting and ending with a letter or digit";
}

std::optional<std::string> CheckName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxNameLength;
  for (size_t start = 0; ok;) {
    size_t dot = name.find('.', start);
    ok = IsLabel(name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (ok) return std::nullopt;
  return "ScaledObjectRef.name " + Shown(name) + " (" + std::to_string(name.size()) +
         " bytes) is not a Kubernetes object name: it must be a DNS-1123 subdomain of 1-" +
         std::to_string(kMaxNameLength) +
         " characters [a-z0-9-.], each dot-separated part starting and ending with a letter or digit";
}

std::string CapErrorText(std::string text, size_t limit) {
  if (text.size() <= limit) return text;
  // The suffix names how much was cut; its length depends on that number, so reserve room
  // for the longest (20 digits).
  const size_t reserve = std::string("... ( bytes cut)").size() + 20;
  size_t keep = limit > reserve ? limit - reserve : 0;
  // Do not end inside a UTF-8 sequence: back up over continuation bytes (10xxxxxx) and the
  // lead byte they belong to.
  if (keep < text.size() && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80) {
    while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80) --keep;
  }
  size_t cut = text.size() - keep;
  text.resize(keep);
  text += "... (" + std::to_string(cut) + " bytes cut)";
  return text;
}

double FiniteMetricValue(double v) {
  if (std::isnan(v) || v <= 0) return 0;
  if (v >= kMaxMetricValue) return kMaxMetricValue;  // also +Inf
  return v;
}

int64_t MetricValueInt(double v) {
  // FiniteMetricValue is in [0, 2^53], so its ceil converts to int64 exactly.
  return static_cast<int64_t>(std::ceil(FiniteMetricValue(v)));
}

}  // namespace nimscaler::service
