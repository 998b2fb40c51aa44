#pragma once
// Server credentials for the KEDA gRPC port: plaintext (h2c), TLS, or mutual TLS, with the
// certificate files re-read while the server runs so a rotated Secret takes effect without a
// restart (product.md §6).

#include <grpcpp/security/server_credentials.h>

#include <chrono>
#include <memory>

#include "scaler/common/result.h"
#include "scaler/config/app_config.h"

namespace nimscaler::app {

/// How often the certificate files are checked for changes. A rotation (a Secret volume's
/// atomic symlink swap, or a rename into place) reaches new handshakes within this period;
/// connections already open keep the certificate they were made with.
inline constexpr std::chrono::seconds kTlsRefreshInterval{2};

/// Insecure credentials when --tls-cert is unset. Otherwise TLS 1.2 or newer (gRPC's own
/// minimum; ALPN h2 is negotiated by gRPC) with --tls-cert/--tls-key as the server identity,
/// and, when --tls-client-ca is set, a client certificate that chains to that bundle is
/// required. The files must be readable PEM at startup (INVALID_ARGUMENT naming the flag
/// otherwise); later they are re-read every kTlsRefreshInterval, and a file that is briefly
/// missing or unreadable keeps the last good credentials.
Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const config::AppConfig& config);

}  // namespace nimscaler::app
