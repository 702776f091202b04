// `ocpv-dr backup list [--json]` and `ocpv-dr backup show NAME [--objects] [--json]`: the OADP
// (Velero) backups in the configured object store. Wiring only: the S3 client, discovery and the
// reports live in src/failover (docs/backups.md describes the output).
#include <iostream>
#include <memory>

#include "backup/backup_report.h"
#include "cli/commands.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/curl_http.h"
#include "s3/s3_credentials.h"
#include "s3/s3_object_store.h"

namespace ocpvdr::cli {
namespace {

struct BackupArgs {
  bool json = false;
  bool objects = false;
  std::string name;
};

// Builds the store from the configuration and runs `body` with discovery over it.
template <class Body>
void withDiscovery(const GlobalOptions& g, bool json, Outcome& out, Body body) {
  auto cfg = config::loadConfig(g.configPath);
  if (!cfg.ok()) return reportFailure(cfg.error(), json, out);
  const config::BackupStore& bs = cfg->backupStore;
  auto options = s3::s3OptionsFromConfig(bs);
  if (!options.ok()) return reportFailure(options.error(), json, out);
  auto creds = s3::loadCredentials(bs.credentialsFile, bs.profile, s3::processEnv());
  if (!creds.ok()) return reportFailure(creds.error(), json, out);
  CurlHttpClient http(s3::tlsOptionsFromConfig(bs));
  RealClock clock;
  auto store = s3::S3ObjectStore::create(*options, *creds, http, clock);
  if (!store.ok()) return reportFailure(store.error(), json, out);
  backup::BackupDiscovery discovery(**store, bs.prefix);
  auto report = body(discovery, (*store)->describe());
  if (!report.ok()) return reportFailure(report.error(), json, out);
  out.exitCode = 0;
}

}  // namespace

void registerBackup(CLI::App& app, GlobalOptions& g, Outcome& out) {
  auto* cmd = app.add_subcommand("backup", "OADP (Velero) backups in the configured object store");
  cmd->require_subcommand(1);
  cmd->fallthrough();
  auto args = std::make_shared<BackupArgs>();

  auto* list = cmd->add_subcommand(
      "list", "List backups: Completed ones newest first (the first is \"latest\"), then the rest");
  list->add_flag("--json", args->json, "Print the JSON document instead of a table");
  list->callback([&g, &out, args] {
    withDiscovery(g, args->json, out, [&](backup::BackupDiscovery& d, const std::string& where) {
      auto r = backup::backupListReport(d, where);
      if (r.ok()) std::cout << (args->json ? r->dump(2) + "\n" : backup::renderBackupList(*r));
      return r;
    });
  });

  auto* show = cmd->add_subcommand("show", "Show one backup; --objects also reads its tarball");
  show->add_option("NAME", args->name, "Backup name")->required();
  show->add_flag("--objects", args->objects,
                 "Download the tarball to a temporary file and list what it holds");
  show->add_flag("--json", args->json, "Print the JSON document instead of text");
  show->callback([&g, &out, args] {
    withDiscovery(g, args->json, out, [&](backup::BackupDiscovery& d, const std::string& where) {
      auto r = backup::backupShowReport(d, where, args->name, args->objects);
      if (r.ok()) std::cout << (args->json ? r->dump(2) + "\n" : backup::renderBackupShow(*r));
      return r;
    });
  });
}

}  // namespace ocpvdr::cli
