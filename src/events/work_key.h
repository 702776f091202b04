// The work key of an object that travels primary → DR: "pv/<name>" for a PersistentVolume,
// "snap/<namespace>/<name>" for a VolumeSnapshot. The engine's work queue, the catalog's run
// items and the delete breaker (replication) name objects this way. Header-only, so a module
// that only names keys (replication) includes it without linking the events library.
#pragma once

#include <string>
#include <string_view>

namespace ocpvdr::events {

inline constexpr std::string_view kPvKeyPrefix = "pv/";
inline constexpr std::string_view kSnapshotKeyPrefix = "snap/";

inline std::string pvKey(std::string_view name) {
  return std::string(kPvKeyPrefix) + std::string(name);
}

inline std::string snapshotKey(std::string_view ns, std::string_view name) {
  return std::string(kSnapshotKeyPrefix) + std::string(ns) + "/" + std::string(name);
}

inline bool isPvKey(std::string_view key) {
  return key.substr(0, kPvKeyPrefix.size()) == kPvKeyPrefix;
}

inline bool isSnapshotKey(std::string_view key) {
  return key.substr(0, kSnapshotKeyPrefix.size()) == kSnapshotKeyPrefix;
}

// "PersistentVolume" for a pv/ key, "VolumeSnapshot" for a snap/ key, "" for anything else.
inline std::string_view kindOfKey(std::string_view key) {
  if (isPvKey(key)) return "PersistentVolume";
  if (isSnapshotKey(key)) return "VolumeSnapshot";
  return "";
}

}  // namespace ocpvdr::events
