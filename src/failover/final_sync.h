// The planned failover's final sync, first part: what the sync would change, as rsync itself
// reports it (`--dry-run` with the itemized change list), logged before the real sync runs.
//
// The command is replication's own (replication::buildRsyncArgv with the configured options and
// the Replicator's ssh command), plus --dry-run: the list shows exactly what the real sync that
// follows (Replicator::syncPv) transfers or deletes. Itemize format (rsync 3.x `-i`):
// "YXcstpoguax path" with Y in <>ch.* and X in fdLDS, or "*deleting   path".
#pragma once

#include <cstdint>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/json_util.h"
#include "core/process.h"
#include "core/result.h"
#include "replication/path_map.h"
#include "replication/ssh.h"

namespace ocpvdr::failover {

struct DryRunDiff {
  std::vector<std::string> argv;
  std::int64_t changes = 0;         // itemized lines (transfers, attribute changes, creations)
  std::int64_t deletions = 0;       // "*deleting" lines
  std::vector<std::string> sample;  // the first lines, for the log and the journal
  Json toJson() const;
};

// True for an itemize line.
bool isItemizeLine(std::string_view line);

// Runs rsync --dry-run for one volume. A non-zero rsync exit is an error carrying rsync's
// stderr (the caller logs it as a warning: the real sync decides).
[[nodiscard]] Result<DryRunDiff> dryRunDiff(
    const config::Config& cfg, const replication::SshCommand& ssh, ProcessRunner& runner,
    const replication::VolumePaths& paths, std::size_t sampleLines = 20, std::stop_token stop = {});

}  // namespace ocpvdr::failover
