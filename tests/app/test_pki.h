#pragma once
// Throwaway TLS material for tests, made in-process with OpenSSL: self-signed EC P-256
// certificates for localhost / 127.0.0.1 (each is its own trust root), their keys, an
// encrypted key, and a small CA that signs leaf certificates for chosen names.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace nimscaler::testing {

struct PemPair {
  std::string cert;
  std::string key;
};

inline std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

/// A certificate for `pkey` (CN=`cn`, the given SAN and extensions), signed by `issuer` with
/// `issuer_key`, or by itself when `issuer` is null. The caller frees the result.
inline X509* SignedCertificate(EVP_PKEY* pkey, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                               const std::vector<std::pair<int, std::string>>& extensions) {
  static long serial = 1;
  X509* x = X509_new();
  if (x == nullptr) throw std::runtime_error("OpenSSL: cannot make a certificate");
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 2 * 86400);
  X509_set_pubkey(x, pkey);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, issuer_key ? issuer_key : pkey, EVP_sha256());
  return x;
}

/// A self-signed certificate (CN=`cn`, SAN localhost and 127.0.0.1, a CA) and its key.
/// `encrypt_key_with`: a passphrase to encrypt the key PEM with (empty: plain).
inline PemPair MakeSelfSigned(const std::string& cn, const std::string& encrypt_key_with = "") {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  if (pkey == nullptr) throw std::runtime_error("OpenSSL: cannot make a key");
  X509* x = SignedCertificate(
      pkey, cn, nullptr, nullptr,
      {{NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"}, {NID_basic_constraints, "critical,CA:TRUE"}});
  BIO* cb = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cb, x);
  BIO* kb = BIO_new(BIO_s_mem());
  if (encrypt_key_with.empty()) {
    PEM_write_bio_PrivateKey(kb, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PKCS8PrivateKey(kb, pkey, EVP_aes_256_cbc(), encrypt_key_with.data(),
                                  static_cast<int>(encrypt_key_with.size()), nullptr, nullptr);
  }
  PemPair out{BioText(cb), BioText(kb)};
  X509_free(x);
  EVP_PKEY_free(pkey);
  return out;
}

/// A leaf certificate for `san` (e.g. "DNS:nim-scaler.nim-system.svc"), usable as server and
/// client certificate, signed by `ca` (a MakeSelfSigned() pair, which is a CA), and its key.
inline PemPair MakeSignedBy(const PemPair& ca, const std::string& cn, const std::string& san) {
  BIO* cab = BIO_new_mem_buf(ca.cert.data(), static_cast<int>(ca.cert.size()));
  X509* ca_cert = PEM_read_bio_X509(cab, nullptr, nullptr, nullptr);
  BIO_free(cab);
  BIO* cakb = BIO_new_mem_buf(ca.key.data(), static_cast<int>(ca.key.size()));
  EVP_PKEY* ca_key = PEM_read_bio_PrivateKey(cakb, nullptr, nullptr, nullptr);
  BIO_free(cakb);
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  if (ca_cert == nullptr || ca_key == nullptr || pkey == nullptr) {
    throw std::runtime_error("OpenSSL: cannot read the CA or make a key");
  }
  X509* x = SignedCertificate(pkey, cn, ca_cert, ca_key,
                              {{NID_subject_alt_name, san},
                               {NID_basic_constraints, "critical,CA:FALSE"},
                               {NID_ext_key_usage, "serverAuth,clientAuth"}});
  BIO* cb = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cb, x);
  BIO* kb = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(kb, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  PemPair out{BioText(cb), BioText(kb)};
  X509_free(x);
  X509_free(ca_cert);
  EVP_PKEY_free(pkey);
  EVP_PKEY_free(ca_key);
  return out;
}

}  // namespace nimscaler::testing
