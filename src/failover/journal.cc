// The failover workflow's reading of its journal (see journal.h).
#include "failover/journal.h"

namespace ocpvdr::failover {

bool changedDr(const FailoverRunRecord& run) {
  // Steps are journaled "started" before they act, so a started row is enough.
  static const char* kDrChanging[] = {"apply-volumes", "restore", "start-vms"};
  for (const char* name : kDrChanging)
    if (run.step(name) != nullptr) return true;
  return false;
}

}  // namespace ocpvdr::failover
