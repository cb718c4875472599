-- tlsaudit schema, version 1. Forward-only: change the schema with a new numbered file, never
-- by editing this one (the migrator refuses an applied migration whose checksum changed).

-- Scans and the work items several daemons share. A work item is claimed with a lease
-- (FOR UPDATE SKIP LOCKED); a daemon that dies leaves an expired lease that another reclaims.
CREATE TABLE scans (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name          text NOT NULL DEFAULT '',
  state         smallint NOT NULL DEFAULT 1,  -- tlsaudit.v1.ScanState
  targets       text[] NOT NULL DEFAULT '{}',
  profile       text NOT NULL DEFAULT '',
  requested_by  text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz
);
CREATE INDEX scans_created_idx ON scans (created_at DESC, id DESC);

CREATE TABLE scan_work_items (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  scan_id        bigint NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
  target         text NOT NULL,
  state          smallint NOT NULL DEFAULT 1,  -- tlsaudit.v1.WorkItemState
  lease_owner    text,
  lease_expires  timestamptz,
  attempts       integer NOT NULL DEFAULT 0,
  last_error     text NOT NULL DEFAULT '',
  updated_at     timestamptz NOT NULL DEFAULT now()
);
-- claim: pending items in order; reclaim: leased items by expiry.
CREATE INDEX scan_work_items_pending_idx ON scan_work_items (id) WHERE state = 1;
CREATE INDEX scan_work_items_leased_idx ON scan_work_items (lease_expires) WHERE state = 2;
CREATE INDEX scan_work_items_scan_idx ON scan_work_items (scan_id, state);

-- Devices, identified by their primary address.
CREATE TABLE assets (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  address            inet NOT NULL UNIQUE,
  addresses          inet[] NOT NULL DEFAULT '{}',
  mac                macaddr,
  hostname           text NOT NULL DEFAULT '',
  vendor             text NOT NULL DEFAULT '',
  model              text NOT NULL DEFAULT '',
  firmware           text NOT NULL DEFAULT '',
  serial             text NOT NULL DEFAULT '',
  device_class       smallint NOT NULL DEFAULT 0,  -- tlsaudit.v1.DeviceClass
  site               text NOT NULL DEFAULT '',
  inventory          jsonb NOT NULL DEFAULT '{}',  -- the whole Asset message (proto3 JSON)
  first_seen         timestamptz NOT NULL,
  last_seen          timestamptz NOT NULL
);
CREATE INDEX assets_address_gist_idx ON assets USING gist (address inet_ops);
CREATE INDEX assets_vendor_model_idx ON assets (lower(vendor), lower(model));
CREATE INDEX assets_mac_idx ON assets (mac);
CREATE INDEX assets_last_seen_idx ON assets (last_seen);

CREATE TABLE services (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  asset_id             bigint NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
  address              inet NOT NULL,
  port                 integer NOT NULL CHECK (port BETWEEN 0 AND 65535),
  transport            text NOT NULL DEFAULT 'tcp',
  protocol             text NOT NULL DEFAULT '',
  starttls             text NOT NULL DEFAULT '',
  product              text NOT NULL DEFAULT '',
  first_seen           timestamptz NOT NULL,
  last_seen            timestamptz NOT NULL,
  last_scan_id         bigint REFERENCES scans (id) ON DELETE SET NULL,
  last_observation_id  bigint,  -- no FK: retention may drop old observations
  UNIQUE (address, port, transport)
);
CREATE INDEX services_asset_idx ON services (asset_id);
-- Summaries and certificate counts join on the latest observation; retention keeps it.
CREATE INDEX services_last_observation_idx ON services (last_observation_id);
CREATE INDEX services_port_idx ON services (port);
CREATE INDEX services_address_gist_idx ON services USING gist (address inet_ops);

-- Every observation is kept (until retention): the full report as JSONB, plus normalised rows
-- that queries and summaries use. (scan_id, service_id) is the ingest idempotency key.
CREATE TABLE observations (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  scan_id      bigint NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
  service_id   bigint NOT NULL REFERENCES services (id) ON DELETE CASCADE,
  asset_id     bigint NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
  observed_at  timestamptz NOT NULL,
  reachable    boolean NOT NULL,
  tls          boolean NOT NULL,
  complete     boolean NOT NULL,
  report       jsonb NOT NULL,  -- TlsReport as proto3 JSON, certificate DER left out (see
                                -- certificates.der)
  UNIQUE (scan_id, service_id)
);
CREATE INDEX observations_service_idx ON observations (service_id, observed_at DESC);
CREATE INDEX observations_observed_at_idx ON observations (observed_at);

CREATE TABLE observation_versions (
  observation_id  bigint NOT NULL REFERENCES observations (id) ON DELETE CASCADE,
  version         smallint NOT NULL,  -- tlsaudit.v1.TlsVersion
  supported       boolean NOT NULL,
  cipher_order    smallint NOT NULL DEFAULT 0,
  PRIMARY KEY (observation_id, version)
);
CREATE INDEX observation_versions_supported_idx ON observation_versions (version)
  WHERE supported;

CREATE TABLE observation_cipher_suites (
  observation_id  bigint NOT NULL REFERENCES observations (id) ON DELETE CASCADE,
  version         smallint NOT NULL,
  position        smallint NOT NULL,  -- preference order when the server has one
  code            integer NOT NULL,
  name            text NOT NULL,
  kx              text NOT NULL DEFAULT '',
  auth            text NOT NULL DEFAULT '',
  cipher          text NOT NULL DEFAULT '',
  mac             text NOT NULL DEFAULT '',
  bits            integer NOT NULL DEFAULT 0,
  forward_secret  boolean NOT NULL DEFAULT false,
  PRIMARY KEY (observation_id, version, position)
);
CREATE INDEX observation_cipher_suites_code_idx ON observation_cipher_suites (code);

CREATE TABLE observation_client_auth (
  observation_id        bigint NOT NULL REFERENCES observations (id) ON DELETE CASCADE,
  version               smallint NOT NULL,
  signature_algorithms  text[] NOT NULL DEFAULT '{}',
  ca_names              text[] NOT NULL DEFAULT '{}',
  certificate_types     text[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (observation_id, version)
);
CREATE INDEX observation_client_auth_sigalgs_idx ON observation_client_auth
  USING gin (signature_algorithms);

CREATE TABLE observation_extensions (
  observation_id          bigint PRIMARY KEY REFERENCES observations (id) ON DELETE CASCADE,
  secure_renegotiation    boolean NOT NULL,
  fallback_scsv           smallint NOT NULL,  -- tlsaudit.v1.Support
  compression             boolean NOT NULL,
  ocsp_stapling           boolean NOT NULL,
  heartbeat               boolean NOT NULL,
  session_ticket          boolean NOT NULL,
  extended_master_secret  boolean NOT NULL,
  encrypt_then_mac        boolean NOT NULL,
  alpn                    text[] NOT NULL DEFAULT '{}'
);

-- A certificate is stored once, by the SHA-256 of its DER; observations point at it.
CREATE TABLE certificates (
  sha256               bytea PRIMARY KEY CHECK (length(sha256) = 32),
  sha1                 bytea,
  der                  bytea NOT NULL,
  subject              text NOT NULL DEFAULT '',
  issuer               text NOT NULL DEFAULT '',
  common_name          text NOT NULL DEFAULT '',
  serial               text NOT NULL DEFAULT '',
  not_before           timestamptz,
  not_after            timestamptz,
  signature_algorithm  text NOT NULL DEFAULT '',
  signature_hash       text NOT NULL DEFAULT '',
  key_type             text NOT NULL DEFAULT '',
  key_bits             integer NOT NULL DEFAULT 0,
  curve                text NOT NULL DEFAULT '',
  subject_alt_names    text[] NOT NULL DEFAULT '{}',
  is_ca                boolean NOT NULL DEFAULT false,
  self_signed          boolean NOT NULL DEFAULT false,
  x509_version         smallint NOT NULL DEFAULT 0,
  first_seen           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX certificates_signature_hash_idx ON certificates (signature_hash);
CREATE INDEX certificates_not_after_idx ON certificates (not_after);

CREATE TABLE observation_certificates (
  observation_id  bigint NOT NULL REFERENCES observations (id) ON DELETE CASCADE,
  chain_index     smallint NOT NULL,
  position        smallint NOT NULL,  -- 0 = leaf
  sha256          bytea NOT NULL REFERENCES certificates (sha256),
  source          smallint NOT NULL DEFAULT 0,
  trusted         boolean NOT NULL DEFAULT false,
  PRIMARY KEY (observation_id, chain_index, position)
);
CREATE INDEX observation_certificates_sha256_idx ON observation_certificates (sha256);

-- Findings: one row per (asset, service, rule), with its lifecycle state and history.
CREATE TABLE findings (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  asset_id        bigint NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
  service_id      bigint NOT NULL REFERENCES services (id) ON DELETE CASCADE,
  address         inet NOT NULL,  -- the asset's primary address, copied for the CIDR index
  rule_id         text NOT NULL,
  severity        smallint NOT NULL,  -- tlsaudit.v1.Severity
  state           smallint NOT NULL,  -- tlsaudit.v1.FindingState
  title           text NOT NULL DEFAULT '',
  evidence        text NOT NULL DEFAULT '',
  profiles        text[] NOT NULL DEFAULT '{}',
  references_     text[] NOT NULL DEFAULT '{}',
  tags            text[] NOT NULL DEFAULT '{}',
  waiver_id       text NOT NULL DEFAULT '',
  first_seen      timestamptz NOT NULL,
  last_seen       timestamptz NOT NULL,
  last_scan_id    bigint REFERENCES scans (id) ON DELETE SET NULL,
  state_changed   timestamptz NOT NULL,
  UNIQUE (service_id, rule_id)
);
-- The list query pages by id descending; each filter has an index that keeps that order.
CREATE INDEX findings_state_severity_idx ON findings (state, severity, id);
CREATE INDEX findings_state_idx ON findings (state, id);
CREATE INDEX findings_rule_idx ON findings (rule_id, id);
CREATE INDEX findings_asset_idx ON findings (asset_id, id);
-- Address and CIDR filters page by (address, id): PostgreSQL reads `address <<= cidr` as a
-- range of this index, so a wide subnet does not mean scanning past other subnets' rows.
CREATE INDEX findings_address_idx ON findings (address, id);
CREATE INDEX findings_last_seen_idx ON findings (last_seen);
CREATE INDEX findings_last_scan_idx ON findings (last_scan_id);
CREATE INDEX findings_profiles_idx ON findings USING gin (profiles);

CREATE TABLE finding_events (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  finding_id  bigint NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
  scan_id     bigint REFERENCES scans (id) ON DELETE SET NULL,
  kind        text NOT NULL,  -- opened, reopened, resolved, waived, unwaived
  from_state  smallint NOT NULL,
  to_state    smallint NOT NULL,
  at          timestamptz NOT NULL,
  evidence    text NOT NULL DEFAULT ''
);
CREATE INDEX finding_events_finding_idx ON finding_events (finding_id, id);

-- Which findings each scan saw: the scan diff reads it.
CREATE TABLE scan_findings (
  scan_id     bigint NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
  finding_id  bigint NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
  PRIMARY KEY (scan_id, finding_id)
);

CREATE TABLE waivers (
  id          text PRIMARY KEY,
  rule_id     text NOT NULL,
  address     inet,
  cidr        cidr,
  vendor      text NOT NULL DEFAULT '',
  model       text NOT NULL DEFAULT '',
  port        integer NOT NULL DEFAULT 0,
  reason      text NOT NULL,
  owner       text NOT NULL DEFAULT '',
  expires     timestamptz,
  created     timestamptz NOT NULL DEFAULT now(),
  origin      text NOT NULL DEFAULT ''
);
CREATE INDEX waivers_rule_idx ON waivers (rule_id);

-- Alert events, written in the same transaction as the finding change they announce; the
-- alert sender delivers them and sets delivered_at.
CREATE TABLE alert_outbox (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id      bigint NOT NULL REFERENCES finding_events (id) ON DELETE CASCADE,
  kind          text NOT NULL,
  payload       jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  delivered_at  timestamptz,
  attempts      integer NOT NULL DEFAULT 0
);
CREATE INDEX alert_outbox_undelivered_idx ON alert_outbox (id) WHERE delivered_at IS NULL;
