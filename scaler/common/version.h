#pragma once
// The version string reported by `nim-scaler version` and nimscaler_build_info.

namespace nimscaler {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace nimscaler
