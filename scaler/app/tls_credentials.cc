// Exports MakeServerCredentials(): plaintext, TLS or mTLS credentials whose files are watched.
#include "scaler/app/tls_credentials.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <fstream>
#include <sstream>
#include <string>

#include "scaler/telemetry/logging.h"

namespace nimscaler::app {
namespace {

// Reads `path` and checks it holds at least one PEM block whose label contains `label`
// ("CERTIFICATE" or "PRIVATE KEY"), so a wrong or empty file fails at startup, naming the
// flag, rather than at the first handshake.
Status CheckPemFile(const std::string& path, const char* flag, const char* label) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(std::string(flag) + ": cannot read \"" + path + "\"");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  size_t begin = text.find("-----BEGIN ");
  while (begin != std::string::npos) {
    size_t end = text.find("-----", begin + 11);
    if (end == std::string::npos) break;
    if (text.substr(begin + 11, end - begin - 11).find(label) != std::string::npos) return Status::Ok();
    begin = text.find("-----BEGIN ", end + 5);
  }
  return InvalidArgument(std::string(flag) + ": \"" + path + "\" holds no PEM " + label + " block");
}

}  // namespace

Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const config::AppConfig& c) {
  if (c.tls_cert.empty()) return grpc::InsecureServerCredentials();
  if (c.tls_key.empty()) return InvalidArgument("--tls-cert needs --tls-key");
  if (Status s = CheckPemFile(c.tls_cert, "--tls-cert", "CERTIFICATE"); !s.ok()) return s;
  if (Status s = CheckPemFile(c.tls_key, "--tls-key", "PRIVATE KEY"); !s.ok()) return s;
  const bool mutual = !c.tls_client_ca.empty();
  if (mutual) {
    if (Status s = CheckPemFile(c.tls_client_ca, "--tls-client-ca", "CERTIFICATE"); !s.ok()) return s;
  }

  // gRPC's file watcher re-reads the files every interval and pushes changed credentials to
  // new handshakes; it keeps the last good ones while a file cannot be read. An empty root
  // path means "no client CA".
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      c.tls_key, c.tls_cert, mutual ? c.tls_client_ca : std::string(),
      static_cast<unsigned int>(kTlsRefreshInterval.count()));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (mutual) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  // Protocol versions: gRPC 1.51 has no C++ setter for them; its TLS credentials default to
  // a minimum of TLS 1.2 and a maximum of TLS 1.3, which is what KEDA needs (its client's
  // minimum is 1.2). The conformance suite checks that TLS 1.1 is refused.
  auto creds = grpc::experimental::TlsServerCredentials(options);
  if (!creds) return Internal("cannot create TLS server credentials");
  telemetry::Logger("app")->info("TLS: {} from {} and {}{}; files re-read every {}s",
                                 mutual ? "mutual TLS" : "TLS", c.tls_cert, c.tls_key,
                                 mutual ? ", client CA " + c.tls_client_ca : std::string(),
                                 kTlsRefreshInterval.count());
  return creds;
}

}  // namespace nimscaler::app
