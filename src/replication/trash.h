// The DR trash: where the quarantine delete policy moves a deleted PV's (or snapshot's) DR copy.
//
// Layout, per DR export root (sites.dr.nfs.export_roots[].path):
//   <root>/.ocpv-dr-trash/<UTC yyyymmddThhmmssZ>-<name>/manifest.json
//   <root>/.ocpv-dr-trash/<UTC yyyymmddThhmmssZ>-<name>/data/        the moved directory
// The entry's directory name is its id. manifest.json (written before the move, so a crash never
// leaves data without its origin):
//   {"version":1,"kind":"pv"|"snapshot","pv":..,"uid":..,"namespace":..,"name":..,
//    "original_path":..,"dr_root":..,"time":"<RFC 3339>","reason":..}
// The move is a rename on the same filesystem (instant, no copy). Entries older than
// replication.trash_retention are purged; restore moves data/ back and refuses to overwrite an
// existing directory. Every time comes from the injected Clock.
//
// An entry's age comes from its manifest's time, or, when the manifest cannot be read, from the
// timestamp its id begins with (quarantine names it so). An entry with neither, or whose time
// lies in the future of the clock, has no established age: purging by retention keeps it and
// reports it (PurgeResult::unknownAge); only an explicit `--all` removes it. `ocpv-dr serve`
// purges by retention on its maintenance tick, the scheduled playbook after its reconcile.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::replication {

inline constexpr std::string_view kTrashDirName = ".ocpv-dr-trash";

struct TrashManifest {
  std::string kind = "pv";   // pv | snapshot
  std::string pv, uid;       // pv: the PV; snapshot: the source PV (may be empty)
  std::string ns, name;      // snapshot identity (kind snapshot)
  std::string originalPath;  // DR host path the data came from
  std::string drRoot;        // DR export root host path it lived under
  SystemTime time{};
  std::string reason;
};

struct TrashEntry {
  std::string id;         // directory name
  std::string entryPath;  // <root>/.ocpv-dr-trash/<id>
  std::string dataPath;   // <entryPath>/data
  bool dataPresent = false;
  bool manifestOk = false;
  std::string manifestError;  // why the manifest could not be read
  TrashManifest manifest;
  Json toJson(SystemTime now) const;
  // When the entry was quarantined (manifest, else the id's timestamp); nullopt when neither
  // tells.
  std::optional<SystemTime> quarantinedAt() const;
};

struct PurgeOptions {
  bool all = false;                          // ignore retention
  std::optional<config::Seconds> olderThan;  // instead of replication.trash_retention
};

struct PurgeResult {
  std::vector<TrashEntry> purged;
  std::vector<TrashEntry> kept;        // younger than the limit
  std::vector<TrashEntry> unknownAge;  // kept: no established age (see the header comment)
  // {"purged": n, "kept": n, "unknown_age": [{"id", "path", "why"}]}: what serve logs/reports.
  Json summary(SystemTime now) const;
};

class Trash {
 public:
  Trash(const config::Config& cfg, Clock& clock) : cfg_(cfg), clock_(clock) {}

  // Moves `dirReal` (already resolved and confined under `drRootReal`) into that root's trash.
  [[nodiscard]] Result<TrashEntry> quarantine(const std::string& drRootReal,
                                              const std::string& dirReal, TrashManifest manifest);
  // Every entry under every DR export root, oldest first.
  [[nodiscard]] Result<std::vector<TrashEntry>> list() const;
  // Moves an entry's data back to its original path. Conflict when something exists there,
  // NotFound for an unknown id, Refused when the manifest's path is not under the entry's root.
  [[nodiscard]] Result<TrashEntry> restore(std::string_view id);
  [[nodiscard]] Result<PurgeResult> purge(const PurgeOptions& opts);

 private:
  const config::Config& cfg_;
  Clock& clock_;
};

}  // namespace ocpvdr::replication
