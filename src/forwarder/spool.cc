// SQLite spool and checkpoint (see spool.h).
#include "forwarder/spool.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "catalog/sqlite.h"

namespace ocpvdr::forwarder {

using events::parseChangeType;
namespace {

constexpr std::string_view kComponent = "spool";

Error sqlError(sqlite3* db, int rc, const std::string& what) {
  return sqlite::error(db, rc, kComponent, what);
}

Status exec(sqlite3* db, const char* sql, const std::string& what) {
  return sqlite::exec(db, sql, kComponent, what);
}

// The shared statement wrapper, naming the spool in its errors. Text is bound with bindRef:
// every value bound here outlives the statement's execution.
struct Stmt : sqlite::Stmt {
  Stmt(sqlite3* db, const char* sql) : sqlite::Stmt(db, sql, kComponent) {}
};

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS events (
  seq   INTEGER PRIMARY KEY,
  key   TEXT NOT NULL,
  uid   TEXT NOT NULL,
  id    TEXT NOT NULL,
  kind  TEXT NOT NULL,
  type  TEXT NOT NULL,
  body  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
  key    TEXT PRIMARY KEY,
  kind   TEXT NOT NULL,
  uid    TEXT NOT NULL,
  rv     TEXT NOT NULL,
  object TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS watches (
  name TEXT PRIMARY KEY,
  rv   TEXT NOT NULL
) WITHOUT ROWID;
)sql";

// A connection with the settings every user of the file shares. The page cache is kept small:
// rows are written once and read once, so a large cache buys nothing but memory.
Result<detail::DbPtr> openDb(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  detail::DbPtr db(raw);
  if (rc != SQLITE_OK) return sqlError(raw, rc, "cannot open " + path);
  sqlite3_busy_timeout(db.get(), 5000);
  // Readers look up one row by key (a few pages); there is one per sender and per watch.
  const bool writer = (flags & SQLITE_OPEN_READWRITE) != 0;
  OCPVDR_TRY(
      exec(db.get(),
           writer ? "PRAGMA cache_size=-512; PRAGMA synchronous=NORMAL" : "PRAGMA cache_size=-32",
           "configuring " + path));
  return db;
}

std::string objectKeyOf(const std::string& key, const std::string& kind) {
  // key = "<kind>/<ns>/<name>" or "<kind>/<name>"; the reflector's key drops the kind.
  return key.size() > kind.size() + 1 ? key.substr(kind.size() + 1) : std::string();
}

}  // namespace

Result<std::unique_ptr<Spool>> Spool::open(const std::string& dir) {
  std::error_code ec;
  namespace fs = std::filesystem;
  // The spool holds the primary's PV/VolumeSnapshot objects: readable by this user only. Only a
  // directory this call creates is narrowed; an operator's existing one keeps its mode.
  const bool existed = fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return terminalError("spool: cannot create directory " + dir + ": " + ec.message());
  if (!existed) {
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec)
      return terminalError("spool: cannot make directory " + dir + " mode 0700: " + ec.message());
  }
  const std::string path = (std::filesystem::path(dir) / "forwarder.db").string();
  OCPVDR_ASSIGN_OR_RETURN(auto db, openDb(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  OCPVDR_TRY(exec(db.get(), "PRAGMA journal_mode=WAL", "enabling WAL on " + path));
  OCPVDR_TRY(exec(db.get(), kSchema, "creating the schema in " + path));
  return std::unique_ptr<Spool>(new Spool(std::move(db), path));
}

Result<std::vector<SpoolRow>> Spool::pending() {
  Stmt st(db_.get(), "SELECT seq, key, uid, id, kind, type FROM events ORDER BY seq");
  OCPVDR_TRY(st.checkPrepared("listing events"));
  std::vector<SpoolRow> rows;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    SpoolRow r;
    r.seq = st.i64(0);
    r.key = st.text(1);
    r.uid = st.text(2);
    r.id = st.text(3);
    r.kind = st.text(4);
    auto t = parseChangeType(st.text(5));
    if (!t)
      return terminalError("spool: event " + std::to_string(r.seq) + ": " + t.error().message);
    r.type = *t;
    rows.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return sqlError(db_.get(), rc, "listing events");
  return rows;
}

Result<std::vector<CheckpointEntry>> Spool::checkpoint(bool withObjects) {
  Stmt st(db_.get(), withObjects ? "SELECT key, kind, uid, rv, object FROM objects ORDER BY key"
                                 : "SELECT key, kind, uid, rv FROM objects ORDER BY key");
  OCPVDR_TRY(st.checkPrepared("reading the checkpoint"));
  std::vector<CheckpointEntry> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    CheckpointEntry e;
    e.key = st.text(0);
    e.kind = st.text(1);
    e.uid = st.text(2);
    e.resourceVersion = st.text(3);
    if (withObjects) e.object = st.text(4);
    e.objectKey = objectKeyOf(e.key, e.kind);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return sqlError(db_.get(), rc, "reading the checkpoint");
  return out;
}

Result<std::map<std::string, std::string>> Spool::watchVersions() {
  Stmt st(db_.get(), "SELECT name, rv FROM watches");
  OCPVDR_TRY(st.checkPrepared("reading watch versions"));
  std::map<std::string, std::string> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out[st.text(0)] = st.text(1);
  if (rc != SQLITE_DONE) return sqlError(db_.get(), rc, "reading watch versions");
  return out;
}

Result<std::int64_t> Spool::count() {
  Stmt st(db_.get(), "SELECT count(*) FROM events");
  OCPVDR_TRY(st.checkPrepared("counting events"));
  if (st.step() != SQLITE_ROW) return sqlError(db_.get(), SQLITE_ERROR, "counting events");
  return st.i64(0);
}

Status Spool::commit(const SpoolBatch& batch) {
  if (batch.empty()) return Status::success();
  sqlite3* db = db_.get();
  OCPVDR_TRY(exec(db, "BEGIN IMMEDIATE", "starting a transaction"));
  auto body = [&]() -> Status {
    if (!batch.upserts.empty()) {
      Stmt st(db,
              "INSERT OR REPLACE INTO events(seq, key, uid, id, kind, type, body) "
              "VALUES(?,?,?,?,?,?,?)");
      OCPVDR_TRY(st.checkPrepared("writing events"));
      for (const auto& r : batch.upserts) {
        st.bind(r.seq).bindRef(r.key).bindRef(r.uid).bindRef(r.id).bindRef(r.kind).bindRef(
            toString(r.type));
        OCPVDR_TRY(st.bindRef(r.body).run("writing event " + r.id));
      }
    }
    if (!batch.deletes.empty()) {
      Stmt st(db, "DELETE FROM events WHERE seq = ?");
      OCPVDR_TRY(st.checkPrepared("deleting events"));
      for (std::int64_t s : batch.deletes) OCPVDR_TRY(st.bind(s).run("deleting events"));
    }
    if (!batch.objectUpserts.empty()) {
      Stmt st(db, "INSERT OR REPLACE INTO objects(key, kind, uid, rv, object) VALUES(?,?,?,?,?)");
      OCPVDR_TRY(st.checkPrepared("writing the checkpoint"));
      for (const auto& o : batch.objectUpserts) {
        st.bindRef(o.key)
            .bindRef(o.kind)
            .bindRef(o.uid)
            .bindRef(o.resourceVersion)
            .bindRef(o.object);
        OCPVDR_TRY(st.run("writing the checkpoint of " + o.key));
      }
    }
    if (!batch.objectDeletes.empty()) {
      Stmt st(db, "DELETE FROM objects WHERE key = ?");
      OCPVDR_TRY(st.checkPrepared("deleting from the checkpoint"));
      for (const auto& k : batch.objectDeletes) OCPVDR_TRY(st.bindRef(k).run("deleting " + k));
    }
    if (!batch.watchVersions.empty()) {
      Stmt st(db, "INSERT OR REPLACE INTO watches(name, rv) VALUES(?,?)");
      OCPVDR_TRY(st.checkPrepared("writing watch versions"));
      for (const auto& [name, rv] : batch.watchVersions) {
        OCPVDR_TRY(st.bindRef(name).bindRef(rv).run("writing the watch version of " + name));
      }
    }
    return Status::success();
  }();
  if (!body.ok()) {
    (void)exec(db, "ROLLBACK", "rolling back");
    return body;
  }
  Status c = exec(db, "COMMIT", "committing");
  if (!c.ok()) (void)exec(db, "ROLLBACK", "rolling back");
  return c;
}

Result<std::unique_ptr<SpoolReader>> Spool::reader() const {
  OCPVDR_ASSIGN_OR_RETURN(auto db, openDb(path_, SQLITE_OPEN_READONLY));
  return std::unique_ptr<SpoolReader>(new SpoolReader(std::move(db), path_));
}

SpoolReader::~SpoolReader() {
  sqlite3_finalize(bodyStmt_);
}

Result<std::optional<std::string>> SpoolReader::body(std::int64_t seq) {
  if (bodyStmt_ == nullptr) {
    const int rc = sqlite3_prepare_v2(db_.get(), "SELECT body FROM events WHERE seq = ?", -1,
                                      &bodyStmt_, nullptr);
    if (rc != SQLITE_OK) return sqlError(db_.get(), rc, "reading an event");
  }
  sqlite3_bind_int64(bodyStmt_, 1, seq);
  const int rc = sqlite3_step(bodyStmt_);
  Result<std::optional<std::string>> out = std::optional<std::string>();
  if (rc == SQLITE_ROW) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(bodyStmt_, 0));
    out = std::optional<std::string>(
        std::string(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(bodyStmt_, 0))));
  } else if (rc != SQLITE_DONE) {
    out = sqlError(db_.get(), rc, "reading event " + std::to_string(seq));
  }
  sqlite3_reset(bodyStmt_);  // ends the read transaction: the next read sees newer commits
  return out;
}

Result<std::optional<CheckpointEntry>> SpoolReader::object(const std::string& key) {
  Stmt st(db_.get(), "SELECT key, kind, uid, rv, object FROM objects WHERE key = ?");
  OCPVDR_TRY(st.checkPrepared("reading the checkpoint"));
  st.bindRef(key);
  const int rc = st.step();
  if (rc == SQLITE_DONE) return std::optional<CheckpointEntry>();
  if (rc != SQLITE_ROW) return sqlError(db_.get(), rc, "reading the checkpoint of " + key);
  CheckpointEntry e;
  e.key = st.text(0);
  e.kind = st.text(1);
  e.uid = st.text(2);
  e.resourceVersion = st.text(3);
  e.object = st.text(4);
  e.objectKey = objectKeyOf(e.key, e.kind);
  return std::optional<CheckpointEntry>(std::move(e));
}

}  // namespace ocpvdr::forwarder
