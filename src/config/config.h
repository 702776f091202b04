// The product's one configuration file (YAML), as typed structs with defaults.
//
// Every section is optional; a key left out takes the default written here. loadConfig()
// validates the whole document and reports every problem at once, each naming its key path and
// what was expected:  replication.parallelism: expected an integer 1..64, got "four".
// Durations are written "90s", "15m", "2h", "7d" (or a bare integer of seconds).
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ocpvdr::config {

using Seconds = std::chrono::seconds;
using Millis = std::chrono::milliseconds;

// How to reach a site's Kubernetes API.
struct KubeAccess {
  bool inCluster = false;  // service-account token and CA mounted in the pod
  std::string kubeconfig;  // empty (and not in-cluster): $KUBECONFIG, then ~/.kube/config
  std::string context;     // empty: the kubeconfig's current-context
};

// How ocpv-dr reaches a site's NFS host over ssh (rsync pulls run on the DR host and ssh to the
// primary; failover fencing ssh-es to the primary).
struct SshAccess {
  std::string host;  // address to connect to; empty: the site's nfs.server
  std::string user = "root";
  int port = 22;
  std::string keyFile;         // empty: ssh's own defaults
  std::string knownHostsFile;  // empty: ssh's own defaults
  bool strictHostKeyChecking = true;
  Seconds controlPersist{60};  // ssh connection reuse (ControlMaster); 0 disables it
  Seconds connectTimeout{10};
};

// One NFS export as clients see it (the path in a PV) and where that export lives on the NFS
// host's own filesystem (they differ with NFSv4 pseudo-roots and bind mounts).
// Invariant: both are absolute, normalised, without a trailing slash.
struct ExportRoot {
  std::string exportPath;  // e.g. /exports/ocp
  std::string hostPath;    // e.g. /srv/nfs/ocp
};

struct Site {
  std::string name;  // cluster name used in events and reports ("primary", "dr", or real names)
  KubeAccess kubernetes;
  std::string nfsServer;                // the server name PVs use (spec.nfs.server)
  std::vector<std::string> nfsAliases;  // other names/addresses PVs may use for that server
  SshAccess ssh;
  std::vector<ExportRoot> exportRoots;  // at least one
};

// A primary export-path prefix and the DR export-path prefix its data is replicated to.
struct PathMapping {
  std::string primary;  // e.g. /exports/ocp
  std::string dr;       // e.g. /exports/ocp-dr
};

struct RsyncOptions {
  std::string binary = "rsync";
  bool inplace = false;    // opt-in: a killed sync then leaves a torn image at DR
  int bwlimitKiBps = 0;    // 0: unlimited
  Seconds ioTimeout{300};  // rsync --timeout
  Seconds maxDuration{0};  // kill a sync that runs longer; 0: no limit
  std::string partialDir = ".ocpv-dr-partial";
  std::vector<std::string> extraArgs;
};

// replication.recovery_points: which recovery points of a PV retention keeps (the rest are
// pruned after each cycle and by `ocpv-dr points prune`). A point is kept when any rule keeps it;
// the newest point is always kept (the base the primary holds). Hours and days are UTC.
struct RecoveryPointRetention {
  int keepLast = 24;  // the newest N points, 1..100000
  int hourly = 48;    // the newest point of each of the last H hours, 0..100000
  int daily = 14;     // the newest point of each of the last D days, 0..36500
};

// replication.snapshot_area: how far the primary's snapshot area (<export root>/.ocpv-dr/snapshots)
// may grow. At each extent cycle the sender checks the export root's file system (statvfs) and the
// bytes only the PV's base snapshot still holds; past either limit it releases the base and sends
// a full stream instead (the report's full_resend_reason says why).
struct SnapshotAreaLimits {
  int minFreePercent = 10;    // 0..99; 0: no free-space limit
  std::int64_t maxBytes = 0;  // bytes the base snapshot alone may hold; 0: no limit
};

// replication.consistency: VM-consistent recovery points (issue 17, docs/consistency.md). With the
// extent mover, a PV of a VM is synced with every other PV of its VM (or consistency group) from
// one group snapshot, taken under a guest freeze when the VM's guest agent is connected.
struct Consistency {
  bool groups = true;           // false: every PV is its own point (per-file), as before
  bool freeze = true;           // false: groups are snapshotted back to back, never frozen
  Seconds unfreezeTimeout{10};  // KubeVirt's own thaw after a freeze (the backstop), 1s..1h
};

enum class DeletePolicy { Quarantine, Keep, Delete };
enum class Transport { Ssh, Local };
// What moves a PV's data (issue 15): the extent mover where both export roots can reflink
// (auto probes each root once per process), else rsync.
enum class MoverKind { Auto, Extent, Rsync };

struct Replication {
  Transport transport = Transport::Ssh;
  std::vector<std::string> storageClasses{"nfs-dynamic"};
  std::string labelSelector;            // PVs; empty: all
  std::vector<std::string> namespaces;  // VolumeSnapshot namespaces; empty: all
  std::vector<PathMapping> pathMappings;
  RsyncOptions rsync;
  MoverKind mover = MoverKind::Auto;
  // ocpv-dr-mover on the primary NFS host (installed there over ssh when missing or of another
  // version), and the local copy DR runs and installs from (empty: next to the ocpv-dr binary).
  std::string moverPath = "/usr/local/libexec/ocpv-dr/ocpv-dr-mover";
  std::string moverLocalPath;
  int parallelism = 4;  // 1..64
  DeletePolicy deletePolicy = DeletePolicy::Quarantine;
  Seconds trashRetention{7 * 24 * 3600};
  Seconds rpoTarget{3600};
  double breakerMaxShare = 0.10;  // reconcile quarantines nothing above this share of replicas
  // The event path's breaker (replication/delete_breaker.h): more verified deletes than this
  // within the window, or (from the second on) more than this share of the replicas, trips it.
  int deleteBreakerMaxDeletes = 10;  // 1..100000
  double deleteBreakerMaxShare = 0.5;
  Seconds deleteBreakerWindow{600};  // > 0
  bool snapshotData = true;          // also replicate csi-driver-nfs snapshot archives
  std::string lockDir;               // per-PV locks; empty: <catalog dir>/locks
  // The extent mover's recovery points that retention keeps (recovery_points.h).
  RecoveryPointRetention recoveryPoints;
  SnapshotAreaLimits snapshotArea;  // the extent mover's primary snapshot area
  Consistency consistency;
  // Continuous replication (issue 16, docs/continuous.md): serve's change feed from
  // `ocpv-dr-mover watch` on the primary, and the byte budget of all extent transfers together.
  struct Watch {
    bool enabled = false;
    Millis settle{2000};  // a PV dir quiet this long is reported
    Millis cap{30'000};   // ... or this long after its first change while writes go on (> 0)
  } watch;
  std::int64_t bandwidth = 0;  // bytes/s shared by all extent transfers; 0: unlimited
};

struct Schedule {
  bool enabled = true;
  std::string cron = "0 * * * *";  // five fields
  std::string timeZone = "UTC";    // IANA name
};

struct Catalog {
  std::string path = "/var/lib/ocpv-dr/catalog.db";
  // Event ids are remembered this long for de-duplication of redelivered events, then forgotten
  // (serve and the sync verbs prune events_seen; a redelivery older than this syncs again).
  Seconds eventsSeenRetention{30 * 24 * 3600};
};

struct BackupStore {
  std::string endpoint;  // https://s3.example.com; empty: AWS for `region`
  std::string region = "us-east-1";
  std::string bucket;
  std::string prefix;           // the Velero storage location prefix (may be empty)
  std::string credentialsFile;  // OADP cloud-credentials format ([default] ...)
  std::string profile = "default";
  std::string caFile;
  bool pathStyle = true;
  bool insecureSkipTlsVerify = false;
};

enum class FencingMethod { Exportfs, Command, None };

struct Fencing {
  FencingMethod method = FencingMethod::Exportfs;
  std::string exportsFile = "/etc/exports";  // on the primary NFS host
  std::vector<std::string> command;          // method=command: argv run on this host
};

struct FailoverTimeouts {
  Seconds backupSync{600};
  Seconds vmStop{600};
  Seconds pvcBind{600};
  Seconds restore{3600};
  Seconds vmReady{1200};
};

struct Failover {
  std::string oadpNamespace = "openshift-adp";
  // DR's Velero BackupStorageLocation; empty: the one reading backup_store's bucket and prefix
  std::string storageLocation;
  std::vector<std::string> protectedNamespaces;  // namespaces whose VMs fail over
  FailoverTimeouts timeouts;
  Fencing fencing;
  std::string runStrategyAfterRestore =
      "Always";  // Always | Halted | Manual | RerunOnFailure | Once
  std::string workDir = "/var/lib/ocpv-dr/failover";
  std::string fieldManager = "ocpv-dr";
  // start-vms also waits for each started VM's VMI condition AgentConnected True.
  bool requireGuestAgent = false;
};

struct ServerTls {
  std::string certFile, keyFile;  // both empty: plain HTTP
};

// server.leader_election: one active serve among several (kube/leader_election.h), through a
// coordination.k8s.io/v1 Lease on the DR cluster (sites.dr.kubernetes).
struct LeaderElection {
  bool enabled = false;
  std::string leaseNamespace = "ocpv-dr";
  std::string leaseName = "ocpv-dr-serve";
  std::string identity;  // empty: <host name>-<pid>
  Millis leaseDuration{15'000};
  Millis renewDeadline{10'000};  // < leaseDuration: the holder stops before the Lease expires
  Millis retryPeriod{2'000};     // < renewDeadline
};

struct Server {
  std::string listen = "0.0.0.0:8443";
  std::string tokenFile;       // Bearer token for POST /v1/events (required to accept events)
  std::string hmacSecretFile;  // optional x-hub-signature-256 check
  ServerTls tls;
  std::int64_t maxBodyBytes = 1 << 20;
  int workers = 4;                   // 1..64
  bool watchPrimary = false;         // also watch the primary API itself
  double rateLimitPerSecond = 20;    // overall cap on syncs started
  Millis settle{2000};               // per-key settle delay before a queued sync runs
  Seconds shutdownGrace{60};         // SIGTERM: time running syncs get to finish
  bool publicMetricsLabels = false;  // /metrics shows PV names without a token
  std::string expectedCluster;       // set: events must carry "cluster" equal to this
  LeaderElection leaderElection;
};

struct Forwarder {
  std::string webhookUrl;
  std::string tokenFile;
  std::string tokenEnv = "OCPVDR_WEBHOOK_TOKEN";
  std::string hmacSecretFile;
  std::string caFile;
  bool insecureSkipTlsVerify = false;
  std::string spoolDir = "/var/lib/ocpv-dr/forwarder";
  std::int64_t spoolMaxEvents = 10000;
  Millis settle{0};
  std::string listen = "0.0.0.0:8080";  // /healthz /readyz /metrics
  bool watchSnapshots = true;
};

// notify.email: the reconcile report by mail (core/curl_smtp.h). Off while smtp_url is empty.
struct NotifyEmail {
  std::string smtpUrl;   // smtp://host[:port] (STARTTLS) or smtps://host[:port]
  bool starttls = true;  // smtp:// only: never send in clear text unless this is false
  std::string authFile;  // user on line 1, password on line 2; "" = no AUTH
  std::string caFile;    // trust for the server's certificate (system store when empty)
  bool insecureSkipTlsVerify = false;
  std::string from;
  std::vector<std::string> to;
  std::string subjectPrefix = "[ocpv-dr]";
};

struct Notify {
  std::vector<std::string> urls;
  std::string tokenFile;  // optional Bearer token for the notify POSTs
  NotifyEmail email;
};

struct Config {
  Site primary;
  Site dr;
  Replication replication;
  Schedule schedule;
  Catalog catalog;
  BackupStore backupStore;
  Failover failover;
  Server server;
  Forwarder forwarder;
  Notify notify;
  std::string sourceFile;  // where it was loaded from (for messages)
};

// One validation problem: "replication.parallelism" + "expected an integer 1..64, got \"four\"".
struct Issue {
  std::string path;  // key path; list items carry their index ("...export_roots[1].path");
                     // empty for problems of the whole file (YAML syntax, not a mapping)
  std::string message;
  int line = 0;    // 1-based line in the file where the offending value sits; 0: unknown
  int column = 0;  // 1-based; 0: unknown
  std::string describe() const { return path.empty() ? message : path + ": " + message; }
};

struct LoadResult {
  Config config;
  std::vector<Issue> issues;  // empty: valid
};

// Parses and validates YAML text. Never throws; every problem found is in `issues`.
LoadResult parseConfig(const std::string& yamlText, const std::string& sourceName = "<config>");
// Reads and validates a file. The error (Invalid) lists every issue, one per line; a file that
// cannot be read keeps the kind of the read error (NotFound, Terminal).
[[nodiscard]] Result<Config> loadConfig(const std::string& path);
// A complete, commented example configuration that validates.
std::string exampleConfig();

std::string toString(DeletePolicy p);
std::string toString(Transport t);
std::string toString(MoverKind m);
std::string toString(FencingMethod m);

// Durations as written in the file: "500ms", "90s", "15m", "2h", "7d", combinations such as
// "1h30m", or a bare integer of seconds. Negative values and other text are Invalid.
[[nodiscard]] Result<Millis> parseDuration(std::string_view text);
// The shortest exact form parseDuration() reads back ("7d", "90s", "1500ms", "0s").
std::string formatDuration(Millis d);

// The effective configuration (defaults filled) as JSON with the file's snake_case keys;
// durations in formatDuration() form. Valid YAML, so it parses back to the same Config.
nlohmann::json toJson(const Config& cfg);
// {"path", "message", "line"?, "column"?} per issue.
nlohmann::json toJson(const std::vector<Issue>& issues);

// Every key path the parser accepts, leaves only, in schema order: "sites.primary.nfs.server",
// "sites.primary.nfs.export_roots[].export", "replication.rsync.io_timeout", ...
std::vector<std::string> knownKeyPaths();

}  // namespace ocpvdr::config
