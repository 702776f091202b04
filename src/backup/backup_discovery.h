// Backup discovery: the OADP/Velero backups in a backup storage location (FACTS §7).
//
// Layout read: `<prefix>/backups/<name>/velero-backup.json` (a velero.io/v1 Backup) next to
// `<prefix>/backups/<name>/<name>.tar.gz`. Backup names come from one delimiter listing of
// `<prefix>/backups/`; then each backup's velero-backup.json is read, and nothing else (the
// tarball only when asked for). Nothing is ever written under the prefix: Velero marks a location
// Unavailable when it finds foreign top-level folders there.
//
// "Latest" is the newest status.completionTimestamp among phase == Completed — not the last key
// in sort order, and not PartiallyFailed unless the caller allows it. Listing order: Completed
// backups newest completion first, then every other backup (in progress, partially failed,
// failed, unreadable) newest first by completion or else start time, ties by name.
#pragma once

#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"
#include "s3/object_store.h"

namespace ocpvdr::backup {

struct BackupSummary {
  std::string name;   // the folder name under backups/
  std::string phase;  // status.phase; "" when velero-backup.json could not be read
  std::optional<SystemTime> startTimestamp;
  std::optional<SystemTime> completionTimestamp;
  std::optional<SystemTime> expiration;
  int errors = 0;                               // status.errors
  int warnings = 0;                             // status.warnings
  std::vector<std::string> includedNamespaces;  // spec.includedNamespaces ("*" or empty: all)
  std::string storageLocation;                  // spec.storageLocation
  std::string formatVersion;                    // status.formatVersion ("1.1.0")
  std::optional<std::int64_t> itemsBackedUp;    // status.progress.itemsBackedUp
  std::string metadataKey;                      // <prefix>/backups/<name>/velero-backup.json
  std::string tarballKey;                       // <prefix>/backups/<name>/<name>.tar.gz
  // Set when velero-backup.json is missing, unreadable or inconsistent: the backup is listed (so
  // the operator sees it) but is never chosen for a restore.
  std::string problem;

  bool completed() const { return problem.empty() && phase == "Completed"; }
  bool usable(bool allowPartiallyFailed) const {
    return completed() || (allowPartiallyFailed && problem.empty() && phase == "PartiallyFailed");
  }
};

// Parses a velero-backup.json document into a summary (name/keys left for the caller).
[[nodiscard]] Result<BackupSummary> parseVeleroBackup(std::string_view json);

// Sorts into listing order (see the file comment).
void sortBackups(std::vector<BackupSummary>& backups);
// Whether a is newer than b for "the latest backup": completion time, then start time (both have
// whole-second resolution in velero-backup.json), then the name — a Schedule's backups are named
// <schedule>-<yyyymmddhhmmss>, so the greater name is the later one; a total order either way.
bool newerBackup(const BackupSummary& a, const BackupSummary& b);

class BackupDiscovery {
 public:
  // `prefix`: the Velero storage location prefix (backup_store.prefix; may be empty).
  BackupDiscovery(s3::ObjectStore& store, std::string prefix);

  // Every backup, in listing order. A backup whose metadata cannot be read is listed with
  // `problem` set; store failures (denied, unreachable) fail the whole call.
  [[nodiscard]] Result<std::vector<BackupSummary>> list(std::stop_token stop = {});
  // One backup by name; NotFound when it has no velero-backup.json.
  [[nodiscard]] Result<BackupSummary> get(const std::string& name, std::stop_token stop = {});
  // The newest usable backup; NotFound (saying what was seen) when there is none.
  [[nodiscard]] Result<BackupSummary> latest(bool allowPartiallyFailed = false,
                                             std::stop_token stop = {});
  // Downloads a backup's tarball into `dir` (its file name is <name>.tar.gz); returns the path.
  [[nodiscard]] Result<std::string> downloadTarball(const BackupSummary& backup,
                                                    const std::string& dir,
                                                    std::stop_token stop = {});

  const std::string& backupsPrefix() const { return backupsPrefix_; }  // "<prefix>/backups/"

  static constexpr std::size_t kMaxMetadataBytes = 8 * 1024 * 1024;

 private:
  s3::ObjectStore& store_;
  std::string backupsPrefix_;
};

// Checks a backup name before it is used in a key or a file name.
[[nodiscard]] Status validateBackupName(std::string_view name);

}  // namespace ocpvdr::backup
