#pragma once
// The version string reported by `nim-scaler version` and nimscaler_build_info: the top-level
// CMakeLists.txt's project(VERSION), passed in by scaler/common/CMakeLists.txt.

#ifndef NIMSCALER_VERSION
#error "NIMSCALER_VERSION is set by scaler/common/CMakeLists.txt; link nimscaler::common"
#endif

namespace nimscaler {
inline constexpr const char* kVersion = NIMSCALER_VERSION;
}  // namespace nimscaler
