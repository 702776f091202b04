// extent/manifest.h — a cheap digest of a live PV directory, for the reconcile's full pass
// (issue 16 item 3): `ocpv-dr-mover manifest` prints one digest per PV directory of an export
// root in ONE session, and DR compares each with the digest the sender recorded with the PV's
// newest point. Equal digests: nothing the extent mover would ship has changed; different or
// missing: run a cycle.
//
// What goes into a PV's digest (SHA-256, version-prefixed, entries in the walk order of
// extent/snapshot.h — sorted names, pre-order, nothing followed through a symlink): per entry
// its relative path, type, inode number, mode, owner, size, mtime and ctime (both in ns), a
// symlink's target, and for a regular file a summary of its extent map (FS_IOC_FIEMAP with
// FIEMAP_FLAG_SYNC: logical, physical, length, flags without FIEMAP_EXTENT_SHARED — the sender's
// own reflink snapshot sets SHARED on the live file's extents and must not read as a change).
// Not the atime: reading is not a change. A write, truncate, rename, chmod/chown, a new or removed
// file all change ctime, size, inode or the map; an in-place overwrite within one timestamp tick
// still moves the overwritten range to new blocks while the base snapshot shares them
// (copy-on-write), so the map changes too. The deep verify (`points verify`, checksums of both
// ends) stays the backstop for what metadata cannot see.
//
// Cost: one fstatat per entry and one open + FIEMAP per regular file; memory is one directory's
// sorted names per level of the walk and a fixed FIEMAP buffer — nothing grows with the number of
// PVs (each PV's line is printed as soon as its walk ends).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/result.h"

namespace ocpvdr::extent {

// The digest format; a changed algorithm changes the prefix, so digests of two mover versions
// never compare equal (a cycle, never a missed change).
inline constexpr const char* kDigestVersion = "m1";

struct PvDigest {
  std::string digest;  // "m1:<64 hex>"
  uint64_t files = 0, dirs = 0, links = 0, other = 0;
  uint64_t bytes = 0;    // sum of regular files' sizes
  uint64_t extents = 0;  // FIEMAP records hashed
};

// The digest of the resolved directory `dir` (see above). An entry that vanishes during the walk
// is left out (the digest then differs from the next one: a cycle, never a missed change).
[[nodiscard]] Result<PvDigest> digestDirectory(const std::string& dir);

// One PV of a manifest request: its name (as in the snapshot area) and its directory (absolute,
// or relative to the export root).
struct ManifestItem {
  std::string pv;
  std::string dir;
};

// Parses "NAME" (directory <root>/NAME) or "NAME=DIR" (DIR absolute or relative to root).
[[nodiscard]] Result<ManifestItem> parseManifestItem(const std::string& arg);

// Writes one line per item to out, in the order given, each flushed when its walk ends:
//   OCPVDR-MANIFEST pv=NAME state=ok digest=m1:… files=N dirs=N links=N bytes=N extents=N
//   OCPVDR-MANIFEST pv=NAME state=<missing|escape|notdir|error> why=<rest of line>
// and a last line "OCPVDR-MANIFEST end pvs=N ok=N" (absent when the session broke off: DR treats
// every PV without an ok line as changed). The same confinement as the sender's guard: a PV
// directory must resolve strictly under the resolved root and outside <root>/.ocpv-dr.
// items empty: every directory directly under root (names not starting with '.'), sorted.
[[nodiscard]] Status writeManifest(const std::string& root, std::vector<ManifestItem> items,
                                   std::FILE* out);

// DR side: the fields of one manifest line; false when the line is not one.
struct ManifestLine {
  std::string pv, state, digest, why;
  bool end = false;
};
[[nodiscard]] bool parseManifestLine(const std::string& line, ManifestLine* out);

}  // namespace ocpvdr::extent
