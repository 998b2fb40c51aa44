// The real `nim-scaler` binary's command-line surface (issue 15 item 1): every subcommand's
// --help, `check` on YAML as users write it, on whole ScaledObject files and on capture files.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/fakes/child_process.h"
#include "tests/fakes/testdata.h"

namespace nimscaler {
namespace {

using namespace std::chrono_literals;

std::string Binary() { return std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler"; }

struct CliRun {
  int rc;
  std::string out;
};

// Runs the binary with `args`; `stdout_only` drops stderr (through /bin/sh) so that a test
// can tell which stream a text went to.
CliRun RunBinary(const std::vector<std::string>& args, bool stdout_only = false) {
  std::vector<std::string> argv;
  if (stdout_only) {
    std::string cmd = "exec \"$0\"";
    for (size_t i = 0; i < args.size(); ++i) cmd += " \"$" + std::to_string(i + 1) + "\"";
    cmd += " 2>/dev/null";
    argv = {"/bin/sh", "-c", cmd, Binary()};
  } else {
    argv = {Binary()};
  }
  argv.insert(argv.end(), args.begin(), args.end());
  testing::ChildProcess p(argv);
  int rc = p.Wait(30s);
  return {rc, p.output()};
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// Issue 15 item 1: `serve --help` and `check --help` were rejected as unknown flags. Every
// subcommand's --help prints its usage to stdout, exits 0 and documents the exit codes.
TEST(CheckCli, EverySubcommandHasHelpOnStdoutWithExitCodes) {
  struct Row {
    std::string cmd;
    std::vector<std::string> must;
  };
  const std::vector<Row> rows = {
      {"serve", {"usage: nim-scaler serve", "--grpc-addr", "exit codes"}},
      {"check", {"usage: nim-scaler check", "--metadata", "--scrape", "--reference", "exit codes"}},
      {"record", {"usage: nim-scaler record", "exit codes"}},
      {"replay", {"usage: nim-scaler replay", "exit codes"}},
      {"version", {"usage: nim-scaler version", "exit codes"}},
  };
  for (const auto& r : rows) {
    for (const char* flag : {"--help", "-h"}) {
      SCOPED_TRACE(r.cmd + " " + flag);
      CliRun run = RunBinary({r.cmd, flag}, /*stdout_only=*/true);
      EXPECT_EQ(run.rc, 0) << run.out;
      for (const auto& m : r.must) EXPECT_NE(run.out.find(m), std::string::npos) << "no \"" << m << "\" in\n" << run.out;
    }
  }
  // The top-level usage names every subcommand and the exit codes.
  CliRun top = RunBinary({"--help"}, true);
  EXPECT_EQ(top.rc, 0);
  for (const char* m : {"serve --help", "check --help", "record --help", "replay --help", "exit codes"}) {
    EXPECT_NE(top.out.find(m), std::string::npos) << m << " in\n" << top.out;
  }
  // An unknown flag is still a usage error (exit 2), with the usage on stderr.
  CliRun bad = RunBinary({"check", "--no-such-flag"});
  EXPECT_EQ(bad.rc, 2) << bad.out;
  EXPECT_NE(bad.out.find("usage: nim-scaler check"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace nimscaler
