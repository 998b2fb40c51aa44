// Exports MakeServerCredentials(), CertificateReloader, ReadTlsFiles() and
// ValidateTlsMaterial(): plaintext, TLS or mTLS credentials fed only with checked files.
#include "scaler/app/tls_credentials.h"

#include <fcntl.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "scaler/telemetry/logging.h"

namespace nimscaler::app {
namespace {

constexpr size_t kMaxPemFileBytes = 1u << 20;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string Name(const char* flag, const std::string& path) { return std::string(flag) + " \"" + path + "\""; }

// OpenSSL's reason for the last error on this thread ("bad base64 decode"), and a clean queue.
std::string TakeOpenSslReason() {
  unsigned long e = ERR_peek_last_error();
  const char* reason = e != 0 ? ERR_reason_error_string(e) : nullptr;
  std::string out = reason != nullptr ? reason : "unknown error";
  ERR_clear_error();
  return out;
}

bool IsEndOfPem(unsigned long e) { return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE; }

// Never prompts: an encrypted key fails instead of asking a terminal for a passphrase.
int NoPassphrase(char*, int, int, void*) { return -1; }

// True when `text` has a "-----BEGIN <label>-----" line whose label contains `label`.
bool HasPemBlock(const std::string& text, const char* label) {
  for (size_t begin = text.find("-----BEGIN "); begin != std::string::npos;
       begin = text.find("-----BEGIN ", begin + 11)) {
    size_t end = text.find("-----", begin + 11);
    if (end == std::string::npos) return false;
    if (text.compare(begin + 11, end - begin - 11, label) == 0 ||
        text.substr(begin + 11, end - begin - 11).find(label) != std::string::npos) {
      return true;
    }
  }
  return false;
}

BioPtr MemBio(const std::string& text) { return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size()))); }

// Every PEM certificate of `pem`, or an error naming the flag and file.
Result<std::vector<X509Ptr>> ParseCertificates(const std::string& pem, const char* flag, const std::string& path) {
  ERR_clear_error();
  if (pem.empty()) return InvalidArgument(Name(flag, path) + " is empty");
  BioPtr bio = MemBio(pem);
  if (!bio) return Internal("out of memory reading " + Name(flag, path));
  std::vector<X509Ptr> certs;
  while (true) {
    X509* x = PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr);
    if (x == nullptr) {
      if (IsEndOfPem(ERR_peek_last_error())) {
        ERR_clear_error();
        break;
      }
      return InvalidArgument(Name(flag, path) + ": certificate " + std::to_string(certs.size() + 1) +
                             " does not parse (" + TakeOpenSslReason() + ")");
    }
    certs.emplace_back(x);
  }
  if (certs.empty()) return InvalidArgument(Name(flag, path) + " holds no PEM certificate");
  return certs;
}

}  // namespace

Result<TlsMaterial> ReadTlsFiles(const TlsFiles& files) {
  auto read_file = [](const char* flag, const std::string& path, std::string* out) -> Status {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return InvalidArgument(Name(flag, path) + ": cannot read: " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      close(fd);
      return InvalidArgument(Name(flag, path) + " is not a regular file");
    }
    out->clear();
    char buf[16384];
    while (true) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        close(fd);
        return InvalidArgument(Name(flag, path) + ": cannot read: " + std::strerror(err));
      }
      if (n == 0) break;
      out->append(buf, static_cast<size_t>(n));
      if (out->size() > kMaxPemFileBytes) {
        close(fd);
        return InvalidArgument(Name(flag, path) + " is larger than " + std::to_string(kMaxPemFileBytes) + " bytes");
      }
    }
    close(fd);
    return Status::Ok();
  };
  TlsMaterial m;
  if (Status s = read_file("--tls-cert", files.cert, &m.cert); !s.ok()) return s;
  if (Status s = read_file("--tls-key", files.key, &m.key); !s.ok()) return s;
  if (!files.client_ca.empty()) {
    if (Status s = read_file("--tls-client-ca", files.client_ca, &m.client_ca); !s.ok()) return s;
  }
  if (!files.peer_ca.empty()) {
    if (Status s = read_file("--peer-tls-ca", files.peer_ca, &m.peer_ca); !s.ok()) return s;
  }
  return m;
}

Status ValidateTlsMaterial(const TlsFiles& files, const TlsMaterial& m) {
  auto certs = ParseCertificates(m.cert, "--tls-cert", files.cert);
  if (!certs.ok()) return certs.status();

  ERR_clear_error();
  if (m.key.empty()) return InvalidArgument(Name("--tls-key", files.key) + " is empty");
  if (!HasPemBlock(m.key, "PRIVATE KEY")) {
    return InvalidArgument(Name("--tls-key", files.key) + " holds no PEM private key");
  }
  BioPtr bio = MemBio(m.key);
  if (!bio) return Internal("out of memory reading " + Name("--tls-key", files.key));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) {
    if (IsEndOfPem(ERR_peek_last_error())) {
      ERR_clear_error();
      return InvalidArgument(Name("--tls-key", files.key) + " holds no PEM private key");
    }
    std::string why = TakeOpenSslReason();
    if (m.key.find("ENCRYPTED") != std::string::npos) {
      return InvalidArgument(Name("--tls-key", files.key) + " is encrypted; a key with a passphrase is not supported");
    }
    return InvalidArgument(Name("--tls-key", files.key) + ": the private key does not parse (" + why + ")");
  }
  if (X509_check_private_key(certs->front().get(), key.get()) != 1) {
    ERR_clear_error();
    return InvalidArgument(Name("--tls-key", files.key) + " does not match the certificate in " +
                           Name("--tls-cert", files.cert) + " (a key and certificate from different pairs)");
  }
  if (!files.client_ca.empty()) {
    auto ca = ParseCertificates(m.client_ca, "--tls-client-ca", files.client_ca);
    if (!ca.ok()) return ca.status();
  }
  if (!files.peer_ca.empty()) {
    auto ca = ParseCertificates(m.peer_ca, "--peer-tls-ca", files.peer_ca);
    if (!ca.ok()) return ca.status();
  }
  ERR_clear_error();
  return Status::Ok();
}

// --- CertificateReloader -------------------------------------------------------------------

namespace {

Status WriteFileWithMtime(const std::string& path, const std::string& data, std::time_t mtime) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Internal("cannot create " + path + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      close(fd);
      return Internal("cannot write " + path + ": " + std::strerror(err));
    }
    off += static_cast<size_t>(n);
  }
  timespec times[2] = {{mtime, 0}, {mtime, 0}};
  bool ok = futimens(fd, times) == 0;
  int err = errno;
  if (close(fd) != 0 || !ok) return Internal("cannot finish " + path + ": " + std::strerror(err));
  return Status::Ok();
}

}  // namespace

CertificateReloader::CertificateReloader(TlsFiles files, std::string dir, std::chrono::milliseconds interval)
    : files_(std::move(files)), dir_(std::move(dir)), interval_(interval) {}

Result<std::unique_ptr<CertificateReloader>> CertificateReloader::Start(TlsFiles files,
                                                                        std::chrono::milliseconds interval,
                                                                        std::string tmp_root) {
  auto material = ReadTlsFiles(files);
  if (!material.ok()) return material.status();
  if (Status s = ValidateTlsMaterial(files, *material); !s.ok()) return s;
  if (tmp_root.empty()) {
    const char* env = std::getenv("TMPDIR");
    tmp_root = env != nullptr && *env != '\0' ? env : "/tmp";
  }
  std::string tmpl = tmp_root + "/nim-scaler-tls-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    return InvalidArgument("TLS: cannot create a private directory under " + tmp_root + " for the checked copies " +
                           "of the certificate files: " + std::strerror(errno));
  }
  std::unique_ptr<CertificateReloader> r(new CertificateReloader(std::move(files), buf.data(), interval));
  {
    std::lock_guard lock(r->pass_mu_);
    if (Status s = r->WriteGeneration(*material); !s.ok()) return s;  // the destructor removes the directory
    r->served_ = std::move(material).value();
  }
  r->thread_ = std::thread([p = r.get()] { p->Loop(); });
  return r;
}

CertificateReloader::~CertificateReloader() {
  {
    std::lock_guard lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

Status CertificateReloader::WriteGeneration(const TlsMaterial& m) {
  const uint64_t gen = generation_ + 1;
  const std::string name = "gen-" + std::to_string(gen);
  const std::string gdir = dir_ + "/" + name;
  std::error_code ec;
  std::filesystem::remove_all(gdir, ec);  // a leftover of a failed attempt
  if (mkdir(gdir.c_str(), 0700) != 0) return Internal("cannot create " + gdir + ": " + std::strerror(errno));
  // Strictly later than every earlier generation, even within one second (see the header).
  const std::time_t mtime = std::max(std::time(nullptr), last_mtime_ + 1);
  if (Status s = WriteFileWithMtime(gdir + "/tls.key", m.key, mtime); !s.ok()) return s;
  if (Status s = WriteFileWithMtime(gdir + "/tls.crt", m.cert, mtime); !s.ok()) return s;
  if (!files_.client_ca.empty()) {
    if (Status s = WriteFileWithMtime(gdir + "/ca.crt", m.client_ca, mtime); !s.ok()) return s;
  }
  if (!files_.peer_ca.empty()) {
    if (Status s = WriteFileWithMtime(gdir + "/peer-ca.crt", m.peer_ca, mtime); !s.ok()) return s;
  }
  const std::string tmp_link = dir_ + "/current.tmp";
  unlink(tmp_link.c_str());
  if (symlink(name.c_str(), tmp_link.c_str()) != 0 || rename(tmp_link.c_str(), (dir_ + "/current").c_str()) != 0) {
    return Internal("cannot switch " + dir_ + "/current to " + name + ": " + std::strerror(errno));
  }
  generation_ = gen;
  last_mtime_ = mtime;
  // Keep the previous generation (a read of gRPC's may still be resolving into it).
  if (gen > 2) std::filesystem::remove_all(dir_ + "/gen-" + std::to_string(gen - 2), ec);
  return Status::Ok();
}

Status CertificateReloader::ReloadNow() {
  auto log = telemetry::Logger("app");
  std::lock_guard lock(pass_mu_);
  Status s;
  auto read = ReadTlsFiles(files_);
  if (!read.ok()) {
    s = read.status();
  } else if (*read == served_) {
    s = Status::Ok();
  } else if (has_refused_ && *read == refused_material_) {
    s = pass_status_;  // the same bad content: already checked and reported
  } else {
    s = ValidateTlsMaterial(files_, *read);
    if (s.ok()) s = WriteGeneration(*read);
    if (s.ok()) {
      served_ = std::move(read).value();
      has_refused_ = false;
      reloads_.fetch_add(1);
      log->info("TLS: certificate files changed and checked; new handshakes use them (generation {})", generation_);
    } else {
      refused_material_ = std::move(read).value();
      has_refused_ = true;
    }
  }
  if (!s.ok() && s.message() != last_warned_) {
    refused_.fetch_add(1);
    log->warn("TLS: still serving the last good certificate and key: {}", s.message());
    last_warned_ = s.message();
  } else if (s.ok() && !last_warned_.empty()) {
    log->info("TLS: certificate files are good again");
    last_warned_.clear();
  }
  pass_status_ = s;
  {
    std::lock_guard status_lock(status_mu_);
    last_status_ = s;
  }
  return s;
}

Status CertificateReloader::last_status() const {
  std::lock_guard lock(status_mu_);
  return last_status_;
}

void CertificateReloader::Loop() {
  while (true) {
    {
      std::unique_lock lock(stop_mu_);
      if (stop_cv_.wait_for(lock, interval_, [this] { return stop_; })) return;
    }
    try {
      ReloadNow();
    } catch (const std::exception& e) {
      telemetry::Logger("app")->error("TLS: certificate reload failed: {}", e.what());
    } catch (...) {
      telemetry::Logger("app")->error("TLS: certificate reload failed");
    }
  }
}

// --- credentials ---------------------------------------------------------------------------

Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const config::AppConfig& c,
                                                                       std::unique_ptr<CertificateReloader>* reloader) {
  if (c.tls_cert.empty()) return grpc::InsecureServerCredentials();
  if (c.tls_key.empty()) return InvalidArgument("--tls-cert needs --tls-key");
  const bool mutual = !c.tls_client_ca.empty();
  auto started = CertificateReloader::Start(TlsFiles{c.tls_cert, c.tls_key, c.tls_client_ca, PeerCaFile(c)});
  if (!started.ok()) return started.status();
  std::unique_ptr<CertificateReloader> r = std::move(started).value();

  // gRPC's file watcher reads only the checked copies (see CertificateReloader). An empty root
  // path means "no client CA".
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      r->key_path(), r->cert_path(), r->client_ca_path(), kGrpcCopyIntervalSeconds);
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
  telemetry::Logger("app")->info(
      "TLS: {} from {} and {}{}; files checked and re-read every {}s", mutual ? "mutual TLS" : "TLS", c.tls_cert,
      c.tls_key, mutual ? ", client CA " + c.tls_client_ca : std::string(), kTlsRefreshInterval.count());
  *reloader = std::move(r);
  return creds;
}

std::string PeerCaFile(const config::AppConfig& c) {
  if (c.tls_cert.empty() || c.peers_service.empty()) return "";
  if (!c.peer_tls_ca.empty()) return c.peer_tls_ca;
  return c.tls_client_ca.empty() ? c.tls_cert : c.tls_client_ca;
}

std::shared_ptr<grpc::ChannelCredentials> MakePeerChannelCredentials(const CertificateReloader* reloader) {
  if (reloader == nullptr || reloader->peer_ca_path().empty()) return grpc::InsecureChannelCredentials();
  // The same checked copies the server reads: a rotated certificate or CA reaches new peer
  // connections within a refresh, and a bad file never does.
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      reloader->key_path(), reloader->cert_path(), reloader->peer_ca_path(), kGrpcCopyIntervalSeconds);
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  return grpc::experimental::TlsCredentials(options);
}

}  // namespace nimscaler::app
