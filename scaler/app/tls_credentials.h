#pragma once
// Server credentials for the KEDA gRPC port: plaintext (h2c), TLS, or mutual TLS, with the
// certificate files re-read while the server runs so a rotated Secret takes effect without a
// restart (docs/install.md "TLS and mTLS").
//
// gRPC never reads the configured files itself. A CertificateReloader reads them, checks them
// with OpenSSL (every PEM block parses, the key matches the certificate) and only then copies
// them into a private directory that gRPC's file watcher reads. A file emptied in place, a
// half-written file, garbage, or a key that does not match its certificate therefore never
// reaches gRPC: the last good pair keeps being served and the problem is logged once.

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "scaler/common/result.h"
#include "scaler/config/app_config.h"

namespace nimscaler::app {

/// How often the configured certificate files are checked for changes. A rotation (a Secret
/// volume's atomic symlink swap, or a rename into place) reaches new handshakes within this
/// period plus kGrpcCopyInterval; connections already open keep the certificate they were
/// made with.
inline constexpr std::chrono::seconds kTlsRefreshInterval{2};
/// How often gRPC re-reads the validated copies.
inline constexpr unsigned int kGrpcCopyIntervalSeconds = 1;

/// The configured files: --tls-cert, --tls-key, (mutual TLS) --tls-client-ca and (HA) the
/// bundle that checks the other replicas' certificates (PeerCaFile()).
struct TlsFiles {
  std::string cert;
  std::string key;
  std::string client_ca;  ///< empty: no client certificate required
  std::string peer_ca;    ///< empty: no peers to check
};

/// The PEM text of a checked set of files.
struct TlsMaterial {
  std::string cert;
  std::string key;
  std::string client_ca;
  std::string peer_ca;
  bool operator==(const TlsMaterial&) const = default;
};

/// Reads the files (each at most 1 MiB) without checking them.
Result<TlsMaterial> ReadTlsFiles(const TlsFiles& files);

/// Checks material read from `files` (used only to name them): the certificate file holds at
/// least one PEM certificate and every certificate in it parses; the key file holds a PEM
/// private key that parses without a passphrase; the key matches the first certificate; the
/// client CA file, when configured, holds at least one certificate and every one parses.
/// INVALID_ARGUMENT names the flag, the file and what is wrong.
Status ValidateTlsMaterial(const TlsFiles& files, const TlsMaterial& material);

/// Keeps validated copies of the configured files in a private directory (mode 0700 under
/// $TMPDIR or /tmp) for gRPC's file watcher, re-reading the originals every interval.
///
/// Layout: <dir>/gen-<n>/{tls.crt,tls.key,ca.crt} and <dir>/current -> gen-<n>, swapped by an
/// atomic rename; every generation's files get a modification time later than the previous
/// generation's, so gRPC's own before/after modification-time check retries a read that
/// straddles a swap, and it never combines a key of one generation with a certificate of
/// another.
class CertificateReloader {
 public:
  /// Reads and checks the files (INVALID_ARGUMENT naming the flag and file otherwise), writes
  /// the first generation and starts the reload thread. `tmp_root` empty: $TMPDIR or /tmp.
  static Result<std::unique_ptr<CertificateReloader>> Start(TlsFiles files,
                                                            std::chrono::milliseconds interval = kTlsRefreshInterval,
                                                            std::string tmp_root = "");
  /// Stops the thread and removes the private directory.
  ~CertificateReloader();
  CertificateReloader(const CertificateReloader&) = delete;
  CertificateReloader& operator=(const CertificateReloader&) = delete;

  /// One pass (the thread runs one every interval): unchanged files do nothing; changed files
  /// that pass ValidateTlsMaterial() become the next generation; changed files that do not are
  /// refused, the last good ones stay, and the error is returned (and logged as a warning once
  /// per distinct error).
  Status ReloadNow();

  /// The copies gRPC reads.
  std::string cert_path() const { return dir_ + "/current/tls.crt"; }
  std::string key_path() const { return dir_ + "/current/tls.key"; }
  std::string client_ca_path() const { return files_.client_ca.empty() ? "" : dir_ + "/current/ca.crt"; }
  std::string peer_ca_path() const { return files_.peer_ca.empty() ? "" : dir_ + "/current/peer-ca.crt"; }
  const std::string& dir() const { return dir_; }

  /// The outcome of the last pass: ok, or why the files on disk are not being served.
  Status last_status() const;
  /// Generations written after the first, and refused changes.
  uint64_t reloads() const { return reloads_.load(); }
  uint64_t refused() const { return refused_.load(); }

 private:
  CertificateReloader(TlsFiles files, std::string dir, std::chrono::milliseconds interval);
  Status WriteGeneration(const TlsMaterial& material);
  void Loop();

  const TlsFiles files_;
  const std::string dir_;
  const std::chrono::milliseconds interval_;

  // Serializes passes (the thread's, and ReloadNow() from a test); only passes take it, so
  // holding it across their local file I/O blocks nobody else. Guards the fields below.
  std::mutex pass_mu_;
  TlsMaterial served_;            // what gRPC's copies hold
  TlsMaterial refused_material_;  // the last refused content, not re-checked until it changes
  bool has_refused_ = false;
  Status pass_status_;       // the last pass's outcome, for the pass itself
  std::string last_warned_;  // the last error logged, so each distinct error is logged once
  uint64_t generation_ = 0;
  std::time_t last_mtime_ = 0;

  mutable std::mutex status_mu_;  // guards last_status_ only; never held across I/O
  Status last_status_;

  std::atomic<uint64_t> reloads_{0}, refused_{0};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

/// Insecure credentials when --tls-cert is unset. Otherwise TLS 1.2 or newer (gRPC's own
/// minimum; ALPN h2 is negotiated by gRPC) with --tls-cert/--tls-key as the server identity,
/// and, when --tls-client-ca is set, a client certificate that chains to that bundle is
/// required. The files must pass ValidateTlsMaterial() at startup (INVALID_ARGUMENT naming the
/// flag, the file and the problem otherwise); later changes are taken by a CertificateReloader,
/// stored in `*reloader`, which must outlive the server.
Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const config::AppConfig& config,
                                                                       std::unique_ptr<CertificateReloader>* reloader);

/// HA with TLS: the file that checks the other replicas' serving certificates: --peer-tls-ca,
/// else --tls-client-ca, else --tls-cert itself (gRPC then accepts exactly that certificate,
/// so every replica must present the same one).
/// Empty without TLS or without --peers-service.
std::string PeerCaFile(const config::AppConfig& config);

/// How this replica calls its peers: plaintext without TLS (`reloader` null); otherwise TLS
/// that checks the peer's certificate against the reloader's copy of PeerCaFile() and presents
/// this replica's own certificate (for peers that require mTLS). Both are read from the
/// reloader's checked copies and re-read as they rotate, like the server's.
std::shared_ptr<grpc::ChannelCredentials> MakePeerChannelCredentials(const CertificateReloader* reloader);

}  // namespace nimscaler::app
