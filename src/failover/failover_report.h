// The failover report: what a run did and achieved, built from its journal only (so `ocpv-dr
// failover report` can render any past run), as JSON, Markdown and a self-contained HTML page.
//
// Contents: the timeline of steps (start, end, duration, attempts, state, error), each VM's final
// state at DR, each PV's data age at failover (achieved RPO), the recovery time (RTO = the first
// step's start → the moment every VM was Running and ready), and every warning.
// Data age per PV: planned — 0 s when its final sync succeeded after the VMs were stopped (DR
// then holds everything written); unplanned — failover time − the last successful sync's end
// recorded in the catalog (null when never synced).
#pragma once

#include <string>
#include <vector>

#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"
#include "failover/journal.h"

namespace ocpvdr::failover {

// The report document (docs/failover.md lists the fields). `now` closes steps still running.
Json buildReport(const FailoverRunRecord& run, SystemTime now);

std::string renderMarkdown(const Json& report);
std::string renderHtml(const Json& report);

// Writes report.json, report.md and report.html into `dir` (created); returns the paths.
[[nodiscard]] Result<std::vector<std::string>> writeReportFiles(const Json& report,
                                                                const std::string& dir);

}  // namespace ocpvdr::failover
