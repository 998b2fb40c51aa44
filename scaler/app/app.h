#pragma once
// The composition root: builds every object of `nim-scaler serve`, owns the threads,
// handles SIGTERM/SIGINT and shuts down gracefully. Also the `check` command.

#include <map>
#include <string>
#include <vector>

#include "scaler/config/app_config.h"

namespace nimscaler::app {

/// Runs the server until SIGTERM or SIGINT. Returns the process exit code.
int RunServe(const config::AppConfig& config);

/// `nim-scaler check --metadata FILE [--scrape URL ...] [--namespace NS --name NAME]`.
int RunCheck(const std::vector<std::string>& args);

/// The README's metadata table, generated from spec::MetadataFields() (`check --reference`).
std::string MetadataReferenceMarkdown();

/// Entry point used by main(): dispatches subcommands.
int Main(int argc, char** argv);

}  // namespace nimscaler::app
