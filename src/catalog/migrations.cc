// The catalog's schema as an append-only list of migration steps.
//
// Rules for later changes: never edit or reorder a step that has shipped (databases in the field
// recorded it as applied); add a new step with the next version number at the END of the list.
// Each step runs in one IMMEDIATE transaction together with its schema_version row, so a crash
// mid-migration leaves the previous version intact.
#include "catalog/catalog.h"

namespace ocpvdr::catalog {

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> kSteps = {
      {1, "replicas, snapshots, runs, run_items, events_seen",
       R"sql(
CREATE TABLE replicas (
  pv                TEXT PRIMARY KEY,
  uid               TEXT NOT NULL DEFAULT '',
  source_kind       TEXT NOT NULL DEFAULT '',
  source_server     TEXT NOT NULL DEFAULT '',
  source_path       TEXT NOT NULL DEFAULT '',
  primary_host_path TEXT NOT NULL DEFAULT '',
  dr_path           TEXT NOT NULL DEFAULT '',
  dr_export_path    TEXT NOT NULL DEFAULT '',
  storage_class     TEXT NOT NULL DEFAULT '',
  claim_namespace   TEXT NOT NULL DEFAULT '',
  claim_name        TEXT NOT NULL DEFAULT '',
  state             TEXT NOT NULL DEFAULT 'active',
  last_sync_start_ms INTEGER,
  last_sync_end_ms   INTEGER,
  last_success_ms    INTEGER,
  result            TEXT NOT NULL DEFAULT '',
  bytes             INTEGER NOT NULL DEFAULT 0,
  files             INTEGER NOT NULL DEFAULT 0,
  deletions         INTEGER NOT NULL DEFAULT 0,
  error_kind        TEXT NOT NULL DEFAULT '',
  error_message     TEXT NOT NULL DEFAULT '',
  forced            INTEGER NOT NULL DEFAULT 0 CHECK (forced IN (0, 1)),
  trash_path        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX replicas_claim ON replicas (claim_namespace, claim_name);

CREATE TABLE snapshots (
  uid               TEXT PRIMARY KEY,
  namespace         TEXT NOT NULL,
  name              TEXT NOT NULL,
  source_pvc        TEXT NOT NULL DEFAULT '',
  source_pv         TEXT NOT NULL DEFAULT '',
  content_name      TEXT NOT NULL DEFAULT '',
  snapshot_handle   TEXT NOT NULL DEFAULT '',
  driver            TEXT NOT NULL DEFAULT '',
  class_name        TEXT NOT NULL DEFAULT '',
  creation_time_ms  INTEGER,
  restore_size      INTEGER,
  ready             INTEGER NOT NULL DEFAULT 0 CHECK (ready IN (0, 1)),
  state             TEXT NOT NULL DEFAULT 'pending',
  data_primary_path TEXT NOT NULL DEFAULT '',
  data_dr_path      TEXT NOT NULL DEFAULT '',
  trash_path        TEXT NOT NULL DEFAULT '',
  first_seen_ms     INTEGER,
  ready_at_ms       INTEGER,
  deleted_at_ms     INTEGER,
  last_sync_end_ms  INTEGER,
  result            TEXT NOT NULL DEFAULT '',
  bytes             INTEGER NOT NULL DEFAULT 0,
  error_kind        TEXT NOT NULL DEFAULT '',
  error_message     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX snapshots_name ON snapshots (namespace, name);

CREATE TABLE runs (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  kind          TEXT NOT NULL,
  started_at_ms INTEGER NOT NULL,
  finished_at_ms INTEGER,
  result        TEXT NOT NULL DEFAULT '',
  summary_json  TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE run_items (
  run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  key         TEXT NOT NULL,
  result      TEXT NOT NULL,
  detail_json TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (run_id, key)
);

CREATE TABLE events_seen (
  event_id        TEXT PRIMARY KEY,
  key             TEXT NOT NULL DEFAULT '',
  result          TEXT NOT NULL DEFAULT '',
  ok              INTEGER NOT NULL DEFAULT 0 CHECK (ok IN (0, 1)),
  processed_at_ms INTEGER NOT NULL
);
)sql"},
      {2, "failover journal: failover_runs, failover_steps",
       R"sql(
CREATE TABLE failover_runs (
  run_id         TEXT PRIMARY KEY,
  mode           TEXT NOT NULL CHECK (mode IN ('planned', 'unplanned')),
  backup         TEXT NOT NULL DEFAULT '',
  state          TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
  started_at_ms  INTEGER NOT NULL,
  finished_at_ms INTEGER,
  options_json   TEXT NOT NULL DEFAULT '{}',
  error_kind     TEXT NOT NULL DEFAULT '',
  error_message  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX failover_runs_started ON failover_runs (started_at_ms);

CREATE TABLE failover_steps (
  run_id         TEXT NOT NULL REFERENCES failover_runs (run_id) ON DELETE CASCADE,
  step           TEXT NOT NULL,
  seq            INTEGER NOT NULL,
  state          TEXT NOT NULL CHECK (state IN ('started', 'done', 'failed', 'skipped')),
  started_at_ms  INTEGER NOT NULL,
  finished_at_ms INTEGER,
  attempts       INTEGER NOT NULL DEFAULT 1,
  details_json   TEXT NOT NULL DEFAULT '{}',
  error_kind     TEXT NOT NULL DEFAULT '',
  error_message  TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (run_id, step)
);
)sql"},
      {3, "DR active state (dr_active) and operator actions on failover runs (failover_actions)",
       R"sql(
CREATE TABLE dr_active (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  run_id     TEXT NOT NULL,
  backup     TEXT NOT NULL DEFAULT '',
  mode       TEXT NOT NULL DEFAULT '',
  set_at_ms  INTEGER NOT NULL
);

CREATE TABLE failover_actions (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id     TEXT NOT NULL,
  action     TEXT NOT NULL CHECK (action IN ('dr-active', 'release', 'abandon')),
  at_ms      INTEGER NOT NULL,
  forced     INTEGER NOT NULL DEFAULT 0 CHECK (forced IN (0, 1)),
  reason     TEXT NOT NULL DEFAULT '',
  details_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX failover_actions_run ON failover_actions (run_id, id);

ALTER TABLE failover_runs ADD COLUMN abandoned_at_ms INTEGER;
)sql"},
      {4, "recovery points of the extent mover (recovery_points)",
       R"sql(
CREATE TABLE recovery_points (
  pv                 TEXT NOT NULL,
  point_id           TEXT NOT NULL,
  base_id            TEXT NOT NULL DEFAULT '',
  data_time_ns       INTEGER NOT NULL,
  created_at_ms      INTEGER NOT NULL,
  path               TEXT NOT NULL,
  mover              TEXT NOT NULL DEFAULT 'extent',
  consistency        TEXT NOT NULL DEFAULT 'per-file'
                     CHECK (consistency IN ('per-file', 'crash', 'application')),
  group_name         TEXT NOT NULL DEFAULT '',
  freeze_ms          INTEGER NOT NULL DEFAULT -1,
  entries            INTEGER NOT NULL DEFAULT 0,
  data_bytes         INTEGER NOT NULL DEFAULT 0,
  stream_bytes       INTEGER NOT NULL DEFAULT 0,
  primary_read_bytes INTEGER NOT NULL DEFAULT 0,
  dr_read_bytes      INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (pv, point_id)
);
CREATE INDEX recovery_points_time ON recovery_points (pv, data_time_ns);
)sql"},
      {5, "the digest of a point's source directory (the cheap full pass, issue 16)",
       R"sql(
ALTER TABLE recovery_points ADD COLUMN source_digest TEXT NOT NULL DEFAULT '';
)sql"},
      // Append new steps here: {6, "what it adds", R"sql(...)sql"},
  };
  return kSteps;
}

}  // namespace ocpvdr::catalog
