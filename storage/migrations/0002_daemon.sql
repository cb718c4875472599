-- The daemon (tlsaudit serve): what a scan was asked to do and how far it is, schedules shared
-- by every daemon on the database, and per-sink alert delivery.

-- A scan knows the target group it runs for, the site label, the ports it probes and why it
-- failed; work items count what they found so progress is a sum, not a scan of observations.
ALTER TABLE scans
  ADD COLUMN group_name  text NOT NULL DEFAULT '',
  ADD COLUMN site        text NOT NULL DEFAULT '',
  ADD COLUMN ports       integer[] NOT NULL DEFAULT '{}',
  ADD COLUMN exclude     text[] NOT NULL DEFAULT '{}',
  ADD COLUMN error       text NOT NULL DEFAULT '';
CREATE INDEX scans_state_idx ON scans (state, id);
CREATE INDEX scans_group_idx ON scans (group_name, id);

ALTER TABLE scan_work_items
  ADD COLUMN addresses  bigint NOT NULL DEFAULT 0,
  ADD COLUMN hosts      bigint NOT NULL DEFAULT 0,
  ADD COLUMN services   bigint NOT NULL DEFAULT 0,
  ADD COLUMN findings   bigint NOT NULL DEFAULT 0;

-- One row per scheduled target group. Whichever daemon locks a due row (FOR UPDATE SKIP
-- LOCKED) creates the scan and moves next_run, so several daemons with the same configuration
-- start each scheduled scan once.
CREATE TABLE schedules (
  group_name    text PRIMARY KEY,
  spec          text NOT NULL,        -- the schedule as configured; a new spec resets next_run
  next_run      timestamptz NOT NULL,
  last_scan_id  bigint REFERENCES scans (id) ON DELETE SET NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Every alert carries a key that stays the same across redeliveries, so receivers can drop
-- duplicates (delivery is at least once).
ALTER TABLE alert_outbox ADD COLUMN idempotency_key uuid NOT NULL DEFAULT gen_random_uuid();

-- Which outbox events each configured sink has taken (delivered, or filtered out by the sink's
-- rules). Events are written in the ingest transaction, so their ids do not commit in order:
-- a sink reads every event above its watermark that it has not taken yet, and the watermark
-- only moves over events old enough that no transaction can still be adding below them.
CREATE TABLE alert_sinks (
  name        text PRIMARY KEY,
  watermark   bigint NOT NULL DEFAULT 0,
  last_error  text NOT NULL DEFAULT '',
  failures    bigint NOT NULL DEFAULT 0,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_deliveries (
  sink          text NOT NULL,
  outbox_id     bigint NOT NULL REFERENCES alert_outbox (id) ON DELETE CASCADE,
  delivered     boolean NOT NULL,     -- false: filtered out for this sink
  attempts      integer NOT NULL DEFAULT 1,
  at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sink, outbox_id)
);
CREATE INDEX alert_deliveries_outbox_idx ON alert_deliveries (outbox_id);
CREATE INDEX alert_outbox_created_idx ON alert_outbox (created_at);
