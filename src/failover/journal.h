// The failover journal: one row per failover run and one per step of it, kept in the DR catalog
// (catalog/failover_journal.h holds the records and their storage).
//
// The workflow writes a step "started" before it acts and "done" (with its details JSON) when it
// has finished, so after a crash the journal says exactly which steps are finished (never
// redone) and which one was cut short (redone: every step is idempotent).
#pragma once

#include "catalog/failover_journal.h"

namespace ocpvdr::failover {

using catalog::FailoverRunRecord;
using catalog::StepRecord;
using catalog::StepState;
using Journal = catalog::FailoverJournal;

// Whether a step that changes the DR cluster (apply-volumes and later) has started.
bool changedDr(const FailoverRunRecord& run);

}  // namespace ocpvdr::failover
