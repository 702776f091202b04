// Command environment for the CLI verbs (see handler_env.h).
#include "cli/handler_env.h"

#include "core/curl_smtp.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "core/curl_http.h"
#include "core/files.h"
#include "core/text.h"
#include "core/time.h"
#include "engine/primary_api.h"
#include "kube/connect.h"
#include "replication/pv_source.h"

namespace ocpvdr::cli {

using replication::unwrapObject;

Result<std::unique_ptr<HandlerEnv>> openHandlerEnv(const std::string& configPath,
                                                   const std::string& nowOverride) {
  auto env = std::make_unique<HandlerEnv>();
  OCPVDR_ASSIGN_OR_RETURN(env->config, config::loadConfig(configPath));
  // $OCPVDR_FAKE_NOW reaches here only through the test build's hooks (cli/test_hooks.h).
  const std::string& pinned = nowOverride;
  if (!pinned.empty()) {
    auto t = parseTime(pinned);
    if (!t.ok()) return invalidError("--now (or the test clock): " + t.error().message);
    env->clock = std::make_unique<PinnedWallClock>(*t);
  } else {
    env->clock = std::make_unique<RealClock>();
  }
  env->runner = std::make_unique<RealProcessRunner>();
  OCPVDR_ASSIGN_OR_RETURN(env->catalog, catalog::Catalog::open(env->config.catalog.path));
  auto primary = std::make_unique<engine::KubePrimary>(
      [access = env->config.primary.kubernetes,
       &clock = *env->clock]() -> Result<kube::KubeConnection> {
        return kube::connect(access, clock, curlHttpClients());
      });
  engine::KubePrimary* kubePrimary = primary.get();
  env->primary = std::move(primary);
  env->replicator = std::make_unique<Replicator>(env->config, *env->runner, *env->clock,
                                                 *env->catalog, env->primary.get());
  // VM-consistent points (issue 17): VMs, VMIs and the guest freeze on the primary cluster.
  env->replicator->setConsistencyApi(kubePrimary);
  return env;
}

Result<Json> readJsonInput(const std::string& path, const std::string& option) {
  if (path.empty()) return invalidError(option + ": no file given");
  auto text = readFileOrStdin(path);
  if (!text.ok()) return text.error().wrap(option);
  return parseJson(*text, option + " " + (path == "-" ? std::string("(stdin)") : path));
}

std::unique_ptr<MailSender> notifyMailSender(const config::NotifyEmail& email) {
  if (email.smtpUrl.empty()) return nullptr;
  SmtpSettings smtp;
  smtp.url = email.smtpUrl;
  smtp.starttls = email.starttls;
  smtp.authFile = email.authFile;
  smtp.tls.caFile = email.caFile;
  smtp.tls.insecureSkipVerify = email.insecureSkipTlsVerify;
  return std::make_unique<CurlSmtpSender>(std::move(smtp));
}

std::string envelopeEventId(const Json& doc, std::string_view kind) {
  auto u = unwrapObject(doc, kind);
  return u.ok() ? u->eventId : std::string();
}

std::function<void(const RsyncProgress&)> ttyProgress(const std::string& label, bool enabled) {
  if (!enabled || ::isatty(STDERR_FILENO) == 0) return nullptr;
  return [label](const RsyncProgress& p) {
    std::cerr << "\r\033[K" << label << ": " << humanBytes(p.bytes) << "  " << p.percent << "%  "
              << p.rate << "  ETA " << p.eta << std::flush;
  };
}

void endTtyProgress(bool enabled) {
  if (enabled && ::isatty(STDERR_FILENO) != 0) std::cerr << "\r\033[K" << std::flush;
}

int emitReport(const SyncReport& report) {
  std::cout << report.toJson().dump() << std::endl;
  return report.exitCode();
}

Result<std::optional<config::DeletePolicy>> deletePolicyFlag(const std::string& value) {
  if (value == "quarantine") return std::optional(config::DeletePolicy::Quarantine);
  if (value == "keep") return std::optional(config::DeletePolicy::Keep);
  if (value == "delete") return std::optional(config::DeletePolicy::Delete);
  if (!value.empty())
    return invalidError("--policy: expected quarantine, keep or delete, got \"" + value + "\"");
  return std::optional<config::DeletePolicy>();
}

SyncReport setupFailure(std::string action, const Error& e) {
  SyncReport r;
  r.action = std::move(action);
  r.result =
      e.kind == ErrorKind::Refused ? replication::Outcome::Refused : replication::Outcome::Failed;
  r.error = e;
  return r;
}

}  // namespace ocpvdr::cli
