// The work key of an object that travels primary → DR: "pv/<name>" for a PersistentVolume,
// "snap/<namespace>/<name>" for a VolumeSnapshot. The engine's work queue, the catalog's run
// items and the delete breaker name objects this way.
#pragma once

#include <string>
#include <string_view>

namespace ocpvdr::events {

inline constexpr std::string_view kPvKeyPrefix = "pv/";
inline constexpr std::string_view kSnapshotKeyPrefix = "snap/";

std::string pvKey(std::string_view name);
std::string snapshotKey(std::string_view ns, std::string_view name);

bool isPvKey(std::string_view key);
bool isSnapshotKey(std::string_view key);
// "PersistentVolume" for a pv/ key, "VolumeSnapshot" for a snap/ key, "" for anything else.
std::string_view kindOfKey(std::string_view key);

}  // namespace ocpvdr::events
