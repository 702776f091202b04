// What `ocpv-dr backup list` and `ocpv-dr backup show` compute and print: JSON documents (the
// stable, scriptable form; see docs/backups.md) and their human-readable rendering.
#pragma once

#include <stop_token>
#include <string>

#include "backup/backup_discovery.h"
#include "backup/velero_tarball.h"
#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::backup {

// One backup as JSON: name, phase, started, completed, expires, errors, warnings,
// includedNamespaces, storageLocation, formatVersion, itemsBackedUp, tarballKey, usable, problem.
Json backupToJson(const BackupSummary& b);

// {"location", "backupsPrefix", "latest": name|null, "backups": [...] } in listing order, each
// backup also carrying "latest": true|false.
[[nodiscard]] Result<Json> backupListReport(BackupDiscovery& discovery, const std::string& location,
                                            std::stop_token stop = {});

// The tarball's contents: formatVersion, inventory {groupResource: count}, totalItems, and the
// PersistentVolumes (NFS source, claim, reclaim policy), PersistentVolumeClaims (volume, storage
// class, CDI populatedFor), VirtualMachines (run strategy, data volumes) and DataVolumes.
Json tarballToJson(const TarballContents& contents);

// {"location", "backup": {...}, "objects": {...} (only with `objects`)}. With `objects` the
// tarball is downloaded into a fresh temporary directory (under $TMPDIR), read as a stream and
// removed again.
[[nodiscard]] Result<Json> backupShowReport(BackupDiscovery& discovery, const std::string& location,
                                            const std::string& name, bool objects,
                                            std::stop_token stop = {});

std::string renderBackupList(const Json& report);
std::string renderBackupShow(const Json& report);

}  // namespace ocpvdr::backup
