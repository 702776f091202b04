// extent/watch.h — change detection on the primary NFS host (issue 16, docs/continuous.md):
// `ocpv-dr-mover watch --root R [--root R2 ...] --settle MS --cap MS`, started by serve over ssh
// and left running; it tells serve which PV directories changed, as line records on stdout.
//
// Notices: fanotify with FAN_MARK_FILESYSTEM and FAN_REPORT_DFID_NAME (one mark per file system;
// each event names its directory by file handle, mapped with open_by_handle_at against the root's
// descriptor), or — where fanotify is unavailable (no CAP_SYS_ADMIN, old kernel) — one inotify
// watch per directory, added recursively and for every directory created or moved in later
// (FACTS §11). The kernel NFS server writes through the VFS, so both see its writes.
//
// Mapping: a change belongs to the PV directory it falls in, the first path component under a
// root. The mover's own state (<root>/.ocpv-dr/), the root directory itself and anything outside
// every root are ignored.
//
// Folding (lsyncd's delay rules): per (root, PV dir), a fold opens at the first change and is
// flushed when no change came for `settle`, or `cap` after it opened while changes continue; the
// next change opens a new fold. The record carries the wall time of the fold's first change: a
// recovery point whose snapshot started after it contains every write of the fold.
//
// Records on stdout, one line each, fields separated by one space; roots and names are
// escaped with %XX for bytes <= 0x20, '%' and 0x7f (escapeField):
//   OCPVDR-WATCH ready backend=<fanotify|inotify> roots=<n>
//   OCPVDR-WATCH rescan <root> <reason>          start | overflow | lost-mark | watch-limit
//   OCPVDR-WATCH changed <root> <pvdir> <epoch-ns of the fold's first change>
//   OCPVDR-WATCH heartbeat <epoch-ns>
// "rescan" means "anything under this root may have changed": it is printed once the marks are
// in place at start (what happened before is unknown), after a queue overflow, when a root's
// mark was lost (the root was replaced or unmounted; it is marked again) and when inotify runs
// out of watches. Never "nothing changed". The heartbeat lets the reader tell a quiet primary
// from a dead channel; a failed write (the reader is gone) ends the watcher.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace ocpvdr::extent {

enum class WatchBackend { Auto, Fanotify, Inotify };

struct WatchOptions {
  std::vector<std::string> roots;
  std::chrono::milliseconds settle{2000};
  std::chrono::milliseconds cap{30'000};
  std::chrono::milliseconds heartbeat{5000};
  WatchBackend backend = WatchBackend::Auto;
};

// Runs until writing to `outFd` fails (the reader is gone: Ok) or an error that leaves no way to
// watch (Terminal/NotFound/Refused).
[[nodiscard]] Status watch(const WatchOptions& o, int outFd);

// Folds change notices per (root index, PV dir). Times are nanoseconds: `mono` on a monotonic
// clock for the settle/cap rules, `wall` since the Unix epoch for the record.
class ChangeFolder {
 public:
  ChangeFolder(std::chrono::milliseconds settle, std::chrono::milliseconds cap)
      : settleNs_(settle.count() * 1'000'000), capNs_(cap.count() * 1'000'000) {}

  struct Due {
    std::size_t root = 0;
    std::string pvdir;
    std::int64_t firstWallNs = 0;
  };

  void note(std::size_t root, const std::string& pvdir, std::int64_t monoNs, std::int64_t wallNs);
  // Removes and returns the folds due at `monoNs` (quiet for settle, or open for cap).
  std::vector<Due> takeDue(std::int64_t monoNs);
  // Monotonic time of the next fold to come due, if any fold is open.
  std::optional<std::int64_t> nextDue() const;
  std::size_t open() const { return folds_.size(); }

 private:
  struct Fold {
    std::int64_t firstMono = 0, lastMono = 0, firstWall = 0;
  };
  std::int64_t settleNs_, capNs_;
  std::map<std::pair<std::size_t, std::string>, Fold> folds_;
};

// The PV directory a path falls in: the first component of `path` below `root` ("" when `path`
// is the root itself, lies outside it, or the component is the mover's state dir .ocpv-dr).
// Both absolute and lexically normal.
std::string pvDirOf(std::string_view root, std::string_view path);

std::string escapeField(std::string_view s);
// Inverse of escapeField; nullopt on a malformed escape.
std::optional<std::string> unescapeField(std::string_view s);

// One parsed record line (what serve reads).
struct WatchRecord {
  enum class Type { Ready, Rescan, Changed, Heartbeat } type = Type::Heartbeat;
  std::string root, pvdir, reason, backend;
  std::int64_t timeNs = 0;
};
// nullopt for a line that is not a well-formed OCPVDR-WATCH record.
std::optional<WatchRecord> parseWatchRecord(std::string_view line);

}  // namespace ocpvdr::extent
