// A small RAII layer over the SQLite C API shared by every SQLite user in the product (the
// catalog, the forwarder spool, the failover journal): one prepared-statement wrapper with typed
// binds and column reads, one mapping of SQLite result codes to Error kinds, and one encoding of
// times. A library of its own (ocpvdr_sqlite): only the binaries that keep a database link SQLite.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/result.h"

namespace ocpvdr::sqlite {

// Milliseconds since the epoch <-> time point: how every table stores a time.
std::int64_t toMillis(SystemTime t);
SystemTime fromMillis(std::int64_t ms);

// "<component>: <what>: <SQLite's message>" (the connection's message when db is given, else the
// generic text of rc). Lock contention that outlived the busy timeout is worth retrying; anything
// else on an open database (corruption, I/O, full disk) will not fix itself.
[[nodiscard]] Error error(sqlite3* db, int rc, std::string_view component, std::string_view what);

// Runs SQL that returns no rows (one or more statements); errors worded as error().
[[nodiscard]] Status exec(sqlite3* db, const std::string& sql, std::string_view component,
                          std::string_view what);

// A prepared statement; finalised on destruction. Binds go to parameters 1, 2, ... in call order
// (numbered parameters ?N take index N, so binding in order fills them too). Times are stored as
// milliseconds since the epoch (toMillis).
class Stmt {
 public:
  // `component` names the owner in error messages ("catalog", "spool", ...).
  Stmt(sqlite3* db, std::string_view sql, std::string_view component);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool prepared() const { return rc_ == SQLITE_OK; }
  // Success when prepared, else the prepare failure as error() words it.
  [[nodiscard]] Status checkPrepared(std::string_view what) const;
  [[nodiscard]] Error error(int rc, std::string_view what) const;

  // Text is copied into the statement.
  Stmt& bind(std::string_view v);
  Stmt& bind(const std::string& v) { return bind(std::string_view(v)); }
  Stmt& bind(const char* v) { return bind(std::string_view(v)); }
  // Text is NOT copied: the caller keeps it alive until the statement is stepped and reset (for
  // hot paths whose values outlive the execution anyway).
  Stmt& bindRef(std::string_view v);
  Stmt& bind(std::int64_t v);
  Stmt& bind(int v) { return bind(static_cast<std::int64_t>(v)); }
  Stmt& bind(bool v) { return bind(static_cast<std::int64_t>(v ? 1 : 0)); }
  Stmt& bind(const std::optional<std::int64_t>& v);  // NULL when empty
  Stmt& bind(const std::optional<SystemTime>& t);    // NULL when empty
  Stmt& bindNull();

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step();
  // Executes a statement that returns no rows (a ROW is accepted and ignored), then resets it so
  // that it can run again with fresh binds.
  [[nodiscard]] Status run(std::string_view what);
  // Ready for another execution: clears the bindings and binds from parameter 1 again.
  void reset();

  std::string text(int col) const;  // "" for NULL
  std::int64_t i64(int col) const;
  bool isNull(int col) const;
  std::optional<SystemTime> time(int col) const;
  std::optional<std::int64_t> optI64(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  std::string component_;
  int rc_ = SQLITE_OK;
  int idx_ = 0;
};

}  // namespace ocpvdr::sqlite
