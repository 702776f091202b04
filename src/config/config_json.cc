// Config and validation issues as JSON (for `ocpv-dr config show` / `config validate --json`).
//
// Keys are the file's snake_case keys and durations use formatDuration(), so the output is a
// valid configuration file itself (JSON is YAML) that parses back to the same values.
#include "config/config.h"

namespace ocpvdr::config {
namespace {

using nlohmann::json;

json duration(Millis d) {
  return formatDuration(d);
}
json duration(Seconds d) {
  return formatDuration(std::chrono::duration_cast<Millis>(d));
}

json siteJson(const Site& s) {
  json roots = json::array();
  for (const auto& r : s.exportRoots)
    roots.push_back({{"export", r.exportPath}, {"path", r.hostPath}});
  return {
      {"name", s.name},
      {"kubernetes",
       {{"in_cluster", s.kubernetes.inCluster},
        {"kubeconfig", s.kubernetes.kubeconfig},
        {"context", s.kubernetes.context}}},
      {"nfs", {{"server", s.nfsServer}, {"aliases", s.nfsAliases}, {"export_roots", roots}}},
      {"ssh",
       {{"host", s.ssh.host},
        {"user", s.ssh.user},
        {"port", s.ssh.port},
        {"key_file", s.ssh.keyFile},
        {"known_hosts_file", s.ssh.knownHostsFile},
        {"strict_host_key_checking", s.ssh.strictHostKeyChecking},
        {"control_persist", duration(s.ssh.controlPersist)},
        {"connect_timeout", duration(s.ssh.connectTimeout)}}},
  };
}

json retentionJson(const RecoveryPointRetention& k) {
  return {{"keep_last", k.keepLast}, {"hourly", k.hourly}, {"daily", k.daily}};
}

json serverJson(const Server& s) {
  const auto& le = s.leaderElection;
  return {{"listen", s.listen},
          {"token_file", s.tokenFile},
          {"hmac_secret_file", s.hmacSecretFile},
          {"tls", {{"cert_file", s.tls.certFile}, {"key_file", s.tls.keyFile}}},
          {"max_body_bytes", s.maxBodyBytes},
          {"workers", s.workers},
          {"watch_primary", s.watchPrimary},
          {"rate_limit_per_second", s.rateLimitPerSecond},
          {"settle", duration(s.settle)},
          {"shutdown_grace", duration(s.shutdownGrace)},
          {"public_metrics_labels", s.publicMetricsLabels},
          {"expected_cluster", s.expectedCluster},
          {"leader_election",
           {{"enabled", le.enabled},
            {"namespace", le.leaseNamespace},
            {"name", le.leaseName},
            {"identity", le.identity},
            {"lease_duration", duration(le.leaseDuration)},
            {"renew_deadline", duration(le.renewDeadline)},
            {"retry_period", duration(le.retryPeriod)}}}};
}

json notifyJson(const Notify& n) {
  const auto& e = n.email;
  return {{"urls", n.urls},
          {"token_file", n.tokenFile},
          {"email",
           {{"smtp_url", e.smtpUrl},
            {"starttls", e.starttls},
            {"auth_file", e.authFile},
            {"ca_file", e.caFile},
            {"insecure_skip_tls_verify", e.insecureSkipTlsVerify},
            {"from", e.from},
            {"to", e.to},
            {"subject_prefix", e.subjectPrefix}}}};
}

}  // namespace

nlohmann::json toJson(const Config& cfg) {
  const auto& r = cfg.replication;
  json mappings = json::array();
  for (const auto& m : r.pathMappings) mappings.push_back({{"primary", m.primary}, {"dr", m.dr}});
  const auto& b = cfg.backupStore;
  const auto& f = cfg.failover;
  const auto& w = cfg.forwarder;
  return {
      {"sites", {{"primary", siteJson(cfg.primary)}, {"dr", siteJson(cfg.dr)}}},
      {"replication",
       {{"transport", toString(r.transport)},
        {"storage_classes", r.storageClasses},
        {"label_selector", r.labelSelector},
        {"namespaces", r.namespaces},
        {"path_mappings", mappings},
        {"rsync",
         {{"binary", r.rsync.binary},
          {"inplace", r.rsync.inplace},
          {"bwlimit_kibps", r.rsync.bwlimitKiBps},
          {"io_timeout", duration(r.rsync.ioTimeout)},
          {"max_duration", duration(r.rsync.maxDuration)},
          {"partial_dir", r.rsync.partialDir},
          {"extra_args", r.rsync.extraArgs}}},
        {"mover", toString(r.mover)},
        {"mover_path", r.moverPath},
        {"mover_local_path", r.moverLocalPath},
        {"parallelism", r.parallelism},
        {"delete_policy", toString(r.deletePolicy)},
        {"trash_retention", duration(r.trashRetention)},
        {"rpo_target", duration(r.rpoTarget)},
        {"breaker_max_share", r.breakerMaxShare},
        {"delete_breaker_max_deletes", r.deleteBreakerMaxDeletes},
        {"delete_breaker_max_share", r.deleteBreakerMaxShare},
        {"delete_breaker_window", duration(r.deleteBreakerWindow)},
        {"snapshot_data", r.snapshotData},
        {"recovery_points", retentionJson(r.recoveryPoints)},
        {"snapshot_area",
         {{"min_free_percent", r.snapshotArea.minFreePercent},
          {"max_bytes", r.snapshotArea.maxBytes}}},
        {"lock_dir", r.lockDir},
        {"consistency",
         {{"groups", r.consistency.groups},
          {"freeze", r.consistency.freeze},
          {"unfreeze_timeout", duration(r.consistency.unfreezeTimeout)}}},
        {"watch",
         {{"enabled", r.watch.enabled},
          {"settle", duration(r.watch.settle)},
          {"cap", duration(r.watch.cap)}}},
        {"bandwidth", r.bandwidth}}},
      {"schedule",
       {{"enabled", cfg.schedule.enabled},
        {"cron", cfg.schedule.cron},
        {"time_zone", cfg.schedule.timeZone}}},
      {"catalog",
       {{"path", cfg.catalog.path},
        {"events_seen_retention", duration(cfg.catalog.eventsSeenRetention)}}},
      {"backup_store",
       {{"endpoint", b.endpoint},
        {"region", b.region},
        {"bucket", b.bucket},
        {"prefix", b.prefix},
        {"credentials_file", b.credentialsFile},
        {"profile", b.profile},
        {"ca_file", b.caFile},
        {"path_style", b.pathStyle},
        {"insecure_skip_tls_verify", b.insecureSkipTlsVerify}}},
      {"failover",
       {{"oadp_namespace", f.oadpNamespace},
        {"storage_location", f.storageLocation},
        {"protected_namespaces", f.protectedNamespaces},
        {"timeouts",
         {{"backup_sync", duration(f.timeouts.backupSync)},
          {"vm_stop", duration(f.timeouts.vmStop)},
          {"pvc_bind", duration(f.timeouts.pvcBind)},
          {"restore", duration(f.timeouts.restore)},
          {"vm_ready", duration(f.timeouts.vmReady)}}},
        {"fencing",
         {{"method", toString(f.fencing.method)},
          {"exports_file", f.fencing.exportsFile},
          {"command", f.fencing.command}}},
        {"run_strategy_after_restore", f.runStrategyAfterRestore},
        {"work_dir", f.workDir},
        {"field_manager", f.fieldManager},
        {"require_guest_agent", f.requireGuestAgent}}},
      {"server", serverJson(cfg.server)},
      {"forwarder",
       {{"webhook_url", w.webhookUrl},
        {"token_file", w.tokenFile},
        {"token_env", w.tokenEnv},
        {"hmac_secret_file", w.hmacSecretFile},
        {"ca_file", w.caFile},
        {"insecure_skip_tls_verify", w.insecureSkipTlsVerify},
        {"spool_dir", w.spoolDir},
        {"spool_max_events", w.spoolMaxEvents},
        {"settle", duration(w.settle)},
        {"listen", w.listen},
        {"watch_snapshots", w.watchSnapshots}}},
      {"notify", notifyJson(cfg.notify)},
  };
}

nlohmann::json toJson(const std::vector<Issue>& issues) {
  json out = json::array();
  for (const Issue& i : issues) {
    json item{{"path", i.path}, {"message", i.message}};
    if (i.line > 0) {
      item["line"] = i.line;
      item["column"] = i.column;
    }
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace ocpvdr::config
