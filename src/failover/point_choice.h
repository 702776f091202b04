// `failover plan|run --point latest|<RFC 3339>`: which recovery point (extent mover, issue 15)
// each failed-over PV is brought to ("the last good state before the ransomware").
//
// The spec is kept in the run's options (resume reuses it). Per PV: `latest` picks the newest
// point; a time picks the newest point whose data time is at or before it
// (catalog::PointStore::latestAtOrBefore). A PV without any point keeps today's behaviour: its
// DR directory is used as it is (the plan says so). A PV whose points are all newer than the
// time is a problem (refused): a newer point may hold exactly the damage the time was chosen
// to avoid. No spec (the default): no point is chosen, the DR directories are used as they are.
//
// apply-volumes (after DR is active, so no replication cycle writes the DR directory any more)
// puts the chosen point in place by reflink (extent::materialize: per file atomic, the points
// stay) and journals the choice in its step details.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::failover {

// latest-consistent (issue 17): per consistency group (catalog PointRecord::group), the newest
// point id that EVERY PV of the group has and that is application-consistent on all of them —
// so all VMs of the group come back from one instant; when there is none, the newest common
// crash-consistent point, else each PV's newest, with a warning ("warning" in the entry). PVs of
// no group get their newest point, with a warning.
inline constexpr std::string_view kLatestConsistent = "latest-consistent";

// "" (no choice), "latest", "latest-consistent" or an RFC 3339 time; Invalid otherwise.
[[nodiscard]] Status validatePointSpec(std::string_view spec);

struct PointTarget {
  std::string pv;
  std::string drHostPath;  // the DR PV directory the point is put into
};

// Per PV: {"pv", "point" (id or null), "dataTime", "dataAgeSeconds", "newest", "consistency",
// "group", "tree", "target", "note", "warning"}. `problems` gets one line per PV whose points are
// all newer than the time.
[[nodiscard]] Result<Json> choosePoints(catalog::Catalog& catalog, std::string_view spec,
                                        const std::vector<PointTarget>& targets, SystemTime now,
                                        std::vector<std::string>& problems);

// Per group of `chosen` (choosePoints' answer): {"group", "point", "consistency", "pvs"} — what
// the plan shows per VM / application group.
Json pointGroups(const Json& chosen);

// Brings each chosen PV's DR directory to its point (extent::materialize). `chosen` is what
// choosePoints returned; each entry gains "materialized" {filesCloned, filesUnchanged, removed,
// bytesCloned}. Entries without a point are left alone.
[[nodiscard]] Status materializeChosen(Json& chosen);

}  // namespace ocpvdr::failover
