#pragma once
// The composition root: builds every object of `nim-scaler serve`, owns the threads,
// handles SIGTERM/SIGINT and shuts down gracefully. Also the `check` command.

#include <map>
#include <string>
#include <vector>

#include "scaler/common/result.h"
#include "scaler/config/app_config.h"
#include "scaler/config/metadata_reader.h"

namespace nimscaler::app {

/// Runs the server until SIGTERM or SIGINT. Returns the process exit code.
int RunServe(const config::AppConfig& config);

/// `nim-scaler check --metadata FILE | -f SCALEDOBJECT.yaml [--scrape URL|FILE ...]
/// [--namespace NS --name NAME]` (check --help).
int RunCheck(const std::vector<std::string>& args);

/// `nim-scaler record --metadata FILE --out FILE [--duration D] ...` (issue 13 item 4).
int RunRecord(const std::vector<std::string>& args);

/// `nim-scaler replay FILE --metadata A [--metadata B ...] [--out DIR]` (issue 13 item 4).
int RunReplay(const std::vector<std::string>& args);

/// Reads a trigger's metadata file (check, record, replay): a JSON object of strings, or YAML
/// (the trigger's `metadata:` block as written in the ScaledObject: comments, quoting and
/// block scalars as YAML defines them). Errors name the file and the line or key.
Result<config::Metadata> ReadMetadataFile(const std::string& path);

/// The metadata table of docs/trigger-reference.md "Keys", generated from trigger::MetadataFields() (`check
/// --reference`).
std::string MetadataReferenceMarkdown();

/// Entry point used by main(): dispatches subcommands.
int Main(int argc, char** argv);

}  // namespace nimscaler::app
