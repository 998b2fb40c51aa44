// Exports MetricNameMatches().
#include "scaler/service/naming.h"

#include <cctype>

namespace nimscaler::service {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// "s12-name" -> "name"; anything else unchanged.
std::string_view StripTriggerIndex(std::string_view n) {
  if (n.size() < 3 || (n[0] != 's' && n[0] != 'S')) return n;
  size_t i = 1;
  while (i < n.size() && std::isdigit(static_cast<unsigned char>(n[i]))) ++i;
  if (i == 1 || i >= n.size() || n[i] != '-') return n;
  return n.substr(i + 1);
}

}  // namespace

bool MetricNameMatches(std::string_view requested, std::string_view ours) {
  if (EqualsIgnoreCase(requested, ours)) return true;
  return EqualsIgnoreCase(StripTriggerIndex(requested), ours);
}

}  // namespace nimscaler::service
