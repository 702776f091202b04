// Spool: the forwarder's durable state, one SQLite database (<spool_dir>/forwarder.db, WAL):
//   events       spooled events not yet acknowledged by the webhook (seq, key, uid, id, kind,
//                type, body = the exact POST body)
//   objects      the checkpoint per object: uid, resourceVersion and the full object as last
//                observed (the object rides along so that a deletion noticed after a restart is
//                forwarded with the object's last state, not a stub)
//   watches      the checkpoint per watch: the resourceVersion of the newest change committed
//
// commit() writes one batch — new and folded events, deletions of acknowledged or compacted
// events, checkpoint updates — in ONE transaction: a change is in the checkpoint exactly when its
// event is in the spool (or was acknowledged), whatever the crash point. synchronous=NORMAL in WAL
// mode survives a killed process; a power loss can drop the last commits, but it drops their
// spool rows and checkpoint rows together, and the restart's list diff finds those changes again.
//
// The writer object is used from one thread (the forwarder's committer). Senders and the watch
// threads read through SpoolReader objects, one per thread (WAL lets them read concurrently).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "events/payload.h"

namespace ocpvdr::forwarder {

// The change and its wire form are the event format (events/payload.h).
using events::Change;
using events::ChangeType;
using events::ObjectMeta;

struct SpoolRow {
  std::int64_t seq = 0;
  std::string key, uid, id, kind;
  ChangeType type = ChangeType::Added;
  std::string body;  // empty when listed without bodies
};

struct CheckpointEntry {
  std::string kind;       // "PersistentVolume" | "VolumeSnapshot"
  std::string key;        // changeKey()
  std::string objectKey;  // the reflector's key: "name" or "ns/name"
  std::string uid, resourceVersion;
  std::string object;  // JSON text
};

struct SpoolBatch {
  std::vector<SpoolRow> upserts;      // new rows and folded rows (replaced by seq)
  std::vector<std::int64_t> deletes;  // acknowledged, dead-lettered or compacted
  std::vector<CheckpointEntry> objectUpserts;
  std::vector<std::string> objectDeletes;  // keys
  std::map<std::string, std::string> watchVersions;
  bool empty() const {
    return upserts.empty() && deletes.empty() && objectUpserts.empty() && objectDeletes.empty() &&
           watchVersions.empty();
  }
};

namespace detail {
struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
}  // namespace detail

class SpoolReader {
 public:
  ~SpoolReader();
  SpoolReader(const SpoolReader&) = delete;
  SpoolReader& operator=(const SpoolReader&) = delete;

  // The body of a spooled event; nullopt when the row is gone.
  [[nodiscard]] Result<std::optional<std::string>> body(std::int64_t seq);
  // A checkpointed object by key; nullopt when not in the checkpoint.
  [[nodiscard]] Result<std::optional<CheckpointEntry>> object(const std::string& key);

 private:
  friend class Spool;
  explicit SpoolReader(detail::DbPtr db, std::string path)
      : db_(std::move(db)), path_(std::move(path)) {}
  detail::DbPtr db_;
  std::string path_;
  sqlite3_stmt* bodyStmt_ = nullptr;  // prepared once: one read per event sent
};

class Spool {
 public:
  // Creates the directory (mode 0700; an existing one keeps its mode) and the database when
  // missing. Invalid/Terminal with the path and SQLite's message when it cannot.
  [[nodiscard]] static Result<std::unique_ptr<Spool>> open(const std::string& dir);

  const std::string& path() const { return path_; }

  // Rows in seq order, bodies left out.
  [[nodiscard]] Result<std::vector<SpoolRow>> pending();
  [[nodiscard]] Result<std::vector<CheckpointEntry>> checkpoint(bool withObjects = false);
  [[nodiscard]] Result<std::map<std::string, std::string>> watchVersions();
  [[nodiscard]] Result<std::int64_t> count();

  [[nodiscard]] Status commit(const SpoolBatch& batch);

  [[nodiscard]] Result<std::unique_ptr<SpoolReader>> reader() const;

 private:
  Spool(detail::DbPtr db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}
  detail::DbPtr db_;
  std::string path_;
};

}  // namespace ocpvdr::forwarder
