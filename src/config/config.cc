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

#include "config/value_rules.h"
#include "core/files.h"
#include "core/json_util.h"
#include "core/paths.h"
#include "core/text.h"

namespace ocpvdr::config {
namespace {

// A configuration file is a few kilobytes; anything far larger is a mistake (wrong file).
constexpr std::size_t kMaxFileBytes = 4u << 20;

std::string joinKey(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// What a node holds, for "got ..." in messages.
std::string describeNode(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return rules::quoted(n.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

// Collects issues and remembers where each key path sits in the file, so checks made after
// reading (cross-field rules) can still point at a line.
class Collector {
 public:
  void add(const std::string& path, std::string message,
           const YAML::Mark& at = YAML::Mark::null_mark()) {
    Issue issue{path, std::move(message)};
    if (!at.is_null()) {
      issue.line = at.line + 1;
      issue.column = at.column + 1;
    }
    issues_.push_back(std::move(issue));
  }
  // Uses the position recorded for `path` (or none).
  void addAtKey(const std::string& path, std::string message) {
    add(path, std::move(message), markOf(path));
  }
  void remember(const std::string& path, const YAML::Mark& m) { marks_[path] = m; }
  YAML::Mark markOf(const std::string& path) const {
    auto it = marks_.find(path);
    return it == marks_.end() ? YAML::Mark::null_mark() : it->second;
  }
  // True when an issue was already reported at `path` or below it (no second issue for it).
  bool reportedAt(std::string_view path) const {
    return std::any_of(issues_.begin(), issues_.end(), [&](const Issue& i) {
      std::string_view p = i.path;
      return p == path || (p.size() > path.size() && p.substr(0, path.size()) == path &&
                           (p[path.size()] == '.' || p[path.size()] == '['));
    });
  }
  std::vector<Issue> take() { return std::move(issues_); }

 private:
  std::vector<Issue> issues_;
  std::map<std::string, YAML::Mark> marks_;
};

struct Field;
using Fields = std::vector<Field>;

// One key of a mapping. Exactly one of leaf / section / item is set.
struct Field {
  std::string key;
  std::string expected;      // what a value looks like (for "missing" messages)
  bool required = false;     // leaves: must be present and non-null
  std::size_t minItems = 0;  // lists: at least this many items in the effective value
  std::function<void(const YAML::Node&, const std::string& path)> leaf;
  std::function<Fields()> section;  // nested mapping
  // List of mappings: resize the bound vector, then bind item i.
  std::function<void(std::size_t)> resize;
  std::function<Fields(std::size_t)> item;
  std::function<std::size_t()> size;  // lists (of scalars or mappings): effective item count
};

// A check for a string value: returns the full issue message or nullopt; may normalise.
struct Rule {
  std::string expected;
  std::function<rules::Message(std::string&)> check;
};

Rule anyText() {
  return {"a string", [](std::string&) { return rules::Message(); }};
}
Rule nonEmptyText() {
  return {"a non-empty string", [](std::string& v) -> rules::Message {
            if (v.empty()) return "expected a non-empty string, got \"\"";
            return std::nullopt;
          }};
}
// Absolute path; empty accepted when `optional` (the key's default then applies).
Rule absPath(bool optional = true) {
  return {"an absolute path", [optional](std::string& v) -> rules::Message {
            if (optional && v.empty()) return std::nullopt;
            return rules::absolutePath(v);
          }};
}
Rule of(std::string expected, rules::Message (*fn)(std::string_view), bool optional = false) {
  return {std::move(expected), [fn, optional](std::string& v) -> rules::Message {
            if (optional && v.empty()) return std::nullopt;
            return fn(v);
          }};
}
Rule ofRef(std::string expected, rules::Message (*fn)(std::string&)) {
  return {std::move(expected), [fn](std::string& v) { return fn(v); }};
}

std::optional<std::int64_t> parseInt(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parseNumber(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v))
    return std::nullopt;
  return v;
}

std::string formatNumber(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

class Schema {
 public:
  explicit Schema(Collector& c) : c_(c) {}

  Fields root(Config& cfg) {
    return {
        section("sites",
                [this, &cfg] {
                  return Fields{section("primary", [this, &cfg] { return site(cfg.primary); }),
                                section("dr", [this, &cfg] { return site(cfg.dr); })};
                }),
        section("replication", [this, &cfg] { return replication(cfg.replication); }),
        section("schedule",
                [this, &cfg] {
                  auto& s = cfg.schedule;
                  return Fields{
                      flag("enabled", s.enabled),
                      text("cron", s.cron, of("a cron expression", rules::cronExpression)),
                      text("time_zone", s.timeZone,
                           of("an IANA time zone name",
                              [](std::string_view v) { return rules::timeZone(v); }))};
                }),
        section("catalog",
                [this, &cfg] {
                  return Fields{
                      text("path", cfg.catalog.path, absPath(false)),
                      seconds("events_seen_retention", cfg.catalog.eventsSeenRetention, true)};
                }),
        section("backup_store", [this, &cfg] { return backupStore(cfg.backupStore); }),
        section("failover", [this, &cfg] { return failover(cfg.failover); }),
        section("server", [this, &cfg] { return server(cfg.server); }),
        section("forwarder", [this, &cfg] { return forwarder(cfg.forwarder); }),
        section("notify",
                [this, &cfg] {
                  auto& n = cfg.notify;
                  return Fields{
                      texts("urls", n.urls, of("an http:// or https:// URL", rules::httpUrl)),
                      text("token_file", n.tokenFile, absPath())};
                }),
    };
  }

  // Reads a mapping (absent or null: an empty one, so required keys below it are reported).
  void readMapping(const YAML::Node& node, const std::string& path, const Fields& fields) {
    std::set<std::string> seen, present;
    if (node.IsDefined() && !node.IsNull()) {
      if (!node.IsMap()) {
        c_.add(path, "expected a mapping, got " + describeNode(node), node.Mark());
        return;
      }
      for (auto it = node.begin(); it != node.end(); ++it) {
        const YAML::Node k = it->first;  // copies: the iterator hands out temporaries
        const YAML::Node v = it->second;
        if (!k.IsScalar()) {
          c_.add(path, "expected plain string keys, got " + describeNode(k), k.Mark());
          continue;
        }
        const std::string& key = k.Scalar();
        std::string keyPath = joinKey(path, key);
        if (!seen.insert(key).second) {
          c_.add(keyPath, "duplicate key; each key may appear once", k.Mark());
          continue;
        }
        auto f = std::find_if(fields.begin(), fields.end(),
                              [&](const Field& x) { return x.key == key; });
        if (f == fields.end()) {
          c_.add(keyPath, unknownKeyMessage(key, fields), k.Mark());
          continue;
        }
        c_.remember(keyPath, v.IsNull() ? k.Mark() : v.Mark());
        if (v.IsNull()) continue;  // "key:" with no value keeps the default
        present.insert(key);
        dispatch(*f, v, keyPath);
      }
    }
    for (const Field& f : fields) {
      std::string keyPath = joinKey(path, f.key);
      if (f.section && !present.count(f.key)) readMapping(YAML::Node(), keyPath, f.section());
      if (f.required && !present.count(f.key) && !c_.reportedAt(keyPath))
        c_.add(keyPath, "missing; expected " + f.expected,
               node.IsDefined() ? node.Mark() : YAML::Mark::null_mark());
      if (f.size && f.size() < f.minItems && !c_.reportedAt(keyPath))
        c_.addAtKey(keyPath, "expected at least " + std::to_string(f.minItems) + " " + f.expected +
                                 ", got none");
    }
  }

  // Leaf key paths (lists of mappings as "key[]"), optionally with the sections too.
  static void collectPaths(const Fields& fields, const std::string& prefix, bool withSections,
                           std::vector<std::string>& out) {
    for (const Field& f : fields) {
      std::string p = joinKey(prefix, f.key);
      if (f.section) {
        if (withSections) out.push_back(p);
        collectPaths(f.section(), p, withSections, out);
      } else if (f.item) {
        if (withSections) out.push_back(p);
        f.resize(1);
        collectPaths(f.item(0), p + "[]", withSections, out);
      } else {
        out.push_back(p);
      }
    }
  }

 private:
  void dispatch(const Field& f, const YAML::Node& v, const std::string& path) {
    if (f.leaf) {
      f.leaf(v, path);
    } else if (f.section) {
      readMapping(v, path, f.section());
    } else if (f.item) {
      if (!v.IsSequence()) {
        c_.add(path, "expected a list of " + f.expected + ", got " + describeNode(v), v.Mark());
        return;
      }
      f.resize(v.size());
      for (std::size_t i = 0; i < v.size(); ++i)
        readMapping(v[i], path + "[" + std::to_string(i) + "]", f.item(i));
    }
  }

  std::string unknownKeyMessage(const std::string& key, const Fields& fields) const {
    // A secret written inline: point at the file-reference key instead (never echo the value).
    for (const Field& f : fields)
      if (f.key == key + "_file")
        return "unknown key; secrets are never written in this file: put the value in a file "
               "and set `" +
               f.key + "`";
    std::string best;
    std::size_t bestDistance = std::numeric_limits<std::size_t>::max();
    for (const Field& f : fields) {
      std::size_t d = rules::editDistance(key, f.key);
      if (d < bestDistance) {
        bestDistance = d;
        best = f.key;
      }
    }
    std::size_t close = std::max<std::size_t>(2, std::min<std::size_t>(3, key.size() / 3));
    if (!best.empty() && bestDistance <= close) return "unknown key; did you mean `" + best + "`?";
    // Right (or nearly right) name, wrong place: "cron" under replication, "paralelism" at
    // the top level.
    std::string elsewhere;
    std::size_t elsewhereDistance = close + 1;
    for (const std::string& p : allKeyPaths()) {
      std::string_view last = p;
      if (auto dot = last.rfind('.'); dot != std::string_view::npos) last.remove_prefix(dot + 1);
      std::size_t d = rules::editDistance(key, last);
      if (d < elsewhereDistance) {
        elsewhereDistance = d;
        elsewhere = p;
      }
    }
    if (!elsewhere.empty()) return "unknown key here; did you mean `" + elsewhere + "`?";
    std::string known;
    for (const Field& f : fields) known += (known.empty() ? "" : ", ") + f.key;
    return "unknown key; expected one of: " + known;
  }

  // Every key path with sections, computed once from the schema itself.
  static const std::vector<std::string>& allKeyPaths() {
    static const std::vector<std::string> paths = [] {
      Collector c;
      Config cfg;
      Schema s(c);
      std::vector<std::string> out;
      collectPaths(s.root(cfg), "", true, out);
      return out;
    }();
    return paths;
  }

  // ---- section tables

  Fields site(Site& s) {
    return {
        text("name", s.name, nonEmptyText()),
        section("kubernetes",
                [this, &s] {
                  auto& k = s.kubernetes;
                  return Fields{flag("in_cluster", k.inCluster),
                                text("kubeconfig", k.kubeconfig, absPath()),
                                text("context", k.context, anyText())};
                }),
        section(
            "nfs",
            [this, &s] {
              Field server =
                  text("server", s.nfsServer,
                       of("a host name or IP address (the server PVs name)", rules::hostName));
              server.required = true;
              return Fields{
                  server,
                  texts("aliases", s.nfsAliases, of("a host name or IP address", rules::hostName)),
                  records("export_roots", s.exportRoots, 1, "export root ({export, path})",
                          [this](ExportRoot& r) {
                            return Fields{required(text("export", r.exportPath, absPath(false))),
                                          required(text("path", r.hostPath, absPath(false)))};
                          }),
              };
            }),
        section("ssh",
                [this, &s] {
                  auto& h = s.ssh;
                  return Fields{
                      text("host", h.host, of("a host name or IP address", rules::hostName, true)),
                      text("user", h.user, of("a user name", rules::userName)),
                      integer("port", h.port, 1, 65535),
                      text("key_file", h.keyFile, absPath()),
                      text("known_hosts_file", h.knownHostsFile, absPath()),
                      flag("strict_host_key_checking", h.strictHostKeyChecking),
                      seconds("control_persist", h.controlPersist),
                      seconds("connect_timeout", h.connectTimeout, true),
                  };
                }),
    };
  }

  Fields replication(Replication& r) {
    return {
        choice("transport", r.transport, {{"ssh", Transport::Ssh}, {"local", Transport::Local}}),
        texts("storage_classes", r.storageClasses, of("a StorageClass name", rules::objectName), 1),
        text("label_selector", r.labelSelector, of("a label selector", rules::labelSelector, true)),
        texts("namespaces", r.namespaces, of("a namespace name", rules::namespaceName)),
        records("path_mappings", r.pathMappings, 1, "path mapping ({primary, dr})",
                [this](PathMapping& m) {
                  return Fields{required(text("primary", m.primary, absPath(false))),
                                required(text("dr", m.dr, absPath(false)))};
                }),
        section("rsync",
                [this, &r] {
                  auto& o = r.rsync;
                  return Fields{
                      text("binary", o.binary,
                           ofRef("a program name or an absolute path", rules::program)),
                      flag("inplace", o.inplace),
                      integer("bwlimit_kibps", o.bwlimitKiBps, 0, 1'000'000'000),
                      seconds("io_timeout", o.ioTimeout),
                      seconds("max_duration", o.maxDuration),
                      text("partial_dir", o.partialDir,
                           of("a relative directory name", rules::relativeDir)),
                      texts("extra_args", o.extraArgs, nonEmptyText()),
                  };
                }),
        integer("parallelism", r.parallelism, 1, 64),
        choice("delete_policy", r.deletePolicy,
               {{"quarantine", DeletePolicy::Quarantine},
                {"keep", DeletePolicy::Keep},
                {"delete", DeletePolicy::Delete}}),
        seconds("trash_retention", r.trashRetention),
        seconds("rpo_target", r.rpoTarget, true),
        number("breaker_max_share", r.breakerMaxShare, 0, 1, false),
        integer("delete_breaker_max_deletes", r.deleteBreakerMaxDeletes, 1, 100'000),
        number("delete_breaker_max_share", r.deleteBreakerMaxShare, 0, 1, false),
        seconds("delete_breaker_window", r.deleteBreakerWindow, true),
        flag("snapshot_data", r.snapshotData),
        text("lock_dir", r.lockDir, absPath()),
    };
  }

  Fields backupStore(BackupStore& b) {
    return {
        text("endpoint", b.endpoint, of("an http:// or https:// URL", rules::httpUrl, true)),
        text("region", b.region, nonEmptyText()),
        text("bucket", b.bucket, of("an S3 bucket name", rules::bucketName)),
        text("prefix", b.prefix, of("an object key prefix", rules::objectPrefix)),
        text("credentials_file", b.credentialsFile, absPath()),
        text("profile", b.profile, nonEmptyText()),
        text("ca_file", b.caFile, absPath()),
        flag("path_style", b.pathStyle),
        flag("insecure_skip_tls_verify", b.insecureSkipTlsVerify),
    };
  }

  Fields failover(Failover& f) {
    return {
        text("oadp_namespace", f.oadpNamespace, of("a namespace name", rules::namespaceName)),
        text("storage_location", f.storageLocation, of("an object name", rules::objectName, true)),
        texts("protected_namespaces", f.protectedNamespaces,
              of("a namespace name", rules::namespaceName)),
        section("timeouts",
                [this, &f] {
                  auto& t = f.timeouts;
                  return Fields{
                      seconds("backup_sync", t.backupSync, true),
                      seconds("vm_stop", t.vmStop, true), seconds("pvc_bind", t.pvcBind, true),
                      seconds("restore", t.restore, true), seconds("vm_ready", t.vmReady, true)};
                }),
        section("fencing",
                [this, &f] {
                  auto& k = f.fencing;
                  return Fields{choice("method", k.method,
                                       {{"exportfs", FencingMethod::Exportfs},
                                        {"command", FencingMethod::Command},
                                        {"none", FencingMethod::None}}),
                                text("exports_file", k.exportsFile, absPath(false)),
                                texts("command", k.command, nonEmptyText())};
                }),
        choice("run_strategy_after_restore", f.runStrategyAfterRestore,
               {{"Always", "Always"},
                {"Halted", "Halted"},
                {"Manual", "Manual"},
                {"RerunOnFailure", "RerunOnFailure"},
                {"Once", "Once"}}),
        text("work_dir", f.workDir, absPath(false)),
        text("field_manager", f.fieldManager, nonEmptyText()),
        flag("require_guest_agent", f.requireGuestAgent),
    };
  }

  Fields server(Server& s) {
    return {
        text("listen", s.listen, of("host:port", rules::listenAddress)),
        text("token_file", s.tokenFile, absPath()),
        text("hmac_secret_file", s.hmacSecretFile, absPath()),
        section("tls",
                [this, &s] {
                  return Fields{text("cert_file", s.tls.certFile, absPath()),
                                text("key_file", s.tls.keyFile, absPath())};
                }),
        integer("max_body_bytes", s.maxBodyBytes, 1024, 1 << 30),
        integer("workers", s.workers, 1, 64),
        flag("watch_primary", s.watchPrimary),
        number("rate_limit_per_second", s.rateLimitPerSecond, 0, 100000, true),
        millis("settle", s.settle),
        seconds("shutdown_grace", s.shutdownGrace),
        flag("public_metrics_labels", s.publicMetricsLabels),
        text("expected_cluster", s.expectedCluster, anyText()),
    };
  }

  Fields forwarder(Forwarder& f) {
    return {
        text("webhook_url", f.webhookUrl, of("an http:// or https:// URL", rules::httpUrl, true)),
        text("token_file", f.tokenFile, absPath()),
        text("token_env", f.tokenEnv, of("an environment variable name", rules::envVarName, true)),
        text("hmac_secret_file", f.hmacSecretFile, absPath()),
        text("ca_file", f.caFile, absPath()),
        flag("insecure_skip_tls_verify", f.insecureSkipTlsVerify),
        text("spool_dir", f.spoolDir, absPath(false)),
        integer("spool_max_events", f.spoolMaxEvents, 1, 100'000'000),
        millis("settle", f.settle),
        text("listen", f.listen, of("host:port", rules::listenAddress)),
        flag("watch_snapshots", f.watchSnapshots),
    };
  }

  // ---- field makers

  static Field required(Field f) {
    f.required = true;
    return f;
  }

  Field section(std::string key, std::function<Fields()> fields) {
    Field f;
    f.key = std::move(key);
    f.section = std::move(fields);
    return f;
  }

  // A scalar string checked by `rule`.
  Field text(std::string key, std::string& out, Rule rule) {
    Field f;
    f.key = std::move(key);
    f.expected = rule.expected;
    f.leaf = [this, &out, rule](const YAML::Node& n, const std::string& path) {
      if (!n.IsScalar()) {
        c_.add(path, "expected " + rule.expected + ", got " + describeNode(n), n.Mark());
        return;
      }
      std::string v = n.Scalar();
      if (auto problem = rule.check(v)) {
        c_.add(path, *problem, n.Mark());
        return;
      }
      out = std::move(v);
    };
    return f;
  }

  // A list of scalar strings, each checked by `rule` (issues name the item index).
  Field texts(std::string key, std::vector<std::string>& out, Rule rule, std::size_t minItems = 0) {
    Field f;
    f.key = std::move(key);
    f.expected = rule.expected.substr(rule.expected.find(' ') + 1);  // "a name" -> "name"
    f.minItems = minItems;
    f.size = [&out] { return out.size(); };
    f.leaf = [this, &out, rule](const YAML::Node& n, const std::string& path) {
      if (!n.IsSequence()) {
        c_.add(path, "expected a list (each " + rule.expected + "), got " + describeNode(n),
               n.Mark());
        return;
      }
      std::vector<std::string> values;
      bool ok = true;
      for (std::size_t i = 0; i < n.size(); ++i) {
        const YAML::Node& item = n[i];
        std::string itemPath = path + "[" + std::to_string(i) + "]";
        if (!item.IsScalar()) {
          c_.add(itemPath, "expected " + rule.expected + ", got " + describeNode(item),
                 item.Mark());
          ok = false;
          continue;
        }
        std::string v = item.Scalar();
        if (auto problem = rule.check(v)) {
          c_.add(itemPath, *problem, item.Mark());
          ok = false;
          continue;
        }
        values.push_back(std::move(v));
      }
      if (ok) out = std::move(values);
    };
    return f;
  }

  template <class T>
  Field records(std::string key, std::vector<T>& out, std::size_t minItems, std::string expected,
                std::type_identity_t<std::function<Fields(T&)>> fields) {
    Field f;
    f.key = std::move(key);
    f.expected = std::move(expected);
    f.minItems = minItems;
    f.size = [&out] { return out.size(); };
    f.resize = [&out](std::size_t n) { out.resize(n); };
    f.item = [&out, fields](std::size_t i) { return fields(out[i]); };
    return f;
  }

  // YAML 1.2 core-schema booleans only: yes/no/on/off are not booleans (and are typos here).
  Field flag(std::string key, bool& out) {
    Field f;
    f.key = std::move(key);
    f.expected = "true or false";
    f.leaf = [this, &out](const YAML::Node& n, const std::string& path) {
      if (n.IsScalar()) {
        const std::string& v = n.Scalar();
        if (v == "true" || v == "True" || v == "TRUE") {
          out = true;
          return;
        }
        if (v == "false" || v == "False" || v == "FALSE") {
          out = false;
          return;
        }
      }
      c_.add(path, "expected true or false, got " + describeNode(n), n.Mark());
    };
    return f;
  }

  template <class Int>
  Field integer(std::string key, Int& out, std::int64_t min, std::int64_t max) {
    Field f;
    f.key = std::move(key);
    f.expected = "an integer " + std::to_string(min) + ".." + std::to_string(max);
    f.leaf = [this, &out, min, max, expected = f.expected](const YAML::Node& n,
                                                           const std::string& path) {
      std::optional<std::int64_t> v;
      if (n.IsScalar()) v = parseInt(n.Scalar());
      if (!v || *v < min || *v > max) {
        c_.add(path, "expected " + expected + ", got " + describeNode(n), n.Mark());
        return;
      }
      out = static_cast<Int>(*v);
    };
    return f;
  }

  Field number(std::string key, double& out, double min, double max, bool minExclusive) {
    Field f;
    f.key = std::move(key);
    f.expected = minExclusive ? "a number greater than " + formatNumber(min) + " and at most " +
                                    formatNumber(max)
                              : "a number " + formatNumber(min) + ".." + formatNumber(max);
    f.leaf = [this, &out, min, max, minExclusive, expected = f.expected](const YAML::Node& n,
                                                                         const std::string& path) {
      std::optional<double> v;
      if (n.IsScalar()) v = parseNumber(n.Scalar());
      if (!v || *v > max || *v < min || (minExclusive && *v == min)) {
        c_.add(path, "expected " + expected + ", got " + describeNode(n), n.Mark());
        return;
      }
      out = *v;
    };
    return f;
  }

  // Reads a duration into milliseconds; `wholeSeconds` for keys stored in seconds.
  std::optional<Millis> durationValue(const YAML::Node& n, const std::string& path,
                                      bool wholeSeconds, bool positive) {
    const std::string forms = wholeSeconds
                                  ? "a duration such as \"90s\", \"15m\", \"2h\", \"7d\" or whole "
                                    "seconds"
                                  : "a duration such as \"500ms\", \"90s\", \"15m\", \"2h\" or "
                                    "whole seconds";
    if (!n.IsScalar()) {
      c_.add(path, "expected " + forms + ", got " + describeNode(n), n.Mark());
      return std::nullopt;
    }
    auto d = parseDuration(n.Scalar());
    if (!d.ok()) {
      c_.add(path, "expected " + forms + ", got " + describeNode(n), n.Mark());
      return std::nullopt;
    }
    if (wholeSeconds && d->count() % 1000 != 0) {
      c_.add(path, "expected whole seconds, got " + describeNode(n), n.Mark());
      return std::nullopt;
    }
    if (positive && d->count() == 0) {
      c_.add(path, "expected a duration greater than 0, got " + describeNode(n), n.Mark());
      return std::nullopt;
    }
    return *d;
  }

  Field seconds(std::string key, Seconds& out, bool positive = false) {
    Field f;
    f.key = std::move(key);
    f.expected = "a duration";
    f.leaf = [this, &out, positive](const YAML::Node& n, const std::string& path) {
      if (auto d = durationValue(n, path, true, positive))
        out = std::chrono::duration_cast<Seconds>(*d);
    };
    return f;
  }

  Field millis(std::string key, Millis& out) {
    Field f;
    f.key = std::move(key);
    f.expected = "a duration";
    f.leaf = [this, &out](const YAML::Node& n, const std::string& path) {
      if (auto d = durationValue(n, path, false, false)) out = *d;
    };
    return f;
  }

  // One of a fixed set of spellings (case-sensitive, as the consumers compare them); a value
  // that differs only in case gets a suggestion.
  template <class E>
  Field choice(std::string key, E& out, std::vector<std::pair<std::string, E>> options) {
    Field f;
    f.key = std::move(key);
    std::string list;
    for (const auto& o : options) list += (list.empty() ? "" : ", ") + o.first;
    f.expected = "one of " + list;
    f.leaf = [this, &out, options, expected = f.expected](const YAML::Node& n,
                                                          const std::string& path) {
      if (n.IsScalar()) {
        for (const auto& o : options) {
          if (o.first == n.Scalar()) {
            out = o.second;
            return;
          }
        }
      }
      std::string message = "expected " + expected + ", got " + describeNode(n);
      if (n.IsScalar()) {
        std::string best;
        std::size_t bestDistance = 3;
        for (const auto& o : options) {
          std::size_t d = rules::editDistance(lowerAscii(o.first), lowerAscii(n.Scalar()));
          if (d < bestDistance) {
            bestDistance = d;
            best = o.first;
          }
        }
        if (!best.empty()) message += " (did you mean \"" + best + "\"?)";
      }
      c_.add(path, message, n.Mark());
    };
    return f;
  }

  Collector& c_;
};

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
