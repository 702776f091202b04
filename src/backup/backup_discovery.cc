// Velero backup discovery in the object store (see backup_discovery.h).
#include "backup/backup_discovery.h"

#include <algorithm>
#include <cctype>

namespace ocpvdr::backup {
namespace {

Result<std::optional<SystemTime>> optTime(const Json& doc, std::string_view path) {
  const Json* v = jsonAt(doc, path);
  if (!v || v->is_null()) return std::optional<SystemTime>{};
  if (!v->is_string())
    return invalidError(std::string(path) + ": expected an RFC 3339 timestamp string");
  auto t = parseTime(v->get<std::string>());
  if (!t.ok()) return t.error().wrap(std::string(path));
  return std::optional<SystemTime>{*t};
}

Result<int> optCount(const Json& doc, std::string_view path) {
  const Json* v = jsonAt(doc, path);
  if (!v || v->is_null()) return 0;
  if (!v->is_number_integer() || v->get<std::int64_t>() < 0 ||
      v->get<std::int64_t>() > 1'000'000'000)
    return invalidError(std::string(path) + ": expected a non-negative integer");
  return static_cast<int>(v->get<std::int64_t>());
}

std::string normalisePrefix(std::string prefix) {
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(prefix.begin());
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return prefix.empty() ? "backups/" : prefix + "/backups/";
}

std::string timeOrDash(const std::optional<SystemTime>& t) {
  return t ? formatTime(*t) : "-";
}

}  // namespace

Status validateBackupName(std::string_view name) {
  // Backup names are Kubernetes object names (DNS subdomain): they become object keys and file
  // names here, so nothing else is let through.
  if (name.empty() || name.size() > 253)
    return invalidError("backup name must be 1..253 characters");
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (!(std::islower(u) || std::isdigit(u) || c == '-' || c == '.'))
      return invalidError("backup name \"" + std::string(name) +
                          "\" is not a Kubernetes object name (lower-case letters, digits, '-', "
                          "'.')");
  }
  if (name == "." || name == ".." || name.front() == '.' || name.front() == '-')
    return invalidError("backup name \"" + std::string(name) +
                        "\" must start with a letter or digit");
  return Status::success();
}

namespace {

Result<BackupSummary> parseBackupDocument(std::string_view json) {
  OCPVDR_ASSIGN_OR_RETURN(Json doc, parseJson(json, "velero-backup.json"));
  if (!doc.is_object()) return invalidError("velero-backup.json: not a JSON object");
  OCPVDR_ASSIGN_OR_RETURN(auto kind, jsonOptString(doc, "kind"));
  if (kind && *kind != "Backup")
    return invalidError("velero-backup.json: kind is \"" + *kind + "\", expected Backup");
  OCPVDR_ASSIGN_OR_RETURN(auto apiVersion, jsonOptString(doc, "apiVersion"));
  if (apiVersion && *apiVersion != "velero.io/v1")
    return invalidError("velero-backup.json: apiVersion is \"" + *apiVersion +
                        "\", expected velero.io/v1");
  BackupSummary b;
  OCPVDR_ASSIGN_OR_RETURN(auto name, jsonOptString(doc, "metadata.name"));
  b.name = name.value_or("");
  OCPVDR_ASSIGN_OR_RETURN(auto phase, jsonOptString(doc, "status.phase"));
  // Velero leaves the phase empty for a backup it has not started ("New").
  b.phase = phase.value_or("New");
  if (b.phase.empty()) b.phase = "New";
  OCPVDR_ASSIGN_OR_RETURN(b.startTimestamp, optTime(doc, "status.startTimestamp"));
  OCPVDR_ASSIGN_OR_RETURN(b.completionTimestamp, optTime(doc, "status.completionTimestamp"));
  OCPVDR_ASSIGN_OR_RETURN(b.expiration, optTime(doc, "status.expiration"));
  OCPVDR_ASSIGN_OR_RETURN(b.errors, optCount(doc, "status.errors"));
  OCPVDR_ASSIGN_OR_RETURN(b.warnings, optCount(doc, "status.warnings"));
  OCPVDR_ASSIGN_OR_RETURN(auto location, jsonOptString(doc, "spec.storageLocation"));
  b.storageLocation = location.value_or("");
  OCPVDR_ASSIGN_OR_RETURN(auto format, jsonOptString(doc, "status.formatVersion"));
  b.formatVersion = format.value_or("");
  if (const Json* ns = jsonAt(doc, "spec.includedNamespaces"); ns && !ns->is_null()) {
    if (!ns->is_array())
      return invalidError("velero-backup.json: spec.includedNamespaces: expected an array");
    for (const Json& n : *ns) {
      if (!n.is_string())
        return invalidError("velero-backup.json: spec.includedNamespaces: expected strings");
      b.includedNamespaces.push_back(n.get<std::string>());
    }
  }
  if (const Json* items = jsonAt(doc, "status.progress.itemsBackedUp");
      items && items->is_number_integer())
    b.itemsBackedUp = items->get<std::int64_t>();
  return b;
}

}  // namespace

Result<BackupSummary> parseVeleroBackup(std::string_view json) {
  auto r = parseBackupDocument(json);
  if (!r.ok() && r.error().message.find("velero-backup.json") == std::string::npos)
    return r.error().wrap("velero-backup.json");
  return r;
}

void sortBackups(std::vector<BackupSummary>& backups) {
  auto sortTime = [](const BackupSummary& b) {
    if (b.completionTimestamp) return *b.completionTimestamp;
    if (b.startTimestamp) return *b.startTimestamp;
    return SystemTime::min();
  };
  std::stable_sort(backups.begin(), backups.end(),
                   [&](const BackupSummary& a, const BackupSummary& b) {
                     bool ca = a.completed(), cb = b.completed();
                     if (ca != cb) return ca;
                     SystemTime ta = sortTime(a), tb = sortTime(b);
                     if (ta != tb) return ta > tb;
                     return newerBackup(a, b);
                   });
}

bool newerBackup(const BackupSummary& a, const BackupSummary& b) {
  const auto t = [](const std::optional<SystemTime>& x) { return x.value_or(SystemTime::min()); };
  if (t(a.completionTimestamp) != t(b.completionTimestamp))
    return t(a.completionTimestamp) > t(b.completionTimestamp);
  if (t(a.startTimestamp) != t(b.startTimestamp)) return t(a.startTimestamp) > t(b.startTimestamp);
  return a.name > b.name;
}

BackupDiscovery::BackupDiscovery(s3::ObjectStore& store, std::string prefix)
    : store_(store), backupsPrefix_(normalisePrefix(std::move(prefix))) {}

namespace {

Result<BackupSummary> readBackup(s3::ObjectStore& store, const std::string& backupsPrefix,
                                 const std::string& name, std::stop_token stop,
                                 bool missingIsProblem) {
  BackupSummary b;
  b.name = name;
  b.metadataKey = backupsPrefix + name + "/velero-backup.json";
  b.tarballKey = backupsPrefix + name + "/" + name + ".tar.gz";
  if (auto valid = validateBackupName(name); !valid.ok()) {
    if (!missingIsProblem) return valid.error();
    b.problem = valid.error().message;
    return b;
  }
  auto text = store.get(b.metadataKey, BackupDiscovery::kMaxMetadataBytes, std::nullopt, stop);
  if (!text.ok()) {
    const Error& e = text.error();
    if (e.kind == ErrorKind::NotFound) {
      if (!missingIsProblem)
        return notFoundError("backup \"" + name + "\" not found: no " + b.metadataKey + " in " +
                             store.describe());
      b.problem = "no velero-backup.json (a backup still being uploaded, or not a Velero backup)";
      return b;
    }
    if (e.kind == ErrorKind::Invalid) {
      b.problem = e.message;
      return b;
    }
    return e;
  }
  auto parsed = parseVeleroBackup(*text);
  if (!parsed.ok()) {
    b.problem = parsed.error().message;
    return b;
  }
  BackupSummary full = std::move(parsed).value();
  if (!full.name.empty() && full.name != name) {
    b.problem =
        "velero-backup.json names backup \"" + full.name + "\" but sits in folder \"" + name + "\"";
    return b;
  }
  full.name = name;
  full.metadataKey = b.metadataKey;
  full.tarballKey = b.tarballKey;
  return full;
}

}  // namespace

Result<std::vector<BackupSummary>> BackupDiscovery::list(std::stop_token stop) {
  auto listing = store_.list(s3::ListRequest{backupsPrefix_, "/", 1000}, stop);
  if (!listing.ok()) return listing.error().wrap("listing backups");
  std::vector<BackupSummary> out;
  for (const std::string& cp : listing->commonPrefixes) {
    if (cp.size() <= backupsPrefix_.size() + 1 ||
        cp.compare(0, backupsPrefix_.size(), backupsPrefix_))
      continue;
    std::string name = cp.substr(backupsPrefix_.size(), cp.size() - backupsPrefix_.size() - 1);
    OCPVDR_ASSIGN_OR_RETURN(BackupSummary b, readBackup(store_, backupsPrefix_, name, stop, true));
    out.push_back(std::move(b));
  }
  sortBackups(out);
  return out;
}

Result<BackupSummary> BackupDiscovery::get(const std::string& name, std::stop_token stop) {
  OCPVDR_TRY(validateBackupName(name));
  return readBackup(store_, backupsPrefix_, name, stop, false);
}

Result<BackupSummary> BackupDiscovery::latest(bool allowPartiallyFailed, std::stop_token stop) {
  OCPVDR_ASSIGN_OR_RETURN(std::vector<BackupSummary> all, list(stop));
  const BackupSummary* best = nullptr;
  for (const BackupSummary& b : all) {
    if (!b.usable(allowPartiallyFailed) || !b.completionTimestamp) continue;
    if (!best || newerBackup(b, *best)) best = &b;
  }
  if (best) return *best;
  std::string seen;
  for (const BackupSummary& b : all) {
    if (!seen.empty()) seen += ", ";
    seen += b.name + " (" + (b.problem.empty() ? b.phase : "unreadable") + ", completed " +
            timeOrDash(b.completionTimestamp) + ")";
  }
  return notFoundError(
      "no " + std::string(allowPartiallyFailed ? "Completed or PartiallyFailed" : "Completed") +
      " backup under " + backupsPrefix_ + " in " + store_.describe() +
      (seen.empty() ? " (no backups at all)" : "; seen: " + seen));
}

Result<std::string> BackupDiscovery::downloadTarball(const BackupSummary& backup,
                                                     const std::string& dir, std::stop_token stop) {
  OCPVDR_TRY(validateBackupName(backup.name));
  std::string path = dir + "/" + backup.name + ".tar.gz";
  auto got = store_.getToFile(backup.tarballKey, path, std::nullopt, stop);
  if (!got.ok()) return got.error().wrap("downloading the tarball of backup " + backup.name);
  return path;
}

}  // namespace ocpvdr::backup
