// The configuration file: one YAML document (YAML 1.2, read with yaml-cpp) → config::Config.
//
// The top level is a mapping of sections (sites, replication, schedule, catalog, backup_store,
// failover, server, forwarder, notify) with snake_case keys. One table of fields per section
// (Schema below) drives reading, type and range checks, unknown-key detection with "did you
// mean" suggestions, required keys and knownKeyPaths(), so the parser, the example and the docs
// test cannot drift apart. Nothing here throws: every problem becomes an Issue and reading goes
// on, so one run reports all of them.
#include "config/config.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <type_traits>

#include "config/schema.h"
#include "config/value_rules.h"
#include "core/files.h"
#include "core/json_util.h"
#include "core/paths.h"
#include "core/text.h"

namespace ocpvdr::config {
namespace {

using namespace detail;  // NOLINT: the schema (schema.h)

// A configuration file is a few kilobytes; anything far larger is a mistake (wrong file).
constexpr std::size_t kMaxFileBytes = 4u << 20;

// Rules that involve more than one key. Each is skipped when a key it reads already has an
// issue, so one mistake is reported once.
void crossCheck(Config& cfg, Collector& c) {
  auto checkUnder = [&](const std::string& listPath, const std::vector<PathMapping>& mappings,
                        const std::vector<ExportRoot>& roots, const std::string& rootsPath,
                        bool primarySide) {
    if (c.reportedAt(rootsPath)) return;
    std::string rootList;
    for (const auto& r : roots) rootList += (rootList.empty() ? "" : ", ") + r.exportPath;
    if (rootList.empty()) return;
    for (std::size_t i = 0; i < mappings.size(); ++i) {
      const std::string& p = primarySide ? mappings[i].primary : mappings[i].dr;
      std::string path =
          listPath + "[" + std::to_string(i) + "]." + (primarySide ? "primary" : "dr");
      if (p.empty() || c.reportedAt(path)) continue;
      bool under = std::any_of(roots.begin(), roots.end(), [&](const ExportRoot& r) {
        return !r.exportPath.empty() && paths::isUnder(p, r.exportPath);
      });
      if (!under)
        c.addAtKey(path, "expected a path under an export root of " + rootsPath + " (" + rootList +
                             "), got " + rules::quoted(p));
    }
  };
  checkUnder("replication.path_mappings", cfg.replication.pathMappings, cfg.primary.exportRoots,
             "sites.primary.nfs.export_roots", true);
  checkUnder("replication.path_mappings", cfg.replication.pathMappings, cfg.dr.exportRoots,
             "sites.dr.nfs.export_roots", false);

  if (cfg.replication.watch.cap.count() <= 0 && !c.reportedAt("replication.watch.cap"))
    c.addAtKey("replication.watch.cap", "expected a duration > 0");

  const auto& le = cfg.server.leaderElection;
  if (!c.reportedAt("server.leader_election")) {
    if (le.renewDeadline >= le.leaseDuration)
      c.addAtKey("server.leader_election.renew_deadline",
                 "must be shorter than lease_duration: the active instance stops its workers "
                 "within lease_duration - renew_deadline, before a standby may take over");
    else if (le.retryPeriod <= Millis(0) || le.retryPeriod >= le.renewDeadline)
      c.addAtKey("server.leader_election.retry_period",
                 "must be positive and shorter than renew_deadline (renewals are retried "
                 "every retry_period until the deadline)");
  }

  const auto& tls = cfg.server.tls;
  if (tls.certFile.empty() != tls.keyFile.empty() && !c.reportedAt("server.tls")) {
    bool certMissing = tls.certFile.empty();
    std::string missing = certMissing ? "server.tls.cert_file" : "server.tls.key_file";
    std::string present = certMissing ? "server.tls.key_file" : "server.tls.cert_file";
    c.add(missing,
          "missing; cert_file and key_file are set together (both for HTTPS, neither for plain "
          "HTTP), but only " +
              present + " is set",
          c.markOf(present));
  }

  if (cfg.failover.fencing.method == FencingMethod::Command &&
      cfg.failover.fencing.command.empty() && !c.reportedAt("failover.fencing"))
    c.add("failover.fencing.command",
          "expected a non-empty argv list when failover.fencing.method is command, got none",
          c.markOf("failover.fencing.method"));

  if (cfg.primary.name == cfg.dr.name && !c.reportedAt("sites.dr.name") &&
      !c.reportedAt("sites.primary.name"))
    c.addAtKey("sites.dr.name", "expected a name different from sites.primary.name, got " +
                                    rules::quoted(cfg.dr.name));

  const auto& mail = cfg.notify.email;
  if (!mail.smtpUrl.empty() && !c.reportedAt("notify.email")) {
    if (mail.from.empty())
      c.addAtKey("notify.email.smtp_url", "needs notify.email.from (the sender address)");
    if (mail.to.empty())
      c.addAtKey("notify.email.smtp_url", "needs at least one address in notify.email.to");
    if (mail.smtpUrl.starts_with("smtp://") && !mail.starttls && !mail.authFile.empty())
      c.addAtKey("notify.email.starttls",
                 "must be true when notify.email.auth_file is set: the password would cross the "
                 "network in clear text (or use an smtps:// URL)");
  }

  // Per-PV locks live next to the catalog unless placed elsewhere.
  if (cfg.replication.lockDir.empty()) {
    std::string dir = cfg.catalog.path.substr(0, cfg.catalog.path.rfind('/'));
    cfg.replication.lockDir = (dir.empty() ? "" : dir) + "/locks";
  }
}

}  // namespace

LoadResult parseConfig(const std::string& yamlText, const std::string& sourceName) {
  LoadResult result;
  Config& cfg = result.config;
  cfg.primary.name = "primary";
  cfg.dr.name = "dr";
  cfg.sourceFile = sourceName;
  Collector c;
  try {
    if (yamlText.size() > kMaxFileBytes) {
      c.add("", "the file is " + std::to_string(yamlText.size()) +
                    " bytes; a configuration file is at most " + std::to_string(kMaxFileBytes) +
                    " bytes (wrong file?)");
      result.issues = c.take();
      return result;
    }
    std::vector<YAML::Node> docs = YAML::LoadAll(yamlText);
    if (docs.size() > 1)
      c.add("",
            "expected one YAML document, found " + std::to_string(docs.size()) +
                " (remove the extra \"---\")",
            docs[1].Mark());
    YAML::Node root = docs.empty() ? YAML::Node() : docs.front();
    if (root.IsDefined() && !root.IsNull() && !root.IsMap()) {
      c.add("",
            "expected a mapping of sections (sites:, replication:, ...) at the top level, got " +
                describeNode(root),
            root.Mark());
    } else {
      Schema schema(c);
      schema.readMapping(root, "", schema.root(cfg));
      crossCheck(cfg, c);
    }
  } catch (const YAML::DeepRecursion& e) {
    Collector syntax;
    syntax.add("",
               "YAML nesting too deep near line " + std::to_string(e.mark.line + 1) +
                   " (not a configuration file?)",
               e.mark);
    c = std::move(syntax);
  } catch (const YAML::Exception& e) {
    Collector syntax;
    syntax.add("",
               "YAML syntax error at line " + std::to_string(e.mark.line + 1) + ", column " +
                   std::to_string(e.mark.column + 1) + ": " + e.msg,
               e.mark);
    c = std::move(syntax);
  } catch (const std::exception& e) {
    c.add("", std::string("cannot read the configuration: ") + e.what());
  }
  result.issues = c.take();
  return result;
}

Result<Config> loadConfig(const std::string& path) {
  auto text = readFile(path);
  if (!text.ok()) return text.error();
  LoadResult r = parseConfig(*text, path);
  if (r.issues.empty()) return std::move(r.config);
  std::string message = path + ": invalid configuration (" + std::to_string(r.issues.size()) +
                        (r.issues.size() == 1 ? " issue)" : " issues)");
  for (const Issue& i : r.issues) message += "\n  " + i.describe();
  return invalidError(std::move(message));
}

std::vector<std::string> knownKeyPaths() {
  Collector c;
  Config cfg;
  Schema s(c);
  std::vector<std::string> out;
  Schema::collectPaths(s.root(cfg), "", false, out);
  return out;
}

Result<Millis> parseDuration(std::string_view text) {
  auto bad = [&] {
    return invalidError(
        "expected a duration such as \"500ms\", \"90s\", \"15m\", \"2h\", \"7d\" "
        "or whole seconds, got " +
        rules::quoted(text));
  };
  // A century is far beyond any timeout or retention; the cap keeps the arithmetic exact.
  constexpr std::int64_t kMaxMs = 100LL * 365 * 24 * 3600 * 1000;
  if (text.empty()) return bad();
  if (auto whole = parseInt(text)) {
    if (*whole < 0 || *whole > kMaxMs / 1000) return bad();
    return Millis{*whole * 1000};
  }
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t j = i;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    if (j == i || j - i > 12) return bad();
    std::int64_t n = 0;
    std::from_chars(text.data() + i, text.data() + j, n);
    std::size_t k = j;
    while (k < text.size() && text[k] >= 'a' && text[k] <= 'z') ++k;
    std::string_view unit = text.substr(j, k - j);
    std::int64_t scale = unit == "ms"  ? 1
                         : unit == "s" ? 1000
                         : unit == "m" ? 60'000
                         : unit == "h" ? 3'600'000
                         : unit == "d" ? 86'400'000
                                       : 0;
    if (scale == 0) return bad();
    if (n > kMaxMs / scale) return bad();
    total += n * scale;
    if (total > kMaxMs) return bad();
    i = k;
  }
  return Millis{total};
}

std::string formatDuration(Millis d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  std::int64_t s = ms / 1000;
  if (s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

std::string toString(DeletePolicy p) {
  switch (p) {
    case DeletePolicy::Quarantine:
      return "quarantine";
    case DeletePolicy::Keep:
      return "keep";
    case DeletePolicy::Delete:
      return "delete";
  }
  return "quarantine";
}

std::string toString(Transport t) {
  return t == Transport::Local ? "local" : "ssh";
}

std::string toString(MoverKind m) {
  return m == MoverKind::Extent ? "extent" : m == MoverKind::Rsync ? "rsync" : "auto";
}

std::string toString(FencingMethod m) {
  switch (m) {
    case FencingMethod::Exportfs:
      return "exportfs";
    case FencingMethod::Command:
      return "command";
    case FencingMethod::None:
      return "none";
  }
  return "exportfs";
}

}  // namespace ocpvdr::config
