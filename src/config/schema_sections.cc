// The config schema's section tables: one table of fields per section of the file (see
// schema.h). Declarative: each function lists its section's keys, their types and rules.
#include "config/schema.h"

namespace ocpvdr::config::detail {

Fields Schema::root(Config& cfg) {
  return {
      section("sites",
              [this, &cfg] {
                return Fields{section("primary", [this, &cfg] { return site(cfg.primary); }),
                              section("dr", [this, &cfg] { return site(cfg.dr); })};
              }),
      section("replication", [this, &cfg] { return replication(cfg.replication); }),
      section("schedule",
              [this, &cfg] {
                auto& s = cfg.schedule;
                return Fields{flag("enabled", s.enabled),
                              text("cron", s.cron, of("a cron expression", rules::cronExpression)),
                              text("time_zone", s.timeZone,
                                   of("an IANA time zone name",
                                      [](std::string_view v) { return rules::timeZone(v); }))};
              }),
      section("catalog",
              [this, &cfg] {
                return Fields{
                    text("path", cfg.catalog.path, absPath(false)),
                    seconds("events_seen_retention", cfg.catalog.eventsSeenRetention, true)};
              }),
      section("backup_store", [this, &cfg] { return backupStore(cfg.backupStore); }),
      section("failover", [this, &cfg] { return failover(cfg.failover); }),
      section("server", [this, &cfg] { return server(cfg.server); }),
      section("forwarder", [this, &cfg] { return forwarder(cfg.forwarder); }),
      section("notify",
              [this, &cfg] {
                auto& n = cfg.notify;
                return Fields{
                    texts("urls", n.urls, of("an http:// or https:// URL", rules::httpUrl)),
                    text("token_file", n.tokenFile, absPath()),
                    section("email", [this, &n] { return notifyEmail(n.email); })};
              }),
  };
}

Fields Schema::notifyEmail(NotifyEmail& e) {
  return {text("smtp_url", e.smtpUrl, of("an smtp:// or smtps:// URL", rules::smtpUrl, true)),
          flag("starttls", e.starttls),
          text("auth_file", e.authFile, absPath()),
          text("ca_file", e.caFile, absPath()),
          flag("insecure_skip_tls_verify", e.insecureSkipTlsVerify),
          text("from", e.from, of("a mail address", rules::mailAddress, true)),
          texts("to", e.to, of("a mail address", rules::mailAddress)),
          text("subject_prefix", e.subjectPrefix, anyText())};
}

Fields Schema::site(Site& s) {
  return {
      text("name", s.name, nonEmptyText()),
      section("kubernetes",
              [this, &s] {
                auto& k = s.kubernetes;
                return Fields{flag("in_cluster", k.inCluster),
                              text("kubeconfig", k.kubeconfig, absPath()),
                              text("context", k.context, anyText())};
              }),
      section("nfs",
              [this, &s] {
                Field server =
                    text("server", s.nfsServer,
                         of("a host name or IP address (the server PVs name)", rules::hostName));
                server.required = true;
                return Fields{
                    server,
                    texts("aliases", s.nfsAliases,
                          of("a host name or IP address", rules::hostName)),
                    records("export_roots", s.exportRoots, 1, "export root ({export, path})",
                            [this](ExportRoot& r) {
                              return Fields{required(text("export", r.exportPath, absPath(false))),
                                            required(text("path", r.hostPath, absPath(false)))};
                            }),
                };
              }),
      section("ssh",
              [this, &s] {
                auto& h = s.ssh;
                return Fields{
                    text("host", h.host, of("a host name or IP address", rules::hostName, true)),
                    text("user", h.user, of("a user name", rules::userName)),
                    integer("port", h.port, 1, 65535),
                    text("key_file", h.keyFile, absPath()),
                    text("known_hosts_file", h.knownHostsFile, absPath()),
                    flag("strict_host_key_checking", h.strictHostKeyChecking),
                    seconds("control_persist", h.controlPersist),
                    seconds("connect_timeout", h.connectTimeout, true),
                };
              }),
  };
}

Fields Schema::replication(Replication& r) {
  return {
      choice("transport", r.transport, {{"ssh", Transport::Ssh}, {"local", Transport::Local}}),
      texts("storage_classes", r.storageClasses, of("a StorageClass name", rules::objectName), 1),
      text("label_selector", r.labelSelector, of("a label selector", rules::labelSelector, true)),
      texts("namespaces", r.namespaces, of("a namespace name", rules::namespaceName)),
      records("path_mappings", r.pathMappings, 1, "path mapping ({primary, dr})",
              [this](PathMapping& m) {
                return Fields{required(text("primary", m.primary, absPath(false))),
                              required(text("dr", m.dr, absPath(false)))};
              }),
      section("rsync",
              [this, &r] {
                auto& o = r.rsync;
                return Fields{
                    text("binary", o.binary,
                         ofRef("a program name or an absolute path", rules::program)),
                    flag("inplace", o.inplace),
                    integer("bwlimit_kibps", o.bwlimitKiBps, 0, 1'000'000'000),
                    seconds("io_timeout", o.ioTimeout),
                    seconds("max_duration", o.maxDuration),
                    text("partial_dir", o.partialDir,
                         of("a relative directory name", rules::relativeDir)),
                    texts("extra_args", o.extraArgs, nonEmptyText()),
                };
              }),
      choice(
          "mover", r.mover,
          {{"auto", MoverKind::Auto}, {"extent", MoverKind::Extent}, {"rsync", MoverKind::Rsync}}),
      text("mover_path", r.moverPath, absPath(false)),
      text("mover_local_path", r.moverLocalPath, absPath()),
      integer("parallelism", r.parallelism, 1, 64),
      choice("delete_policy", r.deletePolicy,
             {{"quarantine", DeletePolicy::Quarantine},
              {"keep", DeletePolicy::Keep},
              {"delete", DeletePolicy::Delete}}),
      seconds("trash_retention", r.trashRetention),
      seconds("rpo_target", r.rpoTarget, true),
      number("breaker_max_share", r.breakerMaxShare, 0, 1, false),
      integer("delete_breaker_max_deletes", r.deleteBreakerMaxDeletes, 1, 100'000),
      number("delete_breaker_max_share", r.deleteBreakerMaxShare, 0, 1, false),
      seconds("delete_breaker_window", r.deleteBreakerWindow, true),
      flag("snapshot_data", r.snapshotData),
      section("recovery_points",
              [this, &r] {
                auto& k = r.recoveryPoints;
                return Fields{integer("keep_last", k.keepLast, 1, 100'000),
                              integer("hourly", k.hourly, 0, 100'000),
                              integer("daily", k.daily, 0, 36'500)};
              }),
      section("snapshot_area",
              [this, &r] {
                auto& a = r.snapshotArea;
                return Fields{integer("min_free_percent", a.minFreePercent, 0, 99),
                              integer("max_bytes", a.maxBytes, 0, std::int64_t{1} << 60)};
              }),
      text("lock_dir", r.lockDir, absPath()),
      section("consistency",
              [this, &r] {
                auto& c = r.consistency;
                return Fields{flag("groups", c.groups), flag("freeze", c.freeze),
                              seconds("unfreeze_timeout", c.unfreezeTimeout, true)};
              }),
      section("watch",
              [this, &r] {
                auto& w = r.watch;
                return Fields{flag("enabled", w.enabled), millis("settle", w.settle),
                              millis("cap", w.cap)};
              }),
      integer("bandwidth", r.bandwidth, 0, 1'000'000'000'000),
  };
}

Fields Schema::backupStore(BackupStore& b) {
  return {
      text("endpoint", b.endpoint, of("an http:// or https:// URL", rules::httpUrl, true)),
      text("region", b.region, nonEmptyText()),
      text("bucket", b.bucket, of("an S3 bucket name", rules::bucketName)),
      text("prefix", b.prefix, of("an object key prefix", rules::objectPrefix)),
      text("credentials_file", b.credentialsFile, absPath()),
      text("profile", b.profile, nonEmptyText()),
      text("ca_file", b.caFile, absPath()),
      flag("path_style", b.pathStyle),
      flag("insecure_skip_tls_verify", b.insecureSkipTlsVerify),
  };
}

Fields Schema::failover(Failover& f) {
  return {
      text("oadp_namespace", f.oadpNamespace, of("a namespace name", rules::namespaceName)),
      text("storage_location", f.storageLocation, of("an object name", rules::objectName, true)),
      texts("protected_namespaces", f.protectedNamespaces,
            of("a namespace name", rules::namespaceName)),
      section("timeouts",
              [this, &f] {
                auto& t = f.timeouts;
                return Fields{
                    seconds("backup_sync", t.backupSync, true), seconds("vm_stop", t.vmStop, true),
                    seconds("pvc_bind", t.pvcBind, true), seconds("restore", t.restore, true),
                    seconds("vm_ready", t.vmReady, true)};
              }),
      section("fencing",
              [this, &f] {
                auto& k = f.fencing;
                return Fields{choice("method", k.method,
                                     {{"exportfs", FencingMethod::Exportfs},
                                      {"command", FencingMethod::Command},
                                      {"none", FencingMethod::None}}),
                              text("exports_file", k.exportsFile, absPath(false)),
                              texts("command", k.command, nonEmptyText())};
              }),
      choice("run_strategy_after_restore", f.runStrategyAfterRestore,
             {{"Always", "Always"},
              {"Halted", "Halted"},
              {"Manual", "Manual"},
              {"RerunOnFailure", "RerunOnFailure"},
              {"Once", "Once"}}),
      text("work_dir", f.workDir, absPath(false)),
      text("field_manager", f.fieldManager, nonEmptyText()),
      flag("require_guest_agent", f.requireGuestAgent),
  };
}

Fields Schema::server(Server& s) {
  return {
      text("listen", s.listen, of("host:port", rules::listenAddress)),
      text("token_file", s.tokenFile, absPath()),
      text("hmac_secret_file", s.hmacSecretFile, absPath()),
      section("tls",
              [this, &s] {
                return Fields{text("cert_file", s.tls.certFile, absPath()),
                              text("key_file", s.tls.keyFile, absPath())};
              }),
      integer("max_body_bytes", s.maxBodyBytes, 1024, 1 << 30),
      integer("workers", s.workers, 1, 64),
      flag("watch_primary", s.watchPrimary),
      number("rate_limit_per_second", s.rateLimitPerSecond, 0, 100000, true),
      millis("settle", s.settle),
      seconds("shutdown_grace", s.shutdownGrace),
      flag("public_metrics_labels", s.publicMetricsLabels),
      text("expected_cluster", s.expectedCluster, anyText()),
      section("leader_election",
              [this, &s] {
                auto& l = s.leaderElection;
                return Fields{flag("enabled", l.enabled),
                              text("namespace", l.leaseNamespace, nonEmptyText()),
                              text("name", l.leaseName, nonEmptyText()),
                              text("identity", l.identity, anyText()),
                              millis("lease_duration", l.leaseDuration),
                              millis("renew_deadline", l.renewDeadline),
                              millis("retry_period", l.retryPeriod)};
              }),
  };
}

Fields Schema::forwarder(Forwarder& f) {
  return {
      text("webhook_url", f.webhookUrl, of("an http:// or https:// URL", rules::httpUrl, true)),
      text("token_file", f.tokenFile, absPath()),
      text("token_env", f.tokenEnv, of("an environment variable name", rules::envVarName, true)),
      text("hmac_secret_file", f.hmacSecretFile, absPath()),
      text("ca_file", f.caFile, absPath()),
      flag("insecure_skip_tls_verify", f.insecureSkipTlsVerify),
      text("spool_dir", f.spoolDir, absPath(false)),
      integer("spool_max_events", f.spoolMaxEvents, 1, 100'000'000),
      millis("settle", f.settle),
      text("listen", f.listen, of("host:port", rules::listenAddress)),
      flag("watch_snapshots", f.watchSnapshots),
  };
}

}  // namespace ocpvdr::config::detail
