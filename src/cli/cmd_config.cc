// `ocpv-dr config example | validate [--json] | show`: print the commented example, check a
// configuration file (every problem, one per line, exit 2), print the effective configuration
// as JSON. Wiring only: reading and validation live in src/config.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "config/config.h"
#include "core/files.h"
#include "core/json_util.h"

namespace ocpvdr::cli {
namespace {

// "FILE:LINE:COLUMN: key.path: message" (no position when the issue has none).
std::string issueLine(const std::string& file, const config::Issue& issue) {
  std::string where = file;
  if (issue.line > 0)
    where += ":" + std::to_string(issue.line) + ":" + std::to_string(issue.column);
  return where + ": " + issue.describe();
}

void printIssues(const std::string& file, const std::vector<config::Issue>& issues) {
  for (const auto& issue : issues) std::cerr << issueLine(file, issue) << "\n";
}

void validate(const std::string& file, bool json, Outcome& out) {
  auto text = readFile(file);
  if (!text.ok()) {
    if (json) {
      nlohmann::json report{{"file", file},
                            {"valid", false},
                            {"issues", {{{"path", ""}, {"message", text.error().message}}}}};
      std::cout << report.dump(2) << "\n";
    } else {
      std::cerr << "ocpv-dr: " << text.error().message << "\n";
    }
    out.exitCode = exitCodeFor(text.error().kind);
    return;
  }
  config::LoadResult r = config::parseConfig(*text, file);
  bool valid = r.issues.empty();
  if (json) {
    nlohmann::json report{{"file", file}, {"valid", valid}, {"issues", config::toJson(r.issues)}};
    std::cout << report.dump(2) << "\n";
  } else if (valid) {
    std::cout << file << ": valid\n";
  } else {
    printIssues(file, r.issues);
  }
  out.exitCode = valid ? 0 : exitCodeFor(ErrorKind::Invalid);
}

void show(const std::string& file, Outcome& out) {
  auto text = readFile(file);
  if (!text.ok()) {
    std::cerr << "ocpv-dr: " << text.error().message << "\n";
    out.exitCode = exitCodeFor(text.error().kind);
    return;
  }
  config::LoadResult r = config::parseConfig(*text, file);
  if (!r.issues.empty()) {
    printIssues(file, r.issues);
    out.exitCode = exitCodeFor(ErrorKind::Invalid);
    return;
  }
  std::cout << config::toJson(r.config).dump(2) << "\n";
  out.exitCode = 0;
}

}  // namespace

void registerConfig(CLI::App& app, GlobalOptions& g, Outcome& out) {
  auto* cmd = app.add_subcommand("config", "Check or print the configuration file");
  cmd->require_subcommand(1);
  // -c/--config belongs to the top level; let it follow the subcommand too.
  cmd->fallthrough();

  auto* example = cmd->add_subcommand(
      "example", "Print a complete, commented example configuration (every key and its default)");
  example->callback([&out] {
    std::cout << config::exampleConfig();
    out.exitCode = 0;
  });

  auto* check = cmd->add_subcommand(
      "validate", "Check -c FILE; print \"FILE: valid\" or every problem (exit 2 when invalid)");
  check->fallthrough();
  auto json = std::make_shared<bool>(false);
  check->add_flag("--json", *json, "Print {\"file\", \"valid\", \"issues\": [...]} on stdout");
  check->callback([&g, &out, json] { validate(g.configPath, *json, out); });

  auto* print = cmd->add_subcommand(
      "show", "Print the effective configuration of -c FILE (defaults filled) as JSON");
  print->fallthrough();
  print->callback([&g, &out] { show(g.configPath, out); });
}

}  // namespace ocpvdr::cli
