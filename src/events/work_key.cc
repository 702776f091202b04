// Work keys (see work_key.h).
#include "events/work_key.h"

namespace ocpvdr::events {

std::string pvKey(std::string_view name) {
  return std::string(kPvKeyPrefix) + std::string(name);
}

std::string snapshotKey(std::string_view ns, std::string_view name) {
  return std::string(kSnapshotKeyPrefix) + std::string(ns) + "/" + std::string(name);
}

bool isPvKey(std::string_view key) {
  return key.substr(0, kPvKeyPrefix.size()) == kPvKeyPrefix;
}

bool isSnapshotKey(std::string_view key) {
  return key.substr(0, kSnapshotKeyPrefix.size()) == kSnapshotKeyPrefix;
}

std::string_view kindOfKey(std::string_view key) {
  if (isPvKey(key)) return "PersistentVolume";
  if (isSnapshotKey(key)) return "VolumeSnapshot";
  return "";
}

}  // namespace ocpvdr::events
