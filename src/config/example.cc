// exampleConfig(): the complete, commented example configuration (`ocpv-dr config example`).
//
// Every key the parser knows appears here with its default value, except the few that have no
// default and are required (NFS servers, export roots, path mappings), which carry example
// values. Tests check that it parses with zero issues, that its values are the defaults, and that
// every key in it is documented in docs/configuration.md.
#include "config/config.h"

namespace ocpvdr::config {

std::string exampleConfig() {
  return R"yaml(# ocpv-dr configuration: every key, with its default value.
#
# Only sites.*.nfs.server, sites.*.nfs.export_roots and replication.path_mappings are required
# (the values below are examples); every other key may be left out and takes the default shown.
# Durations: "500ms", "90s", "15m", "2h", "7d", "1h30m" or a bare number of seconds.
# Paths are absolute. Secrets are never written here: point at files (*_file) or an env var.
# Check a file:  ocpv-dr config validate -c FILE    Effective values:  ocpv-dr config show -c FILE

sites:
  # The production site: its OpenShift cluster and the NFS server its PVs use.
  primary:
    name: primary                  # cluster name used in events, reports and the catalog
    kubernetes:
      in_cluster: false            # true: use the pod's service-account token and CA
      kubeconfig: ""               # empty: $KUBECONFIG, then ~/.kube/config
      context: ""                  # empty: the kubeconfig's current-context
    nfs:
      server: nfs-primary.example.com  # required: the server name PVs carry (spec.nfs.server)
      aliases: []                  # other names or addresses PVs may use for this server
      export_roots:                # required, at least one
        - export: /exports/ocp     # export path as clients (and PVs) see it
          path: /srv/nfs/ocp       # where that export lives on the NFS host's filesystem
    ssh:                           # how ocpv-dr (on the DR NFS host) reaches this NFS host
      host: ""                     # empty: nfs.server
      user: root                   # remote user (needs read access to the export)
      port: 22                     # 1..65535
      key_file: ""                 # private key file; empty: ssh's default identities
      known_hosts_file: ""         # empty: ssh's default known_hosts
      strict_host_key_checking: true  # refuse unknown or changed host keys
      control_persist: 60s         # keep a shared ssh connection open this long; 0 disables reuse
      connect_timeout: 10s         # give up connecting after this long (> 0)
  # The recovery site: same shape. ocpv-dr runs on its NFS host.
  dr:
    name: dr                       # must differ from sites.primary.name
    kubernetes:
      in_cluster: false            # true: use the pod's service-account token and CA
      kubeconfig: ""               # empty: $KUBECONFIG, then ~/.kube/config
      context: ""                  # empty: the kubeconfig's current-context
    nfs:
      server: nfs-dr.example.com   # required: the server name DR PVs will carry
      aliases: []                  # other names or addresses for this server
      export_roots:                # required, at least one
        - export: /exports/ocp     # export path as clients see it
          path: /srv/nfs/ocp       # where that export lives on this host
    ssh:                           # same meaning as for the primary site
      host: ""                     # empty: nfs.server
      user: root                   # remote user
      port: 22                     # 1..65535
      key_file: ""                 # empty: ssh's default identities
      known_hosts_file: ""         # empty: ssh's default known_hosts
      strict_host_key_checking: true  # refuse unknown or changed host keys
      control_persist: 60s         # shared connection lifetime; 0 disables reuse
      connect_timeout: 10s         # > 0

replication:
  transport: ssh                   # ssh: pull from the primary NFS host; local: both exports mounted here
  storage_classes: [nfs-dynamic]   # PVs of these StorageClasses are replicated (at least one)
  label_selector: ""               # only PVs matching this label selector; empty: all
  namespaces: []                   # namespaces whose VolumeSnapshots are followed; empty: all
  path_mappings:                   # required, at least one: primary export prefix -> DR export prefix
    - primary: /exports/ocp        # under a sites.primary.nfs.export_roots export
      dr: /exports/ocp             # under a sites.dr.nfs.export_roots export
  rsync:
    binary: rsync                  # program name (PATH) or absolute path
    inplace: false                 # true: update disk images in place (a killed sync leaves a torn image)
    bwlimit_kibps: 0               # bandwidth cap per sync in KiB/s; 0: unlimited
    io_timeout: 300s               # rsync --timeout: abort when no data moves this long; 0: none
    max_duration: 0s               # kill a sync running longer than this; 0: no limit
    partial_dir: .ocpv-dr-partial  # relative to the destination: where interrupted transfers wait
    extra_args: []                 # appended to every rsync command line
  mover: auto                      # auto: extent mover where both export roots reflink (XFS, btrfs), else rsync | extent | rsync
  mover_path: /usr/local/libexec/ocpv-dr/ocpv-dr-mover  # on the primary NFS host (installed over ssh)
  mover_local_path: ""             # the local ocpv-dr-mover; empty: next to the ocpv-dr binary
  parallelism: 4                   # PVs synced at once, 1..64
  delete_policy: quarantine        # on PV deletion: quarantine (move to trash) | keep | delete
  trash_retention: 7d              # quarantined copies are purged after this long
  rpo_target: 1h                   # a replica older than this is reported as late (> 0)
  breaker_max_share: 0.1           # reconcile stops if it would quarantine more than this share (0..1)
  delete_breaker_max_deletes: 10   # DELETED events: more deletes than this within the window stop deletes
  delete_breaker_max_share: 0.5    # ... or (from the 2nd delete on) more than this share of the replicas
  delete_breaker_window: 10m       # the window both limits count in
  snapshot_data: true              # also replicate csi-driver-nfs snapshot archives
  recovery_points:                 # extent mover: which recovery points of a PV are kept (UTC hours/days)
    keep_last: 24                  # the newest N points, 1..100000 (the newest is always kept)
    hourly: 48                     # plus the newest point of each of the last H hours, 0..100000
    daily: 14                      # plus the newest point of each of the last D days, 0..36500
  snapshot_area:                   # extent mover: the primary's snapshot area must not fill its file system
    min_free_percent: 10           # below this free share of the export root's file system: full resend, base released (0: off)
    max_bytes: 0                   # bytes the base snapshot alone may hold before a full resend replaces it (0: no limit)
  lock_dir: ""                     # per-PV lock files; empty: <directory of catalog.path>/locks
  consistency:                     # extent mover: VM-consistent points (docs/consistency.md)
    groups: true                   # sync all PVs of a VM / consistency group from one snapshot
    freeze: true                   # freeze guests with a connected agent around the snapshot
    unfreeze_timeout: 10s          # KubeVirt thaws by itself after this (the backstop), whole seconds
  watch:                           # serve: changes on the primary drive syncs (ocpv-dr-mover watch over ssh)
    enabled: false                 # on: one long-lived ssh session per primary export root
    settle: 2s                     # a PV directory quiet this long is reported changed
    cap: 30s                       # ... or this long after its first change while writes continue (> 0)
  bandwidth: 0                     # bytes/s shared by all extent transfers at once; 0: unlimited

schedule:
  enabled: true                    # run the reconcile on a schedule (ocpv-dr serve)
  cron: "0 * * * *"                # five fields: minute hour day-of-month month day-of-week
  time_zone: UTC                   # IANA name the cron fields are read in

catalog:
  path: /var/lib/ocpv-dr/catalog.db  # SQLite file with replicas, snapshots and runs (on the DR host)
  events_seen_retention: 30d       # event ids kept for de-duplicating redelivered events

backup_store:                      # where OADP (Velero) writes its backups: S3 or S3-compatible
  endpoint: ""                     # https://s3.example.com; empty: AWS S3 in `region`
  region: us-east-1                # signing region
  bucket: ""                       # the storage location's bucket (needed for failover)
  prefix: ""                       # the storage location's prefix (no leading or trailing "/")
  credentials_file: ""             # OADP cloud-credentials format ([default] aws_access_key_id=...)
  profile: default                 # section of credentials_file to use
  ca_file: ""                      # PEM bundle for a private CA; empty: system CAs
  path_style: true                 # https://endpoint/bucket/key rather than https://bucket.endpoint/key
  insecure_skip_tls_verify: false  # lab use only

failover:
  oadp_namespace: openshift-adp    # namespace of OADP/Velero on the DR cluster
  storage_location: ""             # DR's Velero BackupStorageLocation; empty: the one on bucket+prefix above
  protected_namespaces: []         # namespaces whose VMs fail over
  timeouts:                        # each > 0
    backup_sync: 10m               # wait for the DR cluster to see the backup
    vm_stop: 10m                   # wait for primary VMs to stop
    pvc_bind: 10m                  # wait for DR PVCs to bind
    restore: 1h                    # wait for the Velero restore to finish
    vm_ready: 20m                  # wait for restored VMs to be ready
  fencing:                         # keep the primary from writing once DR takes over
    method: exportfs               # exportfs (rw -> ro in exports_file, then exportfs -ra) | command | none
    exports_file: /etc/exports     # on the primary NFS host (method exportfs)
    command: []                    # method command: argv run on this host (required then)
  run_strategy_after_restore: Always  # Always | Halted | Manual | RerunOnFailure | Once
  work_dir: /var/lib/ocpv-dr/failover  # per-run tarball + objects.json, reports, lock (journal: catalog)
  field_manager: ocpv-dr           # server-side apply field manager name
  require_guest_agent: false       # start-vms also waits for each VMI's AgentConnected condition

server:                            # ocpv-dr serve (standalone engine on the DR NFS host)
  listen: 0.0.0.0:8443             # host:port for /healthz /readyz /metrics /v1/events /v1/status
  token_file: ""                   # Bearer token required on POST /v1/events; empty: events refused
  hmac_secret_file: ""             # optional x-hub-signature-256 check of event bodies
  tls:                             # both or neither; neither: plain HTTP
    cert_file: ""                  # PEM certificate chain
    key_file: ""                   # PEM private key
  max_body_bytes: 1048576          # largest accepted request body (1024..1073741824)
  workers: 4                       # worker threads of ocpv-dr serve, 1..64
  watch_primary: false             # also watch the primary cluster's API for PV and snapshot events
  rate_limit_per_second: 20        # overall cap on syncs started per second (> 0)
  settle: 2s                       # a queued PV waits this long for more events before it syncs
  shutdown_grace: 60s              # on SIGTERM, running syncs get this long to finish
  public_metrics_labels: false     # true: /metrics shows PV names without a token too
  expected_cluster: ""             # set: every event must name this cluster in "cluster"
  leader_election:                 # one active serve among several (a Lease on the DR cluster)
    enabled: false                 # true: wait as a standby until the Lease is ours
    namespace: ocpv-dr             # the Lease's namespace on the DR cluster
    name: ocpv-dr-serve            # the Lease's name (one per DR NFS host)
    identity: ""                   # empty: <host name>-<pid>
    lease_duration: 15s            # a standby takes over this long after the last renewal
    renew_deadline: 10s            # < lease_duration: the active one stops its workers by then
    retry_period: 2s               # < renew_deadline: how often to renew or to try to take it

forwarder:                         # ocpv-dr forward (in the primary cluster, posts events to EDA)
  webhook_url: ""                  # http(s) URL of the EDA webhook or of ocpv-dr serve /v1/events
  token_file: ""                   # file holding the Bearer token (e.g. a mounted Secret)
  token_env: OCPVDR_WEBHOOK_TOKEN  # or: environment variable holding the token
  hmac_secret_file: ""             # optional: sign bodies (x-hub-signature-256)
  ca_file: ""                      # PEM bundle for the webhook's CA; empty: system CAs
  insecure_skip_tls_verify: false  # lab use only
  spool_dir: /var/lib/ocpv-dr/forwarder  # checkpoint and undelivered events (a persistent volume)
  spool_max_events: 10000          # most undelivered events kept in the spool
  settle: 0s                       # collapse bursts for the same object within this window
  listen: 0.0.0.0:8080             # host:port for /healthz /readyz /metrics
  watch_snapshots: true            # also forward VolumeSnapshot events

notify:
  urls: []                         # http(s) URLs that receive a JSON report after each run
  token_file: ""                   # optional Bearer token file for those POSTs
  email:                           # the same report by mail; off while smtp_url is empty
    smtp_url: ""                   # smtp://host:587 (STARTTLS) or smtps://host:465
    starttls: true                 # smtp:// only: refuse to send unless the server upgrades to TLS
    auth_file: ""                  # user on line 1, password on line 2 (a mounted Secret); "" = no AUTH
    ca_file: ""                    # CA bundle for the server's certificate (system store when empty)
    insecure_skip_tls_verify: false  # testing only: accept any server certificate
    from: ""                       # sender address, e.g. ocpv-dr@example.com
    to: []                         # recipients, e.g. [dr-team@example.com]
    subject_prefix: "[ocpv-dr]"    # start of every subject (mail filters)
)yaml";
}

}  // namespace ocpvdr::config
