// Keeping the catalog from silently taking failover down: the integrity check every open runs,
// the error a corrupt file gives, the online backup copy and its restore
// (`ocpv-dr catalog check|backup|restore`, docs/troubleshooting.md "The catalog is corrupt").
//
// Integrity: `PRAGMA quick_check` (SQLite's page, record and index-order checks without the
// slower index-content comparison of integrity_check). A file SQLite cannot read as a database
// at all (SQLITE_NOTADB, SQLITE_CORRUPT) counts as corrupt too. Every Catalog::open runs it, so
// every command that needs the catalog refuses a corrupt one with corruptCatalogError(): a
// Terminal error (exit 5) whose message begins "catalog <path> is corrupt" and names the backup
// and the commands that bring it back.
//
// Backup: one copy next to the catalog, <catalog.path>.backup, made with SQLite's online backup
// API (sqlite3_backup_*) from an open connection, so writers in other processes are not stopped
// and the copy is one consistent snapshot. It is written to a temporary file, quick_checked,
// fsynced and renamed over the previous copy: a failed backup never replaces a good one. Taken
// after every reconcile pass (CLI and serve), after every failover run or resume, and on serve's
// maintenance tick.
//
// Restore: the backup (or --from FILE) is quick_checked first; the current file and its -wal and
// -shm are moved aside (<catalog.path>.corrupt-<UTC time>, never deleted), then the copy is put in
// place through a temporary file and a rename. Run it with serve and the AAP jobs stopped.
#pragma once

#include <sqlite3.h>

#include <optional>
#include <string>

#include "catalog/catalog.h"
#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::catalog {

// <catalogPath>.backup
std::string defaultBackupPath(const std::string& catalogPath);

// PRAGMA quick_check on an open connection: "" when the file is sound, else SQLite's findings
// (at most the first ten). A file that is not a database at all is a finding, not an error;
// lock contention stays a Retryable error.
[[nodiscard]] Result<std::string> quickCheck(sqlite3* db);

// The error for a corrupt catalog: names the file, the findings and the recovery steps.
Error corruptCatalogError(const std::string& path, const std::string& findings);

struct FileCheck {
  std::string path;
  bool exists = false;
  bool ok = false;        // exists and quick_check found nothing
  std::string findings;   // quick_check's findings when !ok
  int schemaVersion = 0;  // when ok
  std::optional<SystemTime> modified;
  Json toJson() const;
};

// Opens `path` read-only (never creates it) and checks it. Errors only when it cannot be checked
// at all (unreadable, locked); a corrupt file is a FileCheck with ok = false.
[[nodiscard]] Result<FileCheck> checkCatalogFile(const std::string& path);

// Online backup of an open catalog to `dest` (see the header comment).
[[nodiscard]] Status backupCatalog(Catalog& catalog, const std::string& dest);

// backupCatalog to defaultBackupPath, logged; a failure is logged as a warning (with `after`,
// e.g. "reconcile") and returned, never thrown at the caller's own outcome.
Status backupAfter(Catalog& catalog, std::string_view after);

struct RestoreResult {
  std::string path;        // the catalog restored
  std::string from;        // the copy it came from
  std::string movedAside;  // where the previous file went ("" when there was none)
  FileCheck restored;      // the check of the file now in place
};

// Puts `from` in place of the catalog at `path` (see the header comment). Invalid when `from`
// is missing or corrupt (nothing is changed then).
[[nodiscard]] Result<RestoreResult> restoreCatalog(const std::string& path, const std::string& from,
                                                   SystemTime now);

}  // namespace ocpvdr::catalog
