// `ocpv-dr status`: per-PV replica state and current RPO from the catalog (wiring only; logic in
// engine/replica_status.*), and the DR-active state a failover sets. A table, or --json.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/handler_wiring.h"
#include "cli/test_hooks.h"
#include "engine/replica_status.h"

namespace ocpvdr::cli {

void registerStatus(CLI::App& app, GlobalOptions& g, Outcome& out) {
  struct Args {
    bool json = false;
    std::string now;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "status",
      "Per-PV last successful sync and current RPO (now - last success) from the catalog");
  cmd->add_flag("--json", a->json, "One JSON document instead of the table");
  cmd->add_option("--now", a->now, "")->group("");  // tests: pin the wall clock (RFC 3339)
  cmd->callback([a, &g, &out] {
    auto env = openHandlerEnv(g.configPath, pinnedNow(a->now));
    if (!env.ok()) {
      std::cerr << "ocpv-dr status: " << env.error().message << "\n";
      out.exitCode = exitCodeFor(env.error().kind);
      return;
    }
    auto& e = **env;
    const auto now = e.clock->now();
    auto rows = engine::replicaStatuses(*e.catalog, now, e.config.replication.rpoTarget);
    if (!rows.ok()) {
      std::cerr << "ocpv-dr status: " << rows.error().message << "\n";
      out.exitCode = exitCodeFor(rows.error().kind);
      return;
    }
    auto active = e.catalog->drActive();
    if (!active.ok()) {
      std::cerr << "ocpv-dr status: " << active.error().message << "\n";
      out.exitCode = exitCodeFor(active.error().kind);
      return;
    }
    if (a->json) {
      Json doc = engine::statusJson(*rows, now, e.config.replication.rpoTarget);
      doc["dr_active"] = catalog::drActiveJson(*active);
      std::cout << doc.dump(2) << "\n";
    } else {
      if (*active) std::cout << "DR ACTIVE: " << catalog::drActiveMessage(**active) << "\n\n";
      std::cout << engine::statusTable(*rows, e.config.replication.rpoTarget);
    }
    out.exitCode = 0;
  });
}

}  // namespace ocpvdr::cli
