// The locks of replication that other modules take part in, so they never rebuild its lock names
// or folders: the lock directory and the lock a sync or delete of one PV holds (lock.h).
#pragma once

#include <chrono>
#include <stop_token>
#include <string>
#include <string_view>

#include "config/config.h"
#include "core/clock.h"
#include "core/result.h"
#include "replication/lock.h"

namespace ocpvdr::replication {

// replication.lock_dir, or <directory of catalog.path>/locks when empty.
std::string effectiveLockDir(const config::Config& cfg);

// The per-PV lock every sync and delete of PV `pv` holds. Taking it waits out a sync of that PV
// that is running (up to `wait`, then Retryable "busy"); while held, no sync of it starts.
[[nodiscard]] Result<FileLock> lockVolume(const config::Config& cfg, std::string_view pv,
                                          std::chrono::milliseconds wait, Clock& clock,
                                          std::stop_token stop = {});

}  // namespace ocpvdr::replication
