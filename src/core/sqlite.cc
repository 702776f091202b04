// The shared SQLite statement wrapper and error mapping (see sqlite.h).
#include "core/sqlite.h"

namespace ocpvdr::sqlite {

std::int64_t toMillis(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

SystemTime fromMillis(std::int64_t ms) {
  return SystemTime(
      std::chrono::duration_cast<SystemTime::duration>(std::chrono::milliseconds(ms)));
}

Error error(sqlite3* db, int rc, std::string_view component, std::string_view what) {
  std::string msg = std::string(component) + ": " + std::string(what) + ": " +
                    (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return retryableError(msg);
  return terminalError(msg);
}

Status exec(sqlite3* db, const std::string& sql, std::string_view component,
            std::string_view what) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    Error e = error(nullptr, rc, component, what);
    e.message = std::string(component) + ": " + std::string(what) + ": " + msg;
    return e;
  }
  return Status::success();
}

Stmt::Stmt(sqlite3* db, std::string_view sql, std::string_view component)
    : db_(db), component_(component) {
  rc_ = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &st_, nullptr);
}

Stmt::~Stmt() {
  sqlite3_finalize(st_);
}

Status Stmt::checkPrepared(std::string_view what) const {
  if (rc_ != SQLITE_OK) return error(rc_, what);
  return Status::success();
}

Error Stmt::error(int rc, std::string_view what) const {
  return sqlite::error(db_, rc, component_, what);
}

Stmt& Stmt::bind(std::string_view v) {
  sqlite3_bind_text(st_, ++idx_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::bindRef(std::string_view v) {
  sqlite3_bind_text(st_, ++idx_, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  return *this;
}

Stmt& Stmt::bind(std::int64_t v) {
  sqlite3_bind_int64(st_, ++idx_, v);
  return *this;
}

Stmt& Stmt::bind(const std::optional<std::int64_t>& v) {
  if (v) return bind(*v);
  return bindNull();
}

Stmt& Stmt::bind(const std::optional<SystemTime>& t) {
  if (t) return bind(toMillis(*t));
  return bindNull();
}

Stmt& Stmt::bindNull() {
  sqlite3_bind_null(st_, ++idx_);
  return *this;
}

int Stmt::step() {
  return sqlite3_step(st_);
}

Status Stmt::run(std::string_view what) {
  OCPVDR_TRY(checkPrepared(what));
  const int rc = sqlite3_step(st_);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return error(rc, what);
  reset();
  return Status::success();
}

void Stmt::reset() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
  idx_ = 0;
}

std::string Stmt::text(int col) const {
  const unsigned char* p = sqlite3_column_text(st_, col);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<std::size_t>(sqlite3_column_bytes(st_, col)))
           : std::string();
}

std::int64_t Stmt::i64(int col) const {
  return sqlite3_column_int64(st_, col);
}

bool Stmt::isNull(int col) const {
  return sqlite3_column_type(st_, col) == SQLITE_NULL;
}

std::optional<SystemTime> Stmt::time(int col) const {
  if (isNull(col)) return std::nullopt;
  return fromMillis(i64(col));
}

std::optional<std::int64_t> Stmt::optI64(int col) const {
  if (isNull(col)) return std::nullopt;
  return i64(col);
}

}  // namespace ocpvdr::sqlite
