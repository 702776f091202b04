// `ocpv-dr catalog check|backup|restore`: the catalog's integrity check, its online backup copy
// and putting that copy back (wiring only; logic in catalog/backup).
#include <iostream>
#include <memory>

#include "catalog/backup.h"
#include "catalog/catalog.h"
#include "cli/commands.h"
#include "config/config.h"
#include "core/clock.h"

namespace ocpvdr::cli {
namespace {

struct CatalogArgs {
  std::string to, from;
  bool force = false;
};

int emit(const Json& doc, int code) {
  std::cout << doc.dump() << std::endl;
  return code;
}

// Same document shape as the other JSON verbs; the message also goes to stderr.
int emitError(const std::string& action, const Error& e) {
  std::cerr << "ocpv-dr: " << e.describe() << "\n";
  return emit(Json{{"action", action},
                   {"result", "failed"},
                   {"changed", false},
                   {"error", {{"kind", std::string(toString(e.kind))}, {"message", e.message}}}},
              exitCodeFor(e.kind));
}

}  // namespace

void registerCatalog(CLI::App& app, GlobalOptions& g, Outcome& out) {
  auto* cmd = app.add_subcommand(
      "catalog", "The DR catalog file: integrity check, backup copy, restore from the copy");
  cmd->require_subcommand(1);
  auto a = std::make_shared<CatalogArgs>();

  auto* check = cmd->add_subcommand(
      "check", "quick_check the catalog and its backup copy (JSON); exit 5 when corrupt");
  check->callback([&g, &out] {
    auto cfg = config::loadConfig(g.configPath);
    if (!cfg.ok()) return void(out.exitCode = emitError("catalog check", cfg.error()));
    const std::string& path = cfg->catalog.path;
    auto current = catalog::checkCatalogFile(path);
    if (!current.ok()) return void(out.exitCode = emitError("catalog check", current.error()));
    auto backup = catalog::checkCatalogFile(catalog::defaultBackupPath(path));
    Json doc{{"action", "catalog check"},
             {"changed", false},
             {"catalog", current->toJson()},
             {"backup", backup.ok() ? backup->toJson() : Json{{"error", backup.error().message}}},
             {"error", nullptr}};
    if (current->exists && !current->ok) {
      Error e = catalog::corruptCatalogError(path, current->findings);
      std::cerr << "ocpv-dr: " << e.describe() << "\n";
      doc["result"] = "corrupt";
      doc["error"] = {{"kind", std::string(toString(e.kind))}, {"message", e.message}};
      return void(out.exitCode = emit(doc, exitCodeFor(e.kind)));
    }
    doc["result"] = current->exists ? "ok" : "missing";
    out.exitCode = emit(doc, 0);
  });

  auto* backup = cmd->add_subcommand(
      "backup", "Write an online backup copy of the catalog (default <catalog.path>.backup)");
  backup->add_option("--to", a->to, "Write the copy here instead");
  backup->callback([a, &g, &out] {
    auto cfg = config::loadConfig(g.configPath);
    if (!cfg.ok()) return void(out.exitCode = emitError("catalog backup", cfg.error()));
    auto cat = catalog::Catalog::open(cfg->catalog.path);
    if (!cat.ok()) return void(out.exitCode = emitError("catalog backup", cat.error()));
    const std::string dest = a->to.empty() ? catalog::defaultBackupPath(cfg->catalog.path) : a->to;
    Status s = catalog::backupCatalog(**cat, dest);
    if (!s.ok()) return void(out.exitCode = emitError("catalog backup", s.error()));
    auto written = catalog::checkCatalogFile(dest);
    out.exitCode = emit(Json{{"action", "catalog backup"},
                             {"result", "ok"},
                             {"changed", true},
                             {"catalog", cfg->catalog.path},
                             {"backup", written.ok() ? written->toJson() : Json(dest)},
                             {"error", nullptr}},
                        0);
  });

  auto* restore = cmd->add_subcommand(
      "restore",
      "Put the backup copy in place of the catalog (the current file is moved aside, not "
      "deleted). Stop `ocpv-dr serve` and the AAP jobs first");
  restore->add_option("--from", a->from, "Restore this copy (default <catalog.path>.backup)");
  restore->add_flag("--force", a->force,
                    "Restore although the current catalog passes its check (its newer records "
                    "are lost)");
  restore->callback([a, &g, &out] {
    auto cfg = config::loadConfig(g.configPath);
    if (!cfg.ok()) return void(out.exitCode = emitError("catalog restore", cfg.error()));
    const std::string& path = cfg->catalog.path;
    auto current = catalog::checkCatalogFile(path);
    // A sound catalog holds records newer than any backup: replacing it needs --force.
    if (current.ok() && current->ok && !a->force)
      return void(
          out.exitCode = emitError(
              "catalog restore",
              refusedError("catalog " + path +
                           " passes its integrity check: restoring the backup would lose the "
                           "records written since; give --force to restore anyway")));
    const std::string from = a->from.empty() ? catalog::defaultBackupPath(path) : a->from;
    auto r = catalog::restoreCatalog(path, from, RealClock().now());
    if (!r.ok()) return void(out.exitCode = emitError("catalog restore", r.error()));
    out.exitCode =
        emit(Json{{"action", "catalog restore"},
                  {"result", "restored"},
                  {"changed", true},
                  {"catalog", r->restored.toJson()},
                  {"from", r->from},
                  {"moved_aside", r->movedAside.empty() ? Json(nullptr) : Json(r->movedAside)},
                  {"error", nullptr}},
             0);
  });
}

}  // namespace ocpvdr::cli
