import type { Migration } from './migrations.js';

/**
 * The PostgreSQL schema, in the state SQLite's migrations 1–10 reach (10, the Director's tables,
 * is migration 4 here), plus the transparency log (3), which SQLite keeps in its own file. A
 * PostgreSQL database starts empty, so the history SQLite carries (table rebuilds, filling in
 * report identities) has no counterpart. Timestamps stay ISO 8601 TEXT as in SQLite, so that comparisons and ordering are
 * the same strings on both engines; ordered text is compared with COLLATE "C" (bytes, as SQLite).
 */
export const postgresMigrations: readonly Migration[] = [
  {
    id: 1,
    name: 'repository store (SQLite migrations 1-9)',
    sql: `
      CREATE TABLE metadata (
        role TEXT NOT NULL CHECK (length(role) BETWEEN 1 AND 64),
        version INTEGER NOT NULL CHECK (version >= 1),
        bytes BYTEA NOT NULL,
        sha256 TEXT NOT NULL,
        expires TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('staged','published','abandoned')),
        created_at TEXT NOT NULL,
        batch TEXT,
        PRIMARY KEY (role, version)
      );
      CREATE INDEX metadata_staged ON metadata (state) WHERE state = 'staged';
      CREATE TABLE current_metadata (
        role TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        FOREIGN KEY (role, version) REFERENCES metadata (role, version)
      );
      CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY,
        sha512 TEXT NOT NULL UNIQUE,
        length BIGINT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE uploads (
        name TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL REFERENCES blobs (sha256),
        uploaded_at TEXT NOT NULL
      );
      CREATE TABLE releases (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('pending','logged','confirmed','failed','revoked')),
        target_names TEXT NOT NULL,
        targets_version INTEGER NOT NULL,
        metadata_hash TEXT,
        chain_json TEXT,
        revocation_json TEXT,
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE idempotency_keys (
        key TEXT PRIMARY KEY,
        route TEXT NOT NULL,
        request_sha256 TEXT NOT NULL,
        status INTEGER NOT NULL,
        response_json TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        secret_sha256 TEXT NOT NULL,
        scopes TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT,
        revoked_at TEXT,
        last_used_at TEXT
      );
      CREATE TABLE install_attestations (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        report_sha256 TEXT UNIQUE,
        counter BIGINT,
        bundle_sha256 TEXT NOT NULL UNIQUE,
        bundle_json TEXT NOT NULL,
        vin_commitment TEXT NOT NULL,
        ecu_serial TEXT NOT NULL,
        target_name TEXT NOT NULL,
        result TEXT NOT NULL,
        received_at TEXT NOT NULL,
        log_index BIGINT
      );
      CREATE INDEX install_attestations_by_ecu
        ON install_attestations (vin_commitment, ecu_serial, counter);
      CREATE TABLE revoked_digests (
        sha256 TEXT PRIMARY KEY,
        release_id BIGINT NOT NULL REFERENCES releases (id),
        revoked_at TEXT NOT NULL
      );
      CREATE TABLE vehicle_certificates (
        serial_number TEXT PRIMARY KEY,
        -- Insertion order, the tie-break SQLite gets from its rowid.
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        vin_commitment TEXT NOT NULL,
        ecu_serial TEXT NOT NULL,
        public_key_sha256 TEXT NOT NULL,
        certificate_pem TEXT NOT NULL,
        not_before TEXT NOT NULL,
        not_after TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        enrolled_by TEXT NOT NULL,
        previous_serial_number TEXT REFERENCES vehicle_certificates (serial_number),
        revoked_at TEXT,
        revocation_reason TEXT
      );
      CREATE INDEX vehicle_certificates_by_key ON vehicle_certificates (public_key_sha256);
      CREATE INDEX vehicle_certificates_by_previous
        ON vehicle_certificates (previous_serial_number);
      CREATE TABLE vehicle_crls (
        crl_number BIGINT PRIMARY KEY,
        pem TEXT NOT NULL,
        this_update TEXT NOT NULL,
        next_update TEXT NOT NULL
      );
    `,
  },
  {
    id: 2,
    name: 'job leases',
    // Times come from the database's clock, never a replica's: replicas may disagree on the time.
    sql: `
      CREATE TABLE job_leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
      );
    `,
  },
  {
    id: 3,
    name: 'transparency log',
    // The log's tables (PostgresLogStorage, PostgresAnchorOutbox): one log for every replica.
    // Entries, tree nodes and checkpoints are append-only, as in SQLite, and TRUNCATE is refused
    // too. Times are Unix milliseconds, as in the SQLite log.
    sql: `
      CREATE TABLE tlog_entries (
        idx BIGINT PRIMARY KEY CHECK (idx >= 0),
        kind TEXT NOT NULL,
        data BYTEA NOT NULL,
        leaf_hash BYTEA NOT NULL CHECK (length(leaf_hash) = 32),
        appended_at BIGINT NOT NULL
      );
      CREATE TABLE tlog_nodes (
        level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
        idx BIGINT NOT NULL CHECK (idx >= 0),
        hash BYTEA NOT NULL CHECK (length(hash) = 32),
        PRIMARY KEY (level, idx)
      );
      CREATE TABLE tlog_checkpoints (
        size BIGINT PRIMARY KEY,
        root BYTEA NOT NULL,
        note TEXT NOT NULL
      );
      CREATE TABLE tlog_size (
        one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
        size BIGINT NOT NULL CHECK (size >= 0)
      );
      INSERT INTO tlog_size (one, size) VALUES (true, 0);
      CREATE FUNCTION tlog_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'tlog % are append-only', TG_TABLE_NAME; END $$;
      CREATE TRIGGER tlog_entries_append_only BEFORE UPDATE OR DELETE ON tlog_entries
        FOR EACH ROW EXECUTE FUNCTION tlog_append_only();
      CREATE TRIGGER tlog_entries_no_truncate BEFORE TRUNCATE ON tlog_entries
        FOR EACH STATEMENT EXECUTE FUNCTION tlog_append_only();
      CREATE TRIGGER tlog_nodes_append_only BEFORE UPDATE OR DELETE ON tlog_nodes
        FOR EACH ROW EXECUTE FUNCTION tlog_append_only();
      CREATE TRIGGER tlog_nodes_no_truncate BEFORE TRUNCATE ON tlog_nodes
        FOR EACH STATEMENT EXECUTE FUNCTION tlog_append_only();
      CREATE TRIGGER tlog_checkpoints_append_only BEFORE UPDATE OR DELETE ON tlog_checkpoints
        FOR EACH ROW EXECUTE FUNCTION tlog_append_only();
      CREATE TRIGGER tlog_checkpoints_no_truncate BEFORE TRUNCATE ON tlog_checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION tlog_append_only();
      CREATE TABLE tlog_anchors (
        size BIGINT PRIMARY KEY,
        root TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'confirmed', 'covered')),
        tx_hash TEXT, raw_tx TEXT, nonce BIGINT, block_number BIGINT, block_hash TEXT,
        covered_by BIGINT,
        attempts INTEGER NOT NULL DEFAULT 0,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX tlog_anchors_status ON tlog_anchors (status, size);
    `,
  },
  {
    id: 4,
    name: 'uptane director (SQLite migration 10)',
    // Flags are BOOLEAN where SQLite has INTEGER 0/1; director_metadata.seq is the insertion order
    // SQLite gets from its rowid (staged records are recovered oldest first).
    sql: `
      CREATE TABLE director_roots (
        version INTEGER PRIMARY KEY CHECK (version >= 1),
        bytes BYTEA NOT NULL,
        sha256 TEXT NOT NULL,
        expires TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE director_metadata (
        vehicle TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('targets','snapshot','timestamp')),
        version INTEGER NOT NULL CHECK (version >= 1),
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        bytes BYTEA NOT NULL,
        sha256 TEXT NOT NULL,
        expires TEXT NOT NULL,
        published BOOLEAN NOT NULL DEFAULT false,
        ecu_salt BYTEA,
        log_index BIGINT,
        log_entry TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (vehicle, role, version)
      );
      CREATE INDEX director_metadata_staged ON director_metadata (seq) WHERE NOT published;
      CREATE TABLE ecu_inventory_versions (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        vehicle TEXT NOT NULL,
        version INTEGER NOT NULL,
        registration_json TEXT NOT NULL,
        signer_serial TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (vehicle, version)
      );
      CREATE FUNCTION ecu_inventory_versions_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'ecu_inventory_versions is append-only';
        END
        $$;
      CREATE TRIGGER ecu_inventory_versions_append_only
        BEFORE UPDATE OR DELETE ON ecu_inventory_versions
        FOR EACH ROW EXECUTE FUNCTION ecu_inventory_versions_append_only();
      CREATE TRIGGER ecu_inventory_versions_no_truncate
        BEFORE TRUNCATE ON ecu_inventory_versions
        FOR EACH STATEMENT EXECUTE FUNCTION ecu_inventory_versions_append_only();
      CREATE TABLE director_assignments (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        vehicle TEXT NOT NULL,
        correlation_id TEXT NOT NULL UNIQUE,
        atomic BOOLEAN NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active','cancelled','completed')),
        images_json TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        manifest_id BIGINT
      );
      CREATE INDEX director_assignments_by_vehicle ON director_assignments (vehicle, status);
      CREATE TABLE director_manifests (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        vehicle TEXT NOT NULL,
        manifest_sha256 TEXT NOT NULL UNIQUE,
        manifest_json TEXT NOT NULL,
        flags_json TEXT NOT NULL,
        completed_json TEXT NOT NULL,
        received_at TEXT NOT NULL
      );
      CREATE INDEX director_manifests_by_vehicle ON director_manifests (vehicle);
      CREATE TABLE director_ecu_reports (
        manifest_id BIGINT NOT NULL REFERENCES director_manifests (id),
        vehicle TEXT NOT NULL,
        ecu_serial TEXT NOT NULL,
        report_counter BIGINT NOT NULL,
        nonce TEXT NOT NULL,
        filepath TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        trusted BOOLEAN NOT NULL,
        PRIMARY KEY (manifest_id, ecu_serial)
      );
      CREATE INDEX director_ecu_reports_by_ecu ON director_ecu_reports (vehicle, ecu_serial);
      CREATE INDEX director_ecu_reports_by_nonce ON director_ecu_reports (vehicle, nonce);
    `,
  },
  {
    id: 5,
    name: 'transparency log: entries by leaf hash',
    // appendOnce looks an install report up by its leaf hash before appending it.
    sql: 'CREATE INDEX tlog_entries_leaf ON tlog_entries (leaf_hash);',
  },
  {
    id: 6,
    name: 'install reports: stored in one round trip',
    // insertAttestation's lock, lookups and insert, server side. In READ COMMITTED a VOLATILE
    // function takes a fresh snapshot per statement, so the lookups after the lock see every
    // report a previous holder of the lock committed. o_last_counter set: a replayed counter.
    sql: `
      CREATE FUNCTION tufchain_insert_attestation(
        p_lock_key TEXT, p_report_sha256 TEXT, p_counter BIGINT, p_bundle_sha256 TEXT,
        p_bundle_json TEXT, p_vin_commitment TEXT, p_ecu_serial TEXT, p_target_name TEXT,
        p_result TEXT, p_received_at TEXT)
      RETURNS TABLE (o_id BIGINT, o_created BOOLEAN, o_log_index BIGINT, o_bundle_json TEXT,
        o_last_counter BIGINT)
      LANGUAGE plpgsql VOLATILE AS $$
      DECLARE
        hit RECORD;
        top BIGINT;
      BEGIN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_lock_key, 0));
        SELECT a.id, a.log_index, a.bundle_json INTO hit FROM install_attestations a
          WHERE a.report_sha256 = p_report_sha256 OR a.bundle_sha256 = p_bundle_sha256
          ORDER BY a.id LIMIT 1;
        IF FOUND THEN
          RETURN QUERY SELECT hit.id, false, hit.log_index, hit.bundle_json, NULL::BIGINT;
          RETURN;
        END IF;
        SELECT MAX(a.counter) INTO top FROM install_attestations a
          WHERE a.vin_commitment = p_vin_commitment AND a.ecu_serial = p_ecu_serial;
        IF top IS NOT NULL AND p_counter <= top THEN
          RETURN QUERY SELECT NULL::BIGINT, false, NULL::BIGINT, NULL::TEXT, top;
          RETURN;
        END IF;
        RETURN QUERY INSERT INTO install_attestations AS a (report_sha256, counter, bundle_sha256,
            bundle_json, vin_commitment, ecu_serial, target_name, result, received_at)
          VALUES (p_report_sha256, p_counter, p_bundle_sha256, p_bundle_json, p_vin_commitment,
            p_ecu_serial, p_target_name, p_result, p_received_at)
          RETURNING a.id, true, NULL::BIGINT, NULL::TEXT, NULL::BIGINT;
      END
      $$;
    `,
  },
  {
    id: 7,
    name: 'fleet registry and groups (SQLite migration 11)',
    // server/src/fleet. Snapshots and their members are append-only, as in SQLite.
    sql: `
      CREATE INDEX vehicle_certificates_by_vin_commitment ON vehicle_certificates (vin_commitment);
      CREATE TABLE fleet_vehicle_attributes (
        vehicle TEXT PRIMARY KEY,
        model TEXT,
        model_year INTEGER,
        region TEXT,
        tags_json TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        updated_by TEXT NOT NULL
      );
      CREATE TABLE fleet_groups (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('static','dynamic')),
        definition_json TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
      );
      CREATE TABLE fleet_group_snapshots (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        group_id BIGINT NOT NULL,
        group_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        definition_json TEXT NOT NULL,
        member_count INTEGER NOT NULL,
        members_sha256 TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
      );
      CREATE TABLE fleet_snapshot_members (
        snapshot_id BIGINT NOT NULL REFERENCES fleet_group_snapshots (id),
        vehicle TEXT NOT NULL,
        PRIMARY KEY (snapshot_id, vehicle)
      );
      CREATE FUNCTION fleet_snapshots_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
        END
        $$;
      CREATE TRIGGER fleet_group_snapshots_append_only
        BEFORE UPDATE OR DELETE ON fleet_group_snapshots
        FOR EACH ROW EXECUTE FUNCTION fleet_snapshots_append_only();
      CREATE TRIGGER fleet_snapshot_members_append_only
        BEFORE UPDATE OR DELETE ON fleet_snapshot_members
        FOR EACH ROW EXECUTE FUNCTION fleet_snapshots_append_only();
    `,
  },
  {
    id: 8,
    name: 'transparency-log outbox (SQLite migration 12)',
    // tuf/log-outbox.ts
    sql: `
      CREATE TABLE log_outbox (
        id TEXT PRIMARY KEY,
        snapshot_version BIGINT,
        calls_json TEXT NOT NULL,
        chain_json TEXT,
        created_at TEXT NOT NULL
      );
    `,
  },
  {
    id: 9,
    name: 'campaigns (SQLite migration 13)',
    // server/src/campaigns
    sql: `
      CREATE TABLE campaigns (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        urn TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        group_id BIGINT NOT NULL,
        release_json TEXT NOT NULL,
        waves_json TEXT NOT NULL,
        failure_threshold_json TEXT NOT NULL,
        max_deferrals INTEGER NOT NULL,
        salt TEXT NOT NULL,
        state TEXT NOT NULL
          CHECK (state IN ('draft','running','paused','stopped','finished','cancelled')),
        wave INTEGER NOT NULL,
        reason TEXT,
        version INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX campaigns_by_state ON campaigns (state);
      CREATE TABLE campaign_waves (
        campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
        wave INTEGER NOT NULL,
        snapshot_id BIGINT NOT NULL REFERENCES fleet_group_snapshots (id),
        member_count INTEGER NOT NULL,
        members_sha256 TEXT NOT NULL,
        assignment_sha256 TEXT NOT NULL,
        started_at TEXT NOT NULL,
        assigned_at TEXT,
        acknowledged_failures INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (campaign_id, wave)
      );
      CREATE TABLE campaign_vehicles (
        campaign_id BIGINT NOT NULL,
        vehicle TEXT NOT NULL,
        wave INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending','assigned','skipped')),
        reason TEXT,
        assignment_id BIGINT,
        assigned_at TEXT,
        image_names_json TEXT NOT NULL,
        PRIMARY KEY (campaign_id, vehicle),
        FOREIGN KEY (campaign_id, wave) REFERENCES campaign_waves (campaign_id, wave)
      );
      CREATE INDEX campaign_vehicles_by_status ON campaign_vehicles (campaign_id, wave, status);
      CREATE INDEX campaign_vehicles_by_vehicle ON campaign_vehicles (vehicle);
      CREATE TABLE campaign_events (
        campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        at TEXT NOT NULL,
        detail_json TEXT NOT NULL,
        log_index BIGINT,
        PRIMARY KEY (campaign_id, seq)
      );
      CREATE INDEX campaign_events_unlogged ON campaign_events (campaign_id, seq)
        WHERE log_index IS NULL;
    `,
  },
  {
    id: 10,
    name: 'monitor state and console sessions (SQLite migration 14)',
    sql: `
      CREATE TABLE monitor_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        chain_id BIGINT NOT NULL,
        contract_address TEXT NOT NULL,
        checkpoints_json TEXT NOT NULL,
        last_anchor_size BIGINT,
        pending_json TEXT NOT NULL,
        revision BIGINT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE monitor_alerts (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        alert_json TEXT,
        undelivered BOOLEAN NOT NULL DEFAULT false
      );
      CREATE INDEX monitor_alerts_undelivered ON monitor_alerts (seq) WHERE undelivered;
      CREATE TABLE console_sessions (
        id_sha256 TEXT PRIMARY KEY,
        token_id TEXT NOT NULL REFERENCES api_tokens (id),
        created_at TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
      CREATE INDEX console_sessions_by_token ON console_sessions (token_id);
    `,
  },
];
