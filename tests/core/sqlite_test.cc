// The SQLite wrapper (core/sqlite.h): typed binds and reads round-trip, NULLs stay NULL, times
// keep millisecond precision, and result codes map to the Error kinds callers act on.
#include "core/sqlite.h"

#include <gtest/gtest.h>

#include <memory>

namespace ocpvdr::sqlite {
namespace {

using namespace std::chrono;

struct Db {
  sqlite3* db = nullptr;
  Db() { EXPECT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK); }
  ~Db() { sqlite3_close(db); }
};

TEST(SqliteTest, MillisRoundTripDropsSubMillisecondsOnly) {
  const SystemTime t{milliseconds{1'795'993'941'123} + microseconds{999}};
  EXPECT_EQ(toMillis(t), 1'795'993'941'123);
  EXPECT_EQ(fromMillis(toMillis(t)), SystemTime{milliseconds{1'795'993'941'123}});
  EXPECT_EQ(toMillis(fromMillis(-1)), -1);  // before the epoch
}

TEST(SqliteTest, BindsAndReadsRoundTrip) {
  Db d;
  ASSERT_TRUE(exec(d.db, "CREATE TABLE t(s TEXT, i INTEGER, b INTEGER, o INTEGER, w INTEGER)",
                   "test", "creating")
                  .ok());
  const SystemTime when{milliseconds{1'700'000'000'042}};
  Stmt ins(d.db, "INSERT INTO t VALUES(?, ?, ?, ?, ?)", "test");
  ASSERT_TRUE(ins.checkPrepared("preparing").ok());
  ins.bind(std::string_view("a\0b", 3))
      .bind(std::int64_t{1} << 40)
      .bind(true)
      .bind(std::optional<std::int64_t>{})
      .bind(std::optional<SystemTime>{when});
  ASSERT_TRUE(ins.run("inserting").ok());
  // run() reset the statement: the same binds again from parameter 1.
  ins.bind("").bind(-7).bind(false).bind(std::optional<std::int64_t>{5}).bindNull();
  ASSERT_TRUE(ins.run("inserting again").ok());

  Stmt q(d.db, "SELECT s, i, b, o, w FROM t ORDER BY rowid", "test");
  ASSERT_EQ(q.step(), SQLITE_ROW);
  EXPECT_EQ(q.text(0), std::string("a\0b", 3));  // embedded NUL kept
  EXPECT_EQ(q.i64(1), std::int64_t{1} << 40);
  EXPECT_EQ(q.i64(2), 1);
  EXPECT_TRUE(q.isNull(3));
  EXPECT_EQ(q.optI64(3), std::nullopt);
  EXPECT_EQ(q.time(4), when);
  ASSERT_EQ(q.step(), SQLITE_ROW);
  EXPECT_EQ(q.text(0), "");
  EXPECT_FALSE(q.isNull(0));
  EXPECT_EQ(q.i64(1), -7);
  EXPECT_EQ(q.optI64(3), 5);
  EXPECT_EQ(q.time(4), std::nullopt);
  EXPECT_EQ(q.step(), SQLITE_DONE);
}

TEST(SqliteTest, ErrorsNameTheOwnerAndKeepTheirKind) {
  Db d;
  Stmt bad(d.db, "SELECT * FROM missing", "spool");
  EXPECT_FALSE(bad.prepared());
  Status s = bad.checkPrepared("reading events");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::Terminal);
  EXPECT_EQ(s.error().message.rfind("spool: reading events: no such table: missing", 0), 0u)
      << s.error().message;

  EXPECT_EQ(error(nullptr, SQLITE_BUSY, "catalog", "x").kind, ErrorKind::Retryable);
  EXPECT_EQ(error(nullptr, SQLITE_BUSY_SNAPSHOT, "catalog", "x").kind, ErrorKind::Retryable);
  EXPECT_EQ(error(nullptr, SQLITE_LOCKED, "catalog", "x").kind, ErrorKind::Retryable);
  EXPECT_EQ(error(nullptr, SQLITE_CORRUPT, "catalog", "x").kind, ErrorKind::Terminal);
  EXPECT_EQ(error(nullptr, SQLITE_FULL, "catalog", "x").kind, ErrorKind::Terminal);

  Status e = exec(d.db, "CREATE TABLE t(a); CREATE TABLE t(a)", "journal", "creating");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message, "journal: creating: table t already exists");
}

}  // namespace
}  // namespace ocpvdr::sqlite
