// The lock directory and per-PV lock of replication (see volume_lock.h).
#include "replication/volume_lock.h"

#include <filesystem>

namespace ocpvdr::replication {

namespace fs = std::filesystem;

std::string effectiveLockDir(const config::Config& cfg) {
  if (!cfg.replication.lockDir.empty()) return cfg.replication.lockDir;
  fs::path dir = fs::path(cfg.catalog.path).parent_path();
  return ((dir.empty() ? fs::path(".") : dir) / "locks").string();
}

Result<FileLock> lockVolume(const config::Config& cfg, std::string_view pv,
                            std::chrono::milliseconds wait, Clock& clock, std::stop_token stop) {
  return FileLock::acquire(effectiveLockDir(cfg), pv, wait, clock, std::move(stop));
}

}  // namespace ocpvdr::replication
