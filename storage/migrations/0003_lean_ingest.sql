-- Ingest at scale (issue 5: 100,000 observations at 5,000 per second on two cores). Every row,
-- index entry and foreign-key check an observation brings costs server time, so this migration
-- folds a version's cipher suites into one row, drops indexes no query reads, and replaces the
-- foreign keys of the tables ingest writes (checked once per row) by locks ingest takes once per
-- transaction and triggers that do what the keys did on delete. Nothing the issue asks for
-- goes: the report stays whole as JSONB, versions, cipher suites, client-auth and extensions
-- stay in tables of their own that queries use, certificates are stored once by SHA-256 with
-- their chain positions per observation. tests/bench/README.md ("Storage benchmark") has the
-- measurements behind each step; storage/README.md describes the resulting model.

-- ---- Cipher suites: one row per (observation, version), the suites as ordered arrays --------
-- An observation accepted about 18 suites, which were 18 rows with two index entries each: most
-- of an observation's rows. A version's suites are now one row; element i of every array
-- describes the suite at position i (the server's preference order when it has one), so nothing
-- of the former rows is lost, and observation_cipher_suite_rows shows them in the former shape.
ALTER TABLE observation_cipher_suites RENAME TO observation_cipher_suites_0002;
ALTER TABLE observation_cipher_suites_0002
  RENAME CONSTRAINT observation_cipher_suites_pkey TO observation_cipher_suites_0002_pkey;
DROP INDEX observation_cipher_suites_code_idx;

CREATE TABLE observation_cipher_suites (
  observation_id  bigint NOT NULL,
  version         smallint NOT NULL,  -- tlsaudit.v1.TlsVersion
  codes           integer[] NOT NULL,
  names           text[] NOT NULL,
  kx              text[] NOT NULL,
  auth            text[] NOT NULL,
  ciphers         text[] NOT NULL,
  macs            text[] NOT NULL,
  bits            integer[] NOT NULL,
  forward_secret  boolean[] NOT NULL,
  PRIMARY KEY (observation_id, version),
  CHECK (cardinality(names) = cardinality(codes) AND cardinality(kx) = cardinality(codes)
         AND cardinality(auth) = cardinality(codes) AND cardinality(ciphers) = cardinality(codes)
         AND cardinality(macs) = cardinality(codes) AND cardinality(bits) = cardinality(codes)
         AND cardinality(forward_secret) = cardinality(codes))
);

INSERT INTO observation_cipher_suites (observation_id, version, codes, names, kx, auth, ciphers,
                                       macs, bits, forward_secret)
SELECT observation_id, version, array_agg(code ORDER BY position),
       array_agg(name ORDER BY position), array_agg(kx ORDER BY position),
       array_agg(auth ORDER BY position), array_agg(cipher ORDER BY position),
       array_agg(mac ORDER BY position), array_agg(bits ORDER BY position),
       array_agg(forward_secret ORDER BY position)
FROM observation_cipher_suites_0002
GROUP BY observation_id, version;
DROP TABLE observation_cipher_suites_0002;

-- One row per accepted suite, as the table was before (position counts from 0).
CREATE VIEW observation_cipher_suite_rows AS
SELECT s.observation_id, s.version, (u.n - 1)::smallint AS position, u.code, u.name, u.kx,
       u.auth, u.cipher, u.mac, u.bits, u.forward_secret
FROM observation_cipher_suites s,
     unnest(s.codes, s.names, s.kx, s.auth, s.ciphers, s.macs, s.bits, s.forward_secret)
       WITH ORDINALITY AS u(code, name, kx, auth, cipher, mac, bits, forward_secret, n);

-- ---- References: guaranteed by the ingest transaction, not checked row by row -------------
-- PostgreSQL checks a foreign key per referencing row (a query, and a lock on the referenced
-- row); an observation brought about 57 such checks, a third of the server's ingest time. The
-- foreign keys of the tables ingest writes are dropped. Ingest (PgFindingStore::ingest and
-- ::ingestBatch) is the only writer of these rows, and it writes a row only in a transaction
-- that created or locked the row it refers to, so the referenced row exists when the row is
-- written and cannot go away before it commits:
--   * scans: every scan a transaction writes for is locked first (SELECT ... FOR KEY SHARE,
--     once per scan and transaction, as the foreign key did per row), and a result for a scan
--     that does not exist is refused: observations.scan_id, services.last_scan_id,
--     findings.last_scan_id, finding_events.scan_id, scan_findings.scan_id;
--   * assets and services are upserted (so inserted or locked) by the statement that returns
--     the ids the other rows use: services.asset_id, observations (asset_id, service_id),
--     findings (asset_id, service_id);
--   * observation_versions, _cipher_suites, _client_auth, _extensions and _certificates
--     (observation_id): written after their observation, in the transaction that inserted it;
--   * observation_certificates.sha256: the certificate was inserted by the transaction, or is
--     locked by it (FOR KEY SHARE, once per certificate and transaction);
--   * finding_events.finding_id, scan_findings.finding_id: the finding is inserted or updated
--     by the transaction, or locked FOR UPDATE by it (a resolved finding);
--   * alert_outbox.event_id: the event is inserted by the same transaction.
-- Only the foreign keys of the scheduling tables stay (scan_work_items, schedules,
-- alert_deliveries): ingest does not write them.
-- What the dropped keys did on delete (retention, and any DELETE of an asset, service, scan,
-- finding or event by hand) is done by the triggers below, statement by statement, a
-- referenced key cannot change, and TRUNCATE takes the referring rows with it. A trigger's
-- statements see what committed before they run (READ COMMITTED), so rows an ingest added
-- while the delete waited for its lock go too; under REPEATABLE READ they would not be seen,
-- so deleting a row that later transactions can refer to (a scan, asset, service, certificate
-- or finding) is refused there, where the foreign keys had a cross-check of their own.
-- tlsaudit_orphan_references() counts rows whose referenced row is missing; the storage tests
-- assert that it is zero after every scenario.
ALTER TABLE services
  DROP CONSTRAINT services_asset_id_fkey,
  DROP CONSTRAINT services_last_scan_id_fkey;
ALTER TABLE observations
  DROP CONSTRAINT observations_scan_id_fkey,
  DROP CONSTRAINT observations_service_id_fkey,
  DROP CONSTRAINT observations_asset_id_fkey;
ALTER TABLE observation_versions DROP CONSTRAINT observation_versions_observation_id_fkey;
ALTER TABLE observation_client_auth DROP CONSTRAINT observation_client_auth_observation_id_fkey;
ALTER TABLE observation_extensions DROP CONSTRAINT observation_extensions_observation_id_fkey;
ALTER TABLE observation_certificates
  DROP CONSTRAINT observation_certificates_observation_id_fkey,
  DROP CONSTRAINT observation_certificates_sha256_fkey;
ALTER TABLE findings
  DROP CONSTRAINT findings_asset_id_fkey,
  DROP CONSTRAINT findings_service_id_fkey,
  DROP CONSTRAINT findings_last_scan_id_fkey;
ALTER TABLE finding_events
  DROP CONSTRAINT finding_events_finding_id_fkey,
  DROP CONSTRAINT finding_events_scan_id_fkey;
ALTER TABLE scan_findings
  DROP CONSTRAINT scan_findings_scan_id_fkey,
  DROP CONSTRAINT scan_findings_finding_id_fkey;
ALTER TABLE alert_outbox DROP CONSTRAINT alert_outbox_event_id_fkey;

CREATE FUNCTION tlsaudit_require_read_committed() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE object_not_in_prerequisite_state USING
      MESSAGE = 'delete scans, assets, services, certificates and findings in a READ COMMITTED'
                || ' transaction: rows ingest writes meanwhile would be missed otherwise';
  END IF;
END $$;

-- ON DELETE CASCADE of the normalised rows and chain positions (retention deletes
-- observations; so does a cascade from services, assets and scans).
CREATE FUNCTION tlsaudit_observations_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM observation_versions c USING gone g WHERE c.observation_id = g.id;
  DELETE FROM observation_cipher_suites c USING gone g WHERE c.observation_id = g.id;
  DELETE FROM observation_client_auth c USING gone g WHERE c.observation_id = g.id;
  DELETE FROM observation_extensions c USING gone g WHERE c.observation_id = g.id;
  DELETE FROM observation_certificates c USING gone g WHERE c.observation_id = g.id;
  RETURN NULL;
END $$;
CREATE TRIGGER observations_deleted AFTER DELETE ON observations
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
  EXECUTE FUNCTION tlsaudit_observations_deleted();

-- ON DELETE NO ACTION of observation_certificates.sha256: a certificate an observation
-- presents cannot be deleted (tlsaudit never deletes certificates).
CREATE FUNCTION tlsaudit_certificates_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tlsaudit_require_read_committed();
  IF EXISTS (SELECT 1 FROM observation_certificates c JOIN gone g ON g.sha256 = c.sha256) THEN
    RAISE foreign_key_violation USING
      MESSAGE = 'a certificate that observations present cannot be deleted',
      TABLE = 'certificates';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER certificates_deleted AFTER DELETE ON certificates
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
  EXECUTE FUNCTION tlsaudit_certificates_deleted();

-- ON DELETE CASCADE from assets and services to what was observed of them and found on them.
CREATE FUNCTION tlsaudit_assets_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tlsaudit_require_read_committed();
  DELETE FROM services c USING gone g WHERE c.asset_id = g.id;
  DELETE FROM observations c USING gone g WHERE c.asset_id = g.id;
  DELETE FROM findings c USING gone g WHERE c.asset_id = g.id;
  RETURN NULL;
END $$;
CREATE TRIGGER assets_deleted AFTER DELETE ON assets
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION tlsaudit_assets_deleted();

CREATE FUNCTION tlsaudit_services_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tlsaudit_require_read_committed();
  DELETE FROM observations c USING gone g WHERE c.service_id = g.id;
  DELETE FROM findings c USING gone g WHERE c.service_id = g.id;
  RETURN NULL;
END $$;
CREATE TRIGGER services_deleted AFTER DELETE ON services
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION tlsaudit_services_deleted();

-- A scan's observations and membership go with it; services, findings and events keep their
-- rows and forget the scan (ON DELETE CASCADE and SET NULL as before).
CREATE FUNCTION tlsaudit_scans_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tlsaudit_require_read_committed();
  DELETE FROM observations c USING gone g WHERE c.scan_id = g.id;
  DELETE FROM scan_findings c USING gone g WHERE c.scan_id = g.id;
  UPDATE services c SET last_scan_id = NULL FROM gone g WHERE c.last_scan_id = g.id;
  UPDATE findings c SET last_scan_id = NULL FROM gone g WHERE c.last_scan_id = g.id;
  UPDATE finding_events c SET scan_id = NULL FROM gone g WHERE c.scan_id = g.id;
  RETURN NULL;
END $$;
CREATE TRIGGER scans_deleted AFTER DELETE ON scans
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION tlsaudit_scans_deleted();

CREATE FUNCTION tlsaudit_findings_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tlsaudit_require_read_committed();
  DELETE FROM finding_events c USING gone g WHERE c.finding_id = g.id;
  DELETE FROM scan_findings c USING gone g WHERE c.finding_id = g.id;
  RETURN NULL;
END $$;
CREATE TRIGGER findings_deleted AFTER DELETE ON findings
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION tlsaudit_findings_deleted();

CREATE FUNCTION tlsaudit_finding_events_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM alert_outbox c USING gone g WHERE c.event_id = g.id;
  RETURN NULL;
END $$;
CREATE TRIGGER finding_events_deleted AFTER DELETE ON finding_events
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
  EXECUTE FUNCTION tlsaudit_finding_events_deleted();

-- TRUNCATE takes the rows that referred to the truncated ones with it (the foreign keys refused
-- it instead), and refuses for certificates that observations present. (scans keeps the
-- foreign keys of scan_work_items and schedules, which refuse it as before.)
CREATE FUNCTION tlsaudit_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Each table truncates the tables right below it, whose own triggers go on from there (a
  -- table truncated twice in one chain is refused as in use).
  IF TG_TABLE_NAME = 'assets' THEN
    TRUNCATE services;
  ELSIF TG_TABLE_NAME = 'services' THEN
    TRUNCATE observations, findings;
  ELSIF TG_TABLE_NAME = 'observations' THEN
    TRUNCATE observation_versions, observation_cipher_suites, observation_client_auth,
             observation_extensions, observation_certificates;
  ELSIF TG_TABLE_NAME = 'findings' THEN
    TRUNCATE finding_events, scan_findings;
  ELSIF TG_TABLE_NAME = 'finding_events' THEN
    TRUNCATE alert_outbox, alert_deliveries;
  ELSIF TG_TABLE_NAME = 'certificates' AND EXISTS (SELECT 1 FROM observation_certificates) THEN
    RAISE foreign_key_violation USING
      MESSAGE = 'certificates that observations present cannot be truncated',
      TABLE = 'certificates';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER assets_truncated AFTER TRUNCATE ON assets
  FOR EACH STATEMENT EXECUTE FUNCTION tlsaudit_truncated();
CREATE TRIGGER services_truncated AFTER TRUNCATE ON services
  FOR EACH STATEMENT EXECUTE FUNCTION tlsaudit_truncated();
CREATE TRIGGER observations_truncated AFTER TRUNCATE ON observations
  FOR EACH STATEMENT EXECUTE FUNCTION tlsaudit_truncated();
CREATE TRIGGER findings_truncated AFTER TRUNCATE ON findings
  FOR EACH STATEMENT EXECUTE FUNCTION tlsaudit_truncated();
CREATE TRIGGER finding_events_truncated AFTER TRUNCATE ON finding_events
  FOR EACH STATEMENT EXECUTE FUNCTION tlsaudit_truncated();
CREATE TRIGGER certificates_truncated BEFORE TRUNCATE ON certificates
  FOR EACH STATEMENT EXECUTE FUNCTION tlsaudit_truncated();

-- ON UPDATE NO ACTION: a referenced key never changes (no statement of tlsaudit sets one; the
-- triggers fire only for an UPDATE that names the key column).
CREATE FUNCTION tlsaudit_key_unchanged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE foreign_key_violation USING
    MESSAGE = format('the key of %I rows is referenced and cannot change', TG_TABLE_NAME),
    TABLE = TG_TABLE_NAME;
END $$;
CREATE TRIGGER observations_key_unchanged BEFORE UPDATE OF id ON observations
  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION tlsaudit_key_unchanged();
CREATE TRIGGER certificates_key_unchanged BEFORE UPDATE OF sha256 ON certificates
  FOR EACH ROW WHEN (OLD.sha256 IS DISTINCT FROM NEW.sha256)
  EXECUTE FUNCTION tlsaudit_key_unchanged();
CREATE TRIGGER assets_key_unchanged BEFORE UPDATE OF id ON assets
  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION tlsaudit_key_unchanged();
CREATE TRIGGER services_key_unchanged BEFORE UPDATE OF id ON services
  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION tlsaudit_key_unchanged();
CREATE TRIGGER scans_key_unchanged BEFORE UPDATE OF id ON scans
  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION tlsaudit_key_unchanged();
CREATE TRIGGER findings_key_unchanged BEFORE UPDATE OF id ON findings
  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION tlsaudit_key_unchanged();
CREATE TRIGGER finding_events_key_unchanged BEFORE UPDATE OF id ON finding_events
  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION tlsaudit_key_unchanged();

-- Rows whose referenced row is missing, per dropped foreign key: all zero, always.
CREATE FUNCTION tlsaudit_orphan_references() RETURNS TABLE (reference text, orphans bigint)
LANGUAGE sql STABLE AS $$
  SELECT 'services.asset_id', count(*) FROM services c
  WHERE NOT EXISTS (SELECT 1 FROM assets p WHERE p.id = c.asset_id)
  UNION ALL
  SELECT 'services.last_scan_id', count(*) FROM services c
  WHERE c.last_scan_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM scans p WHERE p.id = c.last_scan_id)
  UNION ALL
  SELECT 'observations.scan_id', count(*) FROM observations c
  WHERE NOT EXISTS (SELECT 1 FROM scans p WHERE p.id = c.scan_id)
  UNION ALL
  SELECT 'observations.service_id', count(*) FROM observations c
  WHERE NOT EXISTS (SELECT 1 FROM services p WHERE p.id = c.service_id)
  UNION ALL
  SELECT 'observations.asset_id', count(*) FROM observations c
  WHERE NOT EXISTS (SELECT 1 FROM assets p WHERE p.id = c.asset_id)
  UNION ALL
  SELECT 'observation_versions.observation_id', count(*) FROM observation_versions c
  WHERE NOT EXISTS (SELECT 1 FROM observations p WHERE p.id = c.observation_id)
  UNION ALL
  SELECT 'observation_cipher_suites.observation_id', count(*) FROM observation_cipher_suites c
  WHERE NOT EXISTS (SELECT 1 FROM observations p WHERE p.id = c.observation_id)
  UNION ALL
  SELECT 'observation_client_auth.observation_id', count(*) FROM observation_client_auth c
  WHERE NOT EXISTS (SELECT 1 FROM observations p WHERE p.id = c.observation_id)
  UNION ALL
  SELECT 'observation_extensions.observation_id', count(*) FROM observation_extensions c
  WHERE NOT EXISTS (SELECT 1 FROM observations p WHERE p.id = c.observation_id)
  UNION ALL
  SELECT 'observation_certificates.observation_id', count(*) FROM observation_certificates c
  WHERE NOT EXISTS (SELECT 1 FROM observations p WHERE p.id = c.observation_id)
  UNION ALL
  SELECT 'observation_certificates.sha256', count(*) FROM observation_certificates c
  WHERE NOT EXISTS (SELECT 1 FROM certificates p WHERE p.sha256 = c.sha256)
  UNION ALL
  SELECT 'findings.asset_id', count(*) FROM findings c
  WHERE NOT EXISTS (SELECT 1 FROM assets p WHERE p.id = c.asset_id)
  UNION ALL
  SELECT 'findings.service_id', count(*) FROM findings c
  WHERE NOT EXISTS (SELECT 1 FROM services p WHERE p.id = c.service_id)
  UNION ALL
  SELECT 'findings.last_scan_id', count(*) FROM findings c
  WHERE c.last_scan_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM scans p WHERE p.id = c.last_scan_id)
  UNION ALL
  SELECT 'finding_events.finding_id', count(*) FROM finding_events c
  WHERE NOT EXISTS (SELECT 1 FROM findings p WHERE p.id = c.finding_id)
  UNION ALL
  SELECT 'finding_events.scan_id', count(*) FROM finding_events c
  WHERE c.scan_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM scans p WHERE p.id = c.scan_id)
  UNION ALL
  SELECT 'scan_findings.scan_id', count(*) FROM scan_findings c
  WHERE NOT EXISTS (SELECT 1 FROM scans p WHERE p.id = c.scan_id)
  UNION ALL
  SELECT 'scan_findings.finding_id', count(*) FROM scan_findings c
  WHERE NOT EXISTS (SELECT 1 FROM findings p WHERE p.id = c.finding_id)
  UNION ALL
  SELECT 'alert_outbox.event_id', count(*) FROM alert_outbox c
  WHERE NOT EXISTS (SELECT 1 FROM finding_events p WHERE p.id = c.event_id)
$$;

-- ---- Indexes no query needs ------------------------------------------------------------------
-- Address and CIDR filters on assets and services read the btree that address leads
-- (assets.address UNIQUE, services (address, port, transport) UNIQUE): PostgreSQL turns
-- `address <<= cidr` into a range of it, as for findings_address_idx. The GiST copies cost a
-- GiST insertion per new asset and service and per moved latest observation.
DROP INDEX assets_address_gist_idx;
DROP INDEX services_address_gist_idx;
-- No query filters observations by cipher suite (the btree on observation_cipher_suites.code
-- served none either); a GIN index on codes would cost about 10 us per observation.
-- "Which observations support version V" is never asked without the observation (the primary
-- key answers that); 2 to 3 index entries per observation for nothing.
DROP INDEX observation_versions_supported_idx;
-- Retention is the only reader of observed_at alone, and observations arrive in time order: a
-- BRIN index (a summary per 128 pages) instead of a btree entry per observation.
DROP INDEX observations_observed_at_idx;
CREATE INDEX observations_observed_at_brin ON observations USING brin (observed_at);
-- A report compresses (lz4 or pglz) to about 2 KB: kept in the row instead of being cut into
-- TOAST chunks, each a row and an index entry of the TOAST table.
ALTER TABLE observations SET (toast_tuple_target = 4080);
