// Catalog integrity check, online backup and restore (see backup.h).
#include "catalog/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "core/log.h"
#include "core/sqlite.h"
#include "core/time.h"

namespace ocpvdr::catalog {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kCatalogComponent = "catalog";

bool corruptCode(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

// Closes a connection opened here, whatever happens.
struct Conn {
  sqlite3* db = nullptr;
  ~Conn() { sqlite3_close_v2(db); }
};

Status fsyncPath(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return terminalError("catalog: cannot open " + path + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return terminalError("catalog: fsync " + path + ": " + std::strerror(err));
  return Status::success();
}

std::string parentOf(const std::string& path) {
  fs::path p = fs::path(path).parent_path();
  return p.empty() ? std::string(".") : p.string();
}

Status renameIfExists(const std::string& from, const std::string& to) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(from, ec))) return Status::success();
  if (::rename(from.c_str(), to.c_str()) != 0)
    return terminalError("catalog: cannot move " + from + " to " + to + ": " +
                         std::strerror(errno));
  return Status::success();
}

}  // namespace

std::string defaultBackupPath(const std::string& catalogPath) {
  return catalogPath + ".backup";
}

Result<std::string> quickCheck(sqlite3* db) {
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(10)", -1, &st, nullptr);
  std::string findings;
  if (rc == SQLITE_OK) {
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(st, 0);
      std::string line = t ? reinterpret_cast<const char*>(t) : "";
      if (line == "ok") continue;
      findings += (findings.empty() ? "" : "; ") + line;
    }
  }
  Error e = sqlite::error(db, rc, kCatalogComponent, "quick_check");
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE) return findings;
  // A file that is not a database, or whose pages SQLite cannot even walk, is what we look for.
  if (corruptCode(rc)) return std::string(sqlite3_errstr(rc)) + " (" + sqlite3_errmsg(db) + ")";
  return e;
}

Error corruptCatalogError(const std::string& path, const std::string& findings) {
  return terminalError(
      "catalog " + path + " is corrupt (SQLite quick_check: " + findings +
      "). Nothing was changed. To recover: stop `ocpv-dr serve` and the OCPV-DR AAP jobs, run "
      "`ocpv-dr catalog check` to see the last backup (" +
      defaultBackupPath(path) +
      "), then `ocpv-dr catalog restore` to put it in place (the corrupt file is kept aside); "
      "without a usable backup, move the file away: an empty catalog is created and the next "
      "`ocpv-dr reconcile` records every replica again (docs/troubleshooting.md, \"The catalog is "
      "corrupt\")");
}

Json FileCheck::toJson() const {
  Json j{{"path", path}, {"exists", exists}, {"ok", ok}};
  if (!ok) j["findings"] = findings;
  if (ok) j["schema_version"] = schemaVersion;
  if (modified) j["modified"] = formatTime(*modified);
  return j;
}

Result<FileCheck> checkCatalogFile(const std::string& path) {
  FileCheck fc;
  fc.path = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT)
      return terminalError("catalog: cannot stat " + path + ": " + std::strerror(errno));
    fc.findings = "no such file";
    return fc;
  }
  fc.exists = true;
  fc.modified = std::chrono::system_clock::from_time_t(st.st_mtim.tv_sec);
  Conn c;
  int rc =
      sqlite3_open_v2(path.c_str(), &c.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK)
    return terminalError("catalog: cannot open " + path + ": " +
                         (c.db ? sqlite3_errmsg(c.db) : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(c.db, 5000);
  sqlite3_extended_result_codes(c.db, 1);
  OCPVDR_ASSIGN_OR_RETURN(fc.findings, quickCheck(c.db));
  fc.ok = fc.findings.empty();
  if (fc.ok) {
    // A file without the table is a database but not (yet) a catalog: version 0.
    sqlite::Stmt s(c.db, "SELECT COALESCE(MAX(version), 0) FROM schema_version", kCatalogComponent);
    if (s.prepared() && s.step() == SQLITE_ROW) fc.schemaVersion = static_cast<int>(s.i64(0));
  }
  return fc;
}

Status backupCatalog(Catalog& catalog, const std::string& dest) {
  std::error_code ec;
  fs::create_directories(parentOf(dest), ec);
  std::string tmpl = dest + ".tmp-XXXXXX";
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0)
    return terminalError("catalog backup: cannot create a temporary file next to " + dest + ": " +
                         std::strerror(errno));
  ::close(fd);
  const std::string tmp = tmpl;
  auto fail = [&](Error e) -> Status {
    std::error_code ig;
    fs::remove(tmp, ig);
    fs::remove(tmp + "-journal", ig);
    return e;
  };
  {
    Conn dst;
    int rc = sqlite3_open_v2(tmp.c_str(), &dst.db, SQLITE_OPEN_READWRITE, nullptr);
    if (rc != SQLITE_OK)
      return fail(sqlite::error(dst.db, rc, kCatalogComponent, "opening " + tmp));
    sqlite3_extended_result_codes(dst.db, 1);
    // One step copies every page under one read transaction of the source: a consistent
    // snapshot, while writers in other processes carry on (WAL).
    Status copied = catalog.withConnection([&](sqlite3* src) -> Status {
      sqlite3_backup* b = sqlite3_backup_init(dst.db, "main", src, "main");
      if (b == nullptr)
        return sqlite::error(dst.db, sqlite3_errcode(dst.db), kCatalogComponent,
                             "starting the backup");
      const int step = sqlite3_backup_step(b, -1);
      const int fin = sqlite3_backup_finish(b);
      if (step != SQLITE_DONE)
        return sqlite::error(src, step, kCatalogComponent, "copying the pages");
      if (fin != SQLITE_OK)
        return sqlite::error(dst.db, fin, kCatalogComponent, "finishing the backup");
      return Status::success();
    });
    if (!copied.ok()) return fail(copied.error().wrap("catalog backup to " + dest));
    // The copy stands alone: no -wal file beside it that a rename could separate it from.
    Status mode = sqlite::exec(dst.db, "PRAGMA journal_mode=DELETE", kCatalogComponent,
                               "switching the copy to a rollback journal");
    if (!mode.ok()) return fail(mode.error());
    auto findings = quickCheck(dst.db);
    if (!findings.ok()) return fail(findings.error());
    if (!findings->empty())
      return fail(terminalError("catalog backup: the copy of " + catalog.path() +
                                " fails quick_check (" + *findings +
                                "); the previous backup was kept"));
  }
  OCPVDR_TRY(fsyncPath(tmp, false));
  // A stale journal of an earlier copy must not be applied to the new one.
  fs::remove(dest + "-journal", ec);
  fs::remove(dest + "-wal", ec);
  fs::remove(dest + "-shm", ec);
  if (::rename(tmp.c_str(), dest.c_str()) != 0)
    return fail(terminalError("catalog backup: cannot rename " + tmp + " to " + dest + ": " +
                              std::strerror(errno)));
  return fsyncPath(parentOf(dest), true);
}

Status backupAfter(Catalog& catalog, std::string_view after) {
  const std::string dest = defaultBackupPath(catalog.path());
  Status s = backupCatalog(catalog, dest);
  if (s.ok()) {
    log::info("catalog backed up", {{"after", std::string(after)}, {"backup", dest}});
  } else {
    log::warn("catalog backup failed; the previous backup (if any) is kept",
              {{"after", std::string(after)}, {"error", s.error().message}});
  }
  return s;
}

Result<RestoreResult> restoreCatalog(const std::string& path, const std::string& from,
                                     SystemTime now) {
  if (from == path) return invalidError("catalog restore: --from is the catalog itself");
  OCPVDR_ASSIGN_OR_RETURN(FileCheck source, checkCatalogFile(from));
  if (!source.exists)
    return invalidError("catalog restore: no backup at " + from +
                        " (backups are written after each reconcile, failover run and serve "
                        "maintenance tick; give another copy with --from)");
  if (!source.ok)
    return invalidError("catalog restore: the backup " + from + " is corrupt too (" +
                        source.findings + "); nothing was changed");
  RestoreResult out;
  out.path = path;
  out.from = from;
  const std::string tmp = path + ".restore-tmp";
  std::error_code ec;
  fs::create_directories(parentOf(path), ec);
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
  if (ec)
    return terminalError("catalog restore: cannot copy " + from + " to " + tmp + ": " +
                         ec.message());
  OCPVDR_TRY(fsyncPath(tmp, false));
  if (fs::exists(fs::symlink_status(path, ec))) {
    out.movedAside = path + ".corrupt-" + compactUtc(now);
    OCPVDR_TRY(renameIfExists(path, out.movedAside));
  }
  // The old file's WAL belongs to it: applied to the restored copy it would corrupt it.
  const std::string aside =
      out.movedAside.empty() ? path + ".stale-" + compactUtc(now) : out.movedAside;
  OCPVDR_TRY(renameIfExists(path + "-wal", aside + "-wal"));
  OCPVDR_TRY(renameIfExists(path + "-shm", aside + "-shm"));
  OCPVDR_TRY(renameIfExists(path + "-journal", aside + "-journal"));
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return terminalError("catalog restore: cannot rename " + tmp + " to " + path + ": " +
                         std::strerror(errno));
  OCPVDR_TRY(fsyncPath(parentOf(path), true));
  OCPVDR_ASSIGN_OR_RETURN(out.restored, checkCatalogFile(path));
  return out;
}

}  // namespace ocpvdr::catalog
