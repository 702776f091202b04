// `ocpv-dr trash list|restore|purge`: the DR trash where quarantined copies wait out their
// retention (wiring only; logic in replication/trash and the Replicator).
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/handler_env.h"
#include "cli/test_hooks.h"
#include "config/config.h"

namespace ocpvdr::cli {
namespace {

struct TrashArgs {
  std::string id, olderThan, now;
  bool all = false;
};

int emitTrash(const Json& doc, int code) {
  std::cout << doc.dump() << std::endl;
  return code;
}

int emitTrashError(const std::string& action, const Error& e) {
  return emitTrash(
      Json{{"action", action},
           {"result", e.kind == ErrorKind::Refused ? "refused" : "failed"},
           {"changed", false},
           {"error", {{"kind", std::string(toString(e.kind))}, {"message", e.message}}}},
      exitCodeFor(e.kind));
}

}  // namespace

void registerTrash(CLI::App& app, GlobalOptions& g, Outcome& out) {
  using namespace replication;
  auto* trash = app.add_subcommand("trash", "Quarantined DR copies: list, restore, purge");
  trash->require_subcommand(1);
  auto a = std::make_shared<TrashArgs>();

  auto* list = trash->add_subcommand("list", "List trash entries (JSON)");
  list->add_option("--now", a->now, "")->group("");
  list->callback([a, &g, &out] {
    auto env = openHandlerEnv(g.configPath, pinnedNow(a->now));
    if (!env.ok()) return void(out.exitCode = emitTrashError("trash list", env.error()));
    auto entries = (*env)->replicator->trash().list();
    if (!entries.ok()) return void(out.exitCode = emitTrashError("trash list", entries.error()));
    Json arr = Json::array();
    for (const auto& e : *entries) arr.push_back(e.toJson((*env)->clock->now()));
    out.exitCode =
        emitTrash(Json{{"action", "trash list"},
                       {"result", "ok"},
                       {"changed", false},
                       {"retention_seconds", (*env)->config.replication.trashRetention.count()},
                       {"entries", arr},
                       {"error", nullptr}},
                  0);
  });

  auto* restore = trash->add_subcommand("restore", "Move an entry's data back to where it was");
  restore->add_option("id", a->id, "Trash entry id (see `trash list`)")->required();
  restore->add_option("--now", a->now, "")->group("");
  restore->callback([a, &g, &out] {
    auto env = openHandlerEnv(g.configPath, pinnedNow(a->now));
    if (!env.ok()) return void(out.exitCode = emitTrashError("trash restore", env.error()));
    auto e = (*env)->replicator->restoreFromTrash(a->id);
    if (!e.ok()) return void(out.exitCode = emitTrashError("trash restore", e.error()));
    out.exitCode = emitTrash(Json{{"action", "trash restore"},
                                  {"result", "restored"},
                                  {"changed", true},
                                  {"id", e->id},
                                  {"pv", e->manifest.pv},
                                  {"destination", e->dataPath},
                                  {"error", nullptr}},
                             0);
  });

  auto* purge = trash->add_subcommand("purge", "Delete entries older than the retention");
  purge->add_flag("--all", a->all, "Purge every entry, whatever its age");
  purge->add_option("--older-than", a->olderThan,
                    "Purge entries older than this (\"2d\", \"12h\") instead of "
                    "replication.trash_retention");
  purge->add_option("--now", a->now, "")->group("");
  purge->callback([a, &g, &out] {
    PurgeOptions o;
    o.all = a->all;
    if (!a->olderThan.empty()) {
      auto d = config::parseDuration(a->olderThan);
      if (!d.ok())
        return void(out.exitCode = emitTrashError("trash purge", d.error().wrap("--older-than")));
      o.olderThan = std::chrono::duration_cast<config::Seconds>(*d);
    }
    auto env = openHandlerEnv(g.configPath, pinnedNow(a->now));
    if (!env.ok()) return void(out.exitCode = emitTrashError("trash purge", env.error()));
    auto r = (*env)->replicator->trash().purge(o);
    if (!r.ok()) return void(out.exitCode = emitTrashError("trash purge", r.error()));
    Json purged = Json::array(), kept = Json::array();
    auto now = (*env)->clock->now();
    for (const auto& e : r->purged) purged.push_back(e.toJson(now));
    for (const auto& e : r->kept) kept.push_back(e.toJson(now));
    out.exitCode = emitTrash(Json{{"action", "trash purge"},
                                  {"result", r->purged.empty() ? "unchanged" : "purged"},
                                  {"changed", !r->purged.empty()},
                                  {"purged", purged},
                                  {"kept", kept},
                                  {"unknown_age", r->summary(now)["unknown_age"]},
                                  {"error", nullptr}},
                             0);
  });
}

}  // namespace ocpvdr::cli
