// TLS credentials of the gRPC port (scaler/app/tls_credentials.h): the files are checked with
// OpenSSL at start and on every reload, and gRPC only ever reads checked copies. Guards issue
// 19 item 2 (a certificate emptied in place tripped an assertion in gRPC's file watcher) and
// the smaller TLS items (a mismatched pair started "healthy" with every handshake failing; a
// garbage certificate or key swapped in was not survived by keeping the last good pair).
#include "scaler/app/tls_credentials.h"

#include <gmock/gmock.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/app/test_pki.h"
#include "tests/fakes/eventually.h"

namespace nimscaler::app {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::MakeSelfSigned;
using testing::PemPair;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes in place (truncate, then write): what a careless script or `cp` does.
void WriteInPlace(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

// Writes a temporary file and renames it over `path`: an atomic replacement.
void WriteAtomically(const std::string& path, const std::string& data) {
  WriteInPlace(path + ".tmp", data);
  std::filesystem::rename(path + ".tmp", path);
}

class TlsTest : public ::testing::Test {
 protected:
  TlsTest() {
    dir_ = ::testing::TempDir() + "/tls-" + std::to_string(getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ + "/tmp");
    files_ = {dir_ + "/tls.crt", dir_ + "/tls.key", ""};
    Put(a_);
  }
  ~TlsTest() override { std::filesystem::remove_all(dir_); }

  void Put(const PemPair& p) {
    WriteAtomically(files_.cert, p.cert);
    WriteAtomically(files_.key, p.key);
  }
  Status Validate(const TlsFiles& f) {
    auto m = ReadTlsFiles(f);
    if (!m.ok()) return m.status();
    return ValidateTlsMaterial(f, *m);
  }

  std::string dir_;
  TlsFiles files_;
  PemPair a_ = MakeSelfSigned("server-a");
  PemPair b_ = MakeSelfSigned("server-b");
};

TEST_F(TlsTest, ValidatorAcceptsAGoodPairAndNamesTheFileAndProblemOtherwise) {
  EXPECT_TRUE(Validate(files_).ok()) << Validate(files_).message();
  std::string other = dir_ + "/other.key";
  WriteInPlace(other, b_.key);
  Status mismatch = Validate({files_.cert, other, ""});
  EXPECT_EQ(mismatch.code(), Code::kInvalidArgument);
  EXPECT_THAT(mismatch.message(), HasSubstr("--tls-key \"" + other +
                                            "\" does not match the certificate in --tls-cert \"" + files_.cert + "\""));

  struct Case {
    const char* what;
    std::string cert, key, want;
  };
  std::string cert_half = a_.cert.substr(0, a_.cert.size() / 2);
  std::vector<Case> cases = {
      {"empty cert", "", a_.key, "--tls-cert \"" + files_.cert + "\" is empty"},
      {"garbage cert", "not a certificate at all\n", a_.key,
       "--tls-cert \"" + files_.cert + "\" holds no PEM certificate"},
      {"key as cert", a_.key, a_.key, "--tls-cert \"" + files_.cert + "\" holds no PEM certificate"},
      {"cut cert", cert_half, a_.key, "--tls-cert \"" + files_.cert + "\": certificate 1 does not parse"},
      {"second cert broken", a_.cert + cert_half, a_.key, "certificate 2 does not parse"},
      {"empty key", a_.cert, "", "--tls-key \"" + files_.key + "\" is empty"},
      {"cert as key", a_.cert, a_.cert, "--tls-key \"" + files_.key + "\" holds no PEM private key"},
      {"garbage key", a_.cert, "-----BEGIN PRIVATE KEY-----\nAAAA!!!!\n-----END PRIVATE KEY-----\n",
       "--tls-key \"" + files_.key + "\": the private key does not parse"},
      {"encrypted key", a_.cert, MakeSelfSigned("enc", "secret").key, "is encrypted"},
  };
  for (const auto& c : cases) {
    WriteInPlace(files_.cert, c.cert);
    WriteInPlace(files_.key, c.key);
    Status s = Validate(files_);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.what;
    EXPECT_THAT(s.message(), HasSubstr(c.want)) << c.what;
  }
  Put(a_);
  EXPECT_THAT(Validate({dir_ + "/missing.crt", files_.key, ""}).message(),
              HasSubstr("--tls-cert \"" + dir_ + "/missing.crt\": cannot read: No such file or directory"));
  EXPECT_THAT(Validate({files_.cert, files_.key, dir_ + "/missing-ca.crt"}).message(), HasSubstr("--tls-client-ca"));
  WriteInPlace(dir_ + "/ca.crt", "junk");
  EXPECT_THAT(Validate({files_.cert, files_.key, dir_ + "/ca.crt"}).message(),
              HasSubstr("--tls-client-ca \"" + dir_ + "/ca.crt\" holds no PEM certificate"));
  // Issue 12 item 3: the peers' CA bundle (--peer-tls-ca) is checked like the client CA.
  EXPECT_THAT(Validate({files_.cert, files_.key, "", dir_ + "/ca.crt"}).message(),
              HasSubstr("--peer-tls-ca \"" + dir_ + "/ca.crt\" holds no PEM certificate"));
  EXPECT_THAT(Validate({files_.cert, files_.key, "", dir_ + "/missing-peer-ca.crt"}).message(),
              HasSubstr("--peer-tls-ca \"" + dir_ + "/missing-peer-ca.crt\": cannot read"));
  WriteInPlace(dir_ + "/big.crt", a_.cert + std::string(2 << 20, '\n'));
  EXPECT_THAT(Validate({dir_ + "/big.crt", files_.key, ""}).message(), HasSubstr("is larger than 1048576 bytes"));
  EXPECT_THAT(Validate({dir_, files_.key, ""}).message(), HasSubstr("is not a regular file"));
}

TEST_F(TlsTest, StartupRefusesABadPairWithTheFlagAndTheProblem) {
  config::AppConfig c;
  c.tls_cert = files_.cert;
  c.tls_key = dir_ + "/b.key";
  WriteInPlace(c.tls_key, b_.key);
  std::unique_ptr<CertificateReloader> reloader;
  auto creds = MakeServerCredentials(c, &reloader);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(creds.status().message(), HasSubstr("does not match the certificate in --tls-cert"));
  EXPECT_EQ(reloader, nullptr);
  c.tls_key = files_.key;
  auto good = MakeServerCredentials(c, &reloader);
  ASSERT_TRUE(good.ok()) << good.status().message();
  ASSERT_NE(reloader, nullptr);
  EXPECT_EQ(Slurp(reloader->cert_path()), a_.cert);
}

// The reload pass, driven by hand (the thread's interval is an hour here).
TEST_F(TlsTest, ReloadKeepsTheLastGoodPairThroughBadFilesAndTakesTheNextGoodOne) {
  auto started = CertificateReloader::Start(files_, 1h, dir_ + "/tmp");
  ASSERT_TRUE(started.ok()) << started.status().message();
  auto& r = *started.value();
  EXPECT_EQ(Slurp(r.cert_path()), a_.cert);
  EXPECT_EQ(Slurp(r.key_path()), a_.key);
  EXPECT_EQ(r.client_ca_path(), "");
  struct stat st {};
  ASSERT_EQ(stat(r.dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "the private key's copy is private";
  ASSERT_EQ(stat(r.key_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const time_t first_mtime = st.st_mtime;
  EXPECT_TRUE(r.ReloadNow().ok());  // unchanged files: nothing to do
  EXPECT_EQ(r.reloads(), 0u);

  WriteInPlace(files_.cert, "");  // emptied in place (issue 19 item 2)
  Status s = r.ReloadNow();
  EXPECT_THAT(s.message(), HasSubstr("is empty"));
  EXPECT_EQ(Slurp(r.cert_path()), a_.cert) << "gRPC's copy keeps the last good certificate";
  EXPECT_EQ(r.refused(), 1u);
  EXPECT_EQ(r.ReloadNow().message(), s.message());
  EXPECT_EQ(r.refused(), 1u) << "the same problem is reported once";

  WriteInPlace(files_.cert, "\x01garbage\xff");
  EXPECT_THAT(r.ReloadNow().message(), HasSubstr("holds no PEM certificate"));
  WriteInPlace(files_.cert, b_.cert);  // the new certificate before its key: a mismatch for now
  EXPECT_THAT(r.ReloadNow().message(), HasSubstr("does not match"));
  EXPECT_EQ(Slurp(r.cert_path()), a_.cert);
  EXPECT_EQ(Slurp(r.key_path()), a_.key);
  EXPECT_EQ(r.refused(), 3u);
  EXPECT_FALSE(r.last_status().ok());

  WriteInPlace(files_.key, b_.key);  // the pair is complete
  EXPECT_TRUE(r.ReloadNow().ok());
  EXPECT_TRUE(r.last_status().ok());
  EXPECT_EQ(Slurp(r.cert_path()), b_.cert);
  EXPECT_EQ(Slurp(r.key_path()), b_.key);
  EXPECT_EQ(r.reloads(), 1u);
  ASSERT_EQ(stat(r.key_path().c_str(), &st), 0);
  EXPECT_GT(st.st_mtime, first_mtime) << "each generation is newer than the last, even within a second";

  std::filesystem::remove(files_.key);  // briefly missing
  EXPECT_THAT(r.ReloadNow().message(), HasSubstr("cannot read"));
  EXPECT_EQ(Slurp(r.key_path()), b_.key);
  Put(a_);
  EXPECT_TRUE(r.ReloadNow().ok());
  Put(b_);
  EXPECT_TRUE(r.ReloadNow().ok());
  size_t generations = 0;
  for (const auto& e : std::filesystem::directory_iterator(r.dir()))
    generations += e.path().filename().string().rfind("gen-", 0) == 0;
  EXPECT_EQ(generations, 2u) << "older generations are removed";
  std::string dir = r.dir();
  started = Status(Code::kInternal, "dropped");
  EXPECT_FALSE(std::filesystem::exists(dir)) << "the private directory goes with the reloader";
}

// --- live gRPC over loopback ---------------------------------------------------------------

// True when a TLS channel that trusts only `root` completes a handshake with the server.
bool Handshakes(int port, const std::string& root) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = root;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  args.SetInt("grpc.use_local_subchannel_pool", 1);  // a fresh connection every time
  auto ch = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(o), args);
  // READY or TRANSIENT_FAILURE (a failed handshake), whichever comes first.
  auto deadline = std::chrono::system_clock::now() + 5s;
  auto state = ch->GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY && state != GRPC_CHANNEL_TRANSIENT_FAILURE) {
    if (!ch->WaitForStateChange(state, deadline)) return false;
    state = ch->GetState(false);
  }
  return state == GRPC_CHANNEL_READY;
}

// Answers every call UNIMPLEMENTED.
class NoCalls final : public grpc::CallbackGenericService {
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Reactor final : public grpc::ServerGenericBidiReactor {
     public:
      Reactor() { Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "")); }
      void OnDone() override { delete this; }
    };
    return new Reactor;
  }
};

using testing::Eventually;

TEST_F(TlsTest, ServerKeepsServingThroughTruncatedGarbageAndMismatchedFilesThenTakesAGoodSwap) {
  config::AppConfig c;
  c.tls_cert = files_.cert;
  c.tls_key = files_.key;
  std::unique_ptr<CertificateReloader> reloader;
  auto creds = MakeServerCredentials(c, &reloader);
  ASSERT_TRUE(creds.ok()) << creds.status().message();
  grpc::ServerBuilder builder;
  NoCalls service;  // the handshake is the test; the server needs some service to start
  builder.RegisterCallbackGenericService(&service);
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", *creds, &port);
  auto server = builder.BuildAndStart();
  ASSERT_TRUE(server != nullptr && port != 0);
  ASSERT_TRUE(Handshakes(port, a_.cert));
  EXPECT_FALSE(Handshakes(port, b_.cert)) << "control: a client trusting another certificate fails";

  // Each bad state lasts until our reloader has read and refused it, then one more gRPC re-read
  // of its checked copies (every 1 s): the old code handed the emptied file to gRPC, which
  // aborted the process here.
  auto settle_on = [&](const std::string& refusal) {
    EXPECT_TRUE(Eventually([&] { return reloader->last_status().message().find(refusal) != std::string::npos; },
                           kTlsRefreshInterval * 3, 100ms))
        << "waiting for \"" << refusal << "\", last status: " << reloader->last_status().message();
    std::this_thread::sleep_for(std::chrono::seconds(kGrpcCopyIntervalSeconds) + 200ms);
  };
  WriteInPlace(files_.cert, "");
  settle_on("is empty");
  EXPECT_TRUE(Handshakes(port, a_.cert)) << "emptied certificate: the last good pair is served";
  WriteInPlace(files_.cert, "garbage");
  WriteInPlace(files_.key, "more garbage");
  settle_on("no PEM certificate");
  EXPECT_TRUE(Handshakes(port, a_.cert)) << "garbage: the last good pair is served";
  WriteInPlace(files_.cert, a_.cert);
  WriteInPlace(files_.key, b_.key);
  settle_on("does not match");
  EXPECT_TRUE(Handshakes(port, a_.cert)) << "mismatched pair: the last good pair is served";

  Put(b_);  // a good rotation
  EXPECT_TRUE(Eventually([&] { return Handshakes(port, b_.cert); }, 8s, 100ms)) << reloader->last_status().message();
  EXPECT_FALSE(Handshakes(port, a_.cert));
  server->Shutdown(std::chrono::system_clock::now() + 1s);
}

}  // namespace
}  // namespace nimscaler::app
