// Exports Main(): subcommand dispatch for the nim-scaler binary.
#include <unistd.h>  // environ

#include <iostream>

#include "scaler/app/app.h"
#include "scaler/common/text.h"
#include "scaler/common/version.h"

namespace nimscaler::app {
namespace {

// `nim-scaler serve --help` and the serve part of `nim-scaler --help`: every flag with its
// environment variable, then the exit codes.
void PrintServeFlags() {
  std::cout << "serve flags (each also as an environment variable):\n";
  for (const auto& o : config::ServeOptionDocs()) {
    std::cout << "  " << o.flag << std::string(o.flag.size() < 26 ? 26 - o.flag.size() : 1, ' ') << o.help
              << (o.default_value.empty() ? "" : " (default " + o.default_value + ")") << "\n"
              << std::string(28, ' ') << "env " << o.env << "\n";
  }
  std::cout << "\nserve exit codes: 0 stopped by SIGTERM/SIGINT after a graceful shutdown; 2 bad flag, environment\n"
            << "  variable or file (TLS, token) at start-up, or a port that cannot be bound\n";
}

void PrintUsage() {
  std::cout << "nim-scaler " << kVersion << ": a KEDA external scaler for LLM inference servers\n\n"
            << "usage:\n"
            << "  nim-scaler serve [flags]           run the gRPC scaler and the HTTP port (serve --help)\n"
            << "  nim-scaler check --metadata FILE   validate trigger metadata; --scrape URL evaluates once;\n"
            << "                                     -f FILE checks a ScaledObject; --reference (check --help)\n"
            << "  nim-scaler record --metadata FILE --out demand.jsonl [--duration 10m]\n"
            << "                                     sample a live deployment's demand (record --help)\n"
            << "  nim-scaler replay demand.jsonl --metadata FILE [--metadata FILE ...] [--out DIR]\n"
            << "                                     replay it on an emulated cluster per trigger (replay --help)\n"
            << "  nim-scaler version\n\n"
            << "exit codes: 0 success; 1 the command ran and found a problem (invalid metadata, failed\n"
            << "  evaluation, unreadable pods); 2 usage error (unknown command or flag, unreadable file)\n\n";
  PrintServeFlags();
}

bool IsHelp(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

}  // namespace

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    PrintUsage();
    return args.empty() ? 2 : 0;
  }
  std::string cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "version" || cmd == "--version") {
    if (IsHelp(rest)) {
      std::cout << "usage: nim-scaler version\n  prints the version\nexit codes: 0\n";
      return 0;
    }
    std::cout << "nim-scaler " << kVersion << "\n";
    return 0;
  }
  if (cmd == "check") return RunCheck(rest);
  if (cmd == "record") return RunRecord(rest);
  if (cmd == "replay") return RunReplay(rest);
  if (cmd == "serve") {
    if (IsHelp(rest)) {
      std::cout << "usage: nim-scaler serve [flags]\n"
                << "  runs the gRPC external scaler KEDA calls and the HTTP port (health, metrics)\n\n";
      PrintServeFlags();
      return 0;
    }
    std::map<std::string, std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv = *e;
      if (kv.rfind("NIM_SCALER_", 0) != 0) continue;
      auto eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    auto cfg = config::LoadAppConfig(rest, env);
    if (!cfg.ok()) {
      std::cerr << "nim-scaler serve: " << cfg.status().message() << "\n";
      return 2;
    }
    return RunServe(*cfg);
  }
  std::string msg = "nim-scaler: unknown command \"" + Truncate(cmd, 40) + "\"";
  if (auto s = SuggestClosest(cmd, {"serve", "check", "record", "replay", "version", "help"}))
    msg += " (did you mean \"" + *s + "\"?)";
  std::cerr << msg << "\n";
  return 2;
}

}  // namespace nimscaler::app
