export interface Migration {
  id: number;
  name: string;
  sql: string;
  /** Rebuilds a table others reference: run with foreign keys off, then checked. */
  rebuildsTable?: boolean;
}

export const migrations: readonly Migration[] = [
  {
    id: 1,
    name: 'initial',
    sql: `
      CREATE TABLE metadata (
        role TEXT NOT NULL CHECK (role IN ('root','targets','snapshot','timestamp')),
        version INTEGER NOT NULL CHECK (version >= 1),
        bytes BLOB NOT NULL,
        sha256 TEXT NOT NULL,
        expires TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('staged','published','abandoned')),
        created_at TEXT NOT NULL,
        PRIMARY KEY (role, version)
      ) STRICT;
      CREATE TABLE current_metadata (
        role TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        FOREIGN KEY (role, version) REFERENCES metadata (role, version)
      ) STRICT;
      CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY,
        sha512 TEXT NOT NULL UNIQUE,
        length INTEGER NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;
      CREATE TABLE uploads (
        name TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL REFERENCES blobs (sha256),
        uploaded_at TEXT NOT NULL
      ) STRICT;
      CREATE TABLE releases (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        status TEXT NOT NULL CHECK (status IN ('pending','confirmed','failed','revoked')),
        target_names TEXT NOT NULL,
        targets_version INTEGER NOT NULL,
        metadata_hash TEXT,
        chain_json TEXT,
        revocation_json TEXT,
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;
      CREATE TABLE idempotency_keys (
        key TEXT PRIMARY KEY,
        route TEXT NOT NULL,
        request_sha256 TEXT NOT NULL,
        status INTEGER NOT NULL,
        response_json TEXT NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;
      CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        secret_sha256 TEXT NOT NULL,
        scopes TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE TABLE install_attestations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        bundle_sha256 TEXT NOT NULL UNIQUE,
        bundle_json TEXT NOT NULL,
        vin_commitment TEXT NOT NULL,
        ecu_serial TEXT NOT NULL,
        target_name TEXT NOT NULL,
        result TEXT NOT NULL,
        received_at TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    id: 2,
    name: 'vehicle enrollment registry and CRLs',
    sql: `
      CREATE TABLE vehicle_certificates (
        serial_number TEXT PRIMARY KEY,
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
      ) STRICT;
      CREATE INDEX vehicle_certificates_by_key ON vehicle_certificates (public_key_sha256);
      CREATE INDEX vehicle_certificates_by_previous ON vehicle_certificates (previous_serial_number);
      CREATE TABLE vehicle_crls (
        crl_number INTEGER PRIMARY KEY,
        pem TEXT NOT NULL,
        this_update TEXT NOT NULL,
        next_update TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    id: 3,
    name: 'attestation log index',
    sql: `ALTER TABLE install_attestations ADD COLUMN log_index INTEGER;`,
  },
  {
    id: 4,
    name: 'publish batches',
    sql: `ALTER TABLE metadata ADD COLUMN batch TEXT;
          CREATE INDEX metadata_staged ON metadata (state) WHERE state = 'staged';`,
  },
  {
    id: 5,
    name: 'delegated targets roles',
    rebuildsTable: true,
    // SQLite cannot drop a CHECK constraint: the table is rebuilt so that delegated roles
    // (bins, bins-3f, supplier-acme) fit beside the four top-level ones.
    sql: `CREATE TABLE metadata_v5 (
            role TEXT NOT NULL CHECK (length(role) BETWEEN 1 AND 64),
            version INTEGER NOT NULL CHECK (version >= 1),
            bytes BLOB NOT NULL,
            sha256 TEXT NOT NULL,
            expires TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('staged','published','abandoned')),
            created_at TEXT NOT NULL,
            batch TEXT,
            PRIMARY KEY (role, version)
          ) STRICT;
          INSERT INTO metadata_v5 (role, version, bytes, sha256, expires, state, created_at, batch)
            SELECT role, version, bytes, sha256, expires, state, created_at, batch FROM metadata;
          DROP TABLE metadata;
          ALTER TABLE metadata_v5 RENAME TO metadata;
          CREATE INDEX metadata_staged ON metadata (state) WHERE state = 'staged';`,
  },
  {
    id: 6,
    name: 'release status logged',
    rebuildsTable: true,
    // pending -> logged (mined, not yet deep enough) -> confirmed (visible to vehicles).
    sql: `CREATE TABLE releases_v6 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            status TEXT NOT NULL
              CHECK (status IN ('pending','logged','confirmed','failed','revoked')),
            target_names TEXT NOT NULL,
            targets_version INTEGER NOT NULL,
            metadata_hash TEXT,
            chain_json TEXT,
            revocation_json TEXT,
            error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
          ) STRICT;
          INSERT INTO releases_v6 SELECT * FROM releases;
          DROP TABLE releases;
          ALTER TABLE releases_v6 RENAME TO releases;`,
  },
  {
    id: 7,
    name: 'install report identity and counters',
    // A report is what its vehicle signed, with which key (report_sha256), not its JSON; counters
    // only go up per ECU. Rows from before are filled in when the store opens (report-identity.ts).
    sql: `ALTER TABLE install_attestations ADD COLUMN report_sha256 TEXT;
          ALTER TABLE install_attestations ADD COLUMN counter INTEGER;
          CREATE UNIQUE INDEX install_attestations_by_report ON install_attestations (report_sha256);
          CREATE INDEX install_attestations_by_ecu
            ON install_attestations (vin_commitment, ecu_serial, counter);`,
  },
  {
    id: 8,
    name: 'revoked digests',
    // Releases revoked before this migration: the bytes uploaded under their names by then.
    sql: `CREATE TABLE revoked_digests (
            sha256 TEXT PRIMARY KEY,
            release_id INTEGER NOT NULL REFERENCES releases (id),
            revoked_at TEXT NOT NULL
          ) STRICT;
          INSERT OR IGNORE INTO revoked_digests (sha256, release_id, revoked_at)
            SELECT u.sha256, r.id, r.updated_at
            FROM releases r JOIN json_each(r.target_names) t JOIN uploads u ON u.name = t.value
            WHERE r.status = 'revoked' AND u.uploaded_at <= r.updated_at;`,
  },
  {
    id: 9,
    name: 'api token expiry, revocation and last use',
    sql: `ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
          ALTER TABLE api_tokens ADD COLUMN revoked_at TEXT;
          ALTER TABLE api_tokens ADD COLUMN last_used_at TEXT;`,
  },
  {
    id: 10,
    name: 'uptane director',
    // The Director (server/src/director): its root versions, per-vehicle metadata chains, the ECU
    // inventory history (append-only), assignments and vehicle version manifests.
    sql: `CREATE TABLE director_roots (
            version INTEGER PRIMARY KEY CHECK (version >= 1),
            bytes BLOB NOT NULL,
            sha256 TEXT NOT NULL,
            expires TEXT NOT NULL,
            created_at TEXT NOT NULL
          ) STRICT;
          CREATE TABLE director_metadata (
            vehicle TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('targets','snapshot','timestamp')),
            version INTEGER NOT NULL CHECK (version >= 1),
            bytes BLOB NOT NULL,
            sha256 TEXT NOT NULL,
            expires TEXT NOT NULL,
            published INTEGER NOT NULL DEFAULT 0,
            ecu_salt BLOB,
            log_index INTEGER,
            log_entry TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (vehicle, role, version)
          ) STRICT;
          CREATE INDEX director_metadata_staged ON director_metadata (published) WHERE published = 0;
          CREATE TABLE ecu_inventory_versions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            vehicle TEXT NOT NULL,
            version INTEGER NOT NULL,
            registration_json TEXT NOT NULL,
            signer_serial TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (vehicle, version)
          ) STRICT;
          CREATE TRIGGER ecu_inventory_versions_no_update BEFORE UPDATE ON ecu_inventory_versions
            BEGIN SELECT RAISE(ABORT, 'ecu_inventory_versions is append-only'); END;
          CREATE TRIGGER ecu_inventory_versions_no_delete BEFORE DELETE ON ecu_inventory_versions
            BEGIN SELECT RAISE(ABORT, 'ecu_inventory_versions is append-only'); END;
          CREATE TABLE director_assignments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            vehicle TEXT NOT NULL,
            correlation_id TEXT NOT NULL UNIQUE,
            atomic INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('active','cancelled','completed')),
            images_json TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            manifest_id INTEGER
          ) STRICT;
          CREATE INDEX director_assignments_by_vehicle ON director_assignments (vehicle, status);
          CREATE TABLE director_manifests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            vehicle TEXT NOT NULL,
            manifest_sha256 TEXT NOT NULL UNIQUE,
            manifest_json TEXT NOT NULL,
            flags_json TEXT NOT NULL,
            completed_json TEXT NOT NULL,
            received_at TEXT NOT NULL
          ) STRICT;
          CREATE INDEX director_manifests_by_vehicle ON director_manifests (vehicle);
          CREATE TABLE director_ecu_reports (
            manifest_id INTEGER NOT NULL REFERENCES director_manifests (id),
            vehicle TEXT NOT NULL,
            ecu_serial TEXT NOT NULL,
            report_counter INTEGER NOT NULL,
            nonce TEXT NOT NULL,
            filepath TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            trusted INTEGER NOT NULL,
            PRIMARY KEY (manifest_id, ecu_serial)
          ) STRICT;
          CREATE INDEX director_ecu_reports_by_ecu ON director_ecu_reports (vehicle, ecu_serial);
          CREATE INDEX director_ecu_reports_by_nonce ON director_ecu_reports (vehicle, nonce);`,
  },
  {
    id: 11,
    name: 'fleet registry and groups',
    // server/src/fleet: OEM-set vehicle attributes, groups, and snapshots of a group's members
    // (append-only: a campaign wave refers to exactly the set a snapshot recorded).
    sql: `CREATE INDEX vehicle_certificates_by_vin_commitment ON vehicle_certificates (vin_commitment);
          CREATE TABLE fleet_vehicle_attributes (
            vehicle TEXT PRIMARY KEY,
            model TEXT,
            model_year INTEGER,
            region TEXT,
            tags_json TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL
          ) STRICT;
          CREATE TABLE fleet_groups (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            description TEXT,
            kind TEXT NOT NULL CHECK (kind IN ('static','dynamic')),
            definition_json TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL
          ) STRICT;
          CREATE TABLE fleet_group_snapshots (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            group_id INTEGER NOT NULL,
            group_name TEXT NOT NULL,
            kind TEXT NOT NULL,
            definition_json TEXT NOT NULL,
            member_count INTEGER NOT NULL,
            members_sha256 TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL
          ) STRICT;
          CREATE TABLE fleet_snapshot_members (
            snapshot_id INTEGER NOT NULL REFERENCES fleet_group_snapshots (id),
            vehicle TEXT NOT NULL,
            PRIMARY KEY (snapshot_id, vehicle)
          ) STRICT, WITHOUT ROWID;
          CREATE TRIGGER fleet_group_snapshots_no_update BEFORE UPDATE ON fleet_group_snapshots
            BEGIN SELECT RAISE(ABORT, 'fleet_group_snapshots is append-only'); END;
          CREATE TRIGGER fleet_group_snapshots_no_delete BEFORE DELETE ON fleet_group_snapshots
            BEGIN SELECT RAISE(ABORT, 'fleet_group_snapshots is append-only'); END;
          CREATE TRIGGER fleet_snapshot_members_no_update BEFORE UPDATE ON fleet_snapshot_members
            BEGIN SELECT RAISE(ABORT, 'fleet_snapshot_members is append-only'); END;
          CREATE TRIGGER fleet_snapshot_members_no_delete BEFORE DELETE ON fleet_snapshot_members
            BEGIN SELECT RAISE(ABORT, 'fleet_snapshot_members is append-only'); END;`,
  },
  {
    id: 12,
    name: 'transparency-log outbox',
    // tuf/log-outbox.ts: appends owed to the transparency log, kept across crashes until done.
    sql: `CREATE TABLE log_outbox (
            id TEXT PRIMARY KEY,
            snapshot_version INTEGER,
            calls_json TEXT NOT NULL,
            chain_json TEXT,
            created_at TEXT NOT NULL
          ) STRICT;`,
  },
  {
    id: 13,
    name: 'campaigns',
    // server/src/campaigns: campaigns, their waves, one row per (campaign, vehicle) so that a
    // vehicle is taken into one wave once, and the outbox of state changes for the log.
    sql: `CREATE TABLE campaigns (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            urn TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            group_id INTEGER NOT NULL,
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
          ) STRICT;
          CREATE INDEX campaigns_by_state ON campaigns (state);
          CREATE TABLE campaign_waves (
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            wave INTEGER NOT NULL,
            snapshot_id INTEGER NOT NULL REFERENCES fleet_group_snapshots (id),
            member_count INTEGER NOT NULL,
            members_sha256 TEXT NOT NULL,
            assignment_sha256 TEXT NOT NULL,
            started_at TEXT NOT NULL,
            assigned_at TEXT,
            acknowledged_failures INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (campaign_id, wave)
          ) STRICT;
          CREATE TABLE campaign_vehicles (
            campaign_id INTEGER NOT NULL,
            vehicle TEXT NOT NULL,
            wave INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending','assigned','skipped')),
            reason TEXT,
            assignment_id INTEGER,
            assigned_at TEXT,
            image_names_json TEXT NOT NULL,
            PRIMARY KEY (campaign_id, vehicle),
            FOREIGN KEY (campaign_id, wave) REFERENCES campaign_waves (campaign_id, wave)
          ) STRICT;
          CREATE INDEX campaign_vehicles_by_status ON campaign_vehicles (campaign_id, wave, status);
          CREATE INDEX campaign_vehicles_by_vehicle ON campaign_vehicles (vehicle);
          CREATE TABLE campaign_events (
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            at TEXT NOT NULL,
            detail_json TEXT NOT NULL,
            log_index INTEGER,
            PRIMARY KEY (campaign_id, seq)
          ) STRICT;
          CREATE INDEX campaign_events_unlogged ON campaign_events (campaign_id, seq)
            WHERE log_index IS NULL;`,
  },
  {
    id: 14,
    name: 'monitor state and console sessions',
    // monitor/db-state.ts: the daemon-hosted monitor's checkpoint and every alert it raised (the
    // lease holder writes, every replica reads); console/session-stores.ts: console sessions by
    // the sha256 of their cookie, so that any replica resolves them.
    sql: `CREATE TABLE monitor_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            chain_id INTEGER NOT NULL,
            contract_address TEXT NOT NULL,
            checkpoints_json TEXT NOT NULL,
            last_anchor_size INTEGER,
            pending_json TEXT NOT NULL,
            revision INTEGER NOT NULL,
            updated_at TEXT NOT NULL
          ) STRICT;
          CREATE TABLE monitor_alerts (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            alert_json TEXT,
            undelivered INTEGER NOT NULL DEFAULT 0 CHECK (undelivered IN (0, 1))
          ) STRICT;
          CREATE INDEX monitor_alerts_undelivered ON monitor_alerts (seq) WHERE undelivered = 1;
          CREATE TABLE console_sessions (
            id_sha256 TEXT PRIMARY KEY,
            token_id TEXT NOT NULL REFERENCES api_tokens (id),
            created_at TEXT NOT NULL,
            expires_at INTEGER NOT NULL
          ) STRICT;
          CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
          CREATE INDEX console_sessions_by_token ON console_sessions (token_id);`,
  },
];
