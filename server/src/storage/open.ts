import { mkdir } from 'node:fs/promises';
import type { LogStores } from '@tufchain/transparency';
import { join } from 'node:path';
import { PostgresCampaignStore } from '../campaigns/postgres-store.js';
import { SqliteCampaignStore } from '../campaigns/sqlite-store.js';
import type { CampaignStore } from '../campaigns/store.js';
import { SqliteDirectorStore } from '../director/sqlite-store.js';
import type { DirectorStore } from '../director/store.js';
import { PostgresFleetStore } from '../fleet/postgres-store.js';
import { SqliteFleetStore } from '../fleet/sqlite-store.js';
import type { FleetStore } from '../fleet/store.js';
import { ServerError } from '../error.js';
import { PostgresSessionStore, SqliteSessionStore } from '../console/session-stores.js';
import type { ConsoleSessionStore } from '../console/session.js';
import { PostgresMonitorStateStore, SqliteMonitorStateStore } from '../monitor/db-state.js';
import { FileBlobStore, type BlobStore } from './blob-store.js';
import { soleProcessLease, type JobLease } from './postgres-lease.js';
import { PostgresStore } from './postgres-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { RepositoryStore } from './store.js';
import type { PublishLock } from '../tuf/core/publish-lock.js';

export interface OpenedRepository {
  store: RepositoryStore;
  blobs: BlobStore;
  /** The Uptane Director's tables, in the same database as the repository store. */
  director: DirectorStore;
  /** The fleet registry and groups, in the same database (it reads the Director's tables). */
  fleet: FleetStore;
  /** Campaigns, in the same database (they read the fleet's and the Director's tables). */
  campaigns: CampaignStore;
  /** The daemon-hosted monitor's state: its lease holder writes, every replica reads. */
  monitorState: SqliteMonitorStateStore | PostgresMonitorStateStore;
  /** Console sessions, so that a session opened on one replica is valid on every one. */
  consoleSessions: ConsoleSessionStore & { close(): Promise<void> };
  /**
   * Serializes publishing across replicas (a PostgreSQL advisory lock); undefined on SQLite, where
   * one process owns the database and the repository's in-process lock is enough.
   */
  publishLock: PublishLock | undefined;
  /** The same across replicas for Director changes (`tufchain:director`); undefined on SQLite. */
  directorLock: PublishLock | undefined;
  /**
   * The lease that elects which replica runs a background job (PostgreSQL); on SQLite the one
   * process always holds it.
   */
  jobLease: (name: string, ttlMs: number) => JobLease;
  /**
   * PostgreSQL: the transparency log every replica shares, and a way to hear of appends other
   * replicas make (openServerLog takes both). Undefined on SQLite, where the log keeps its own
   * file in the data dir.
   */
  sharedLog: SharedLog | undefined;
  close(): Promise<void>;
}

export interface SharedLog {
  stores: LogStores;
  watchAppends(
    onNotify: (payload: string | undefined) => void,
  ): Promise<{ close(): Promise<void> }>;
}

export interface OpenRepositoryOptions {
  dataDir: string;
  /** `postgres://…`: the repository store lives in that PostgreSQL database, not in SQLite. */
  databaseUrl?: string;
  /**
   * Where blobs live; by default `<dataDir>/blobs`. Replicas on one database share one blob
   * directory (a shared mount; an object store would implement BlobStore instead).
   */
  blobDir?: string;
}

/**
 * Opens (creating if needed) `<dataDir>/tufchain.sqlite` and `<dataDir>/blobs/`; with
 * `databaseUrl`, the repository and Director stores are in that PostgreSQL database instead
 * (migrated on open).
 */
export async function openRepository(opts: OpenRepositoryOptions): Promise<OpenedRepository> {
  await mkdir(opts.dataDir, { recursive: true });
  const path = join(opts.dataDir, 'tufchain.sqlite');
  let store: RepositoryStore;
  let director: DirectorStore;
  let fleet: FleetStore;
  let campaigns: CampaignStore;
  let monitorState: OpenedRepository['monitorState'];
  let consoleSessions: OpenedRepository['consoleSessions'];
  let publishLock: PublishLock | undefined;
  let directorLock: PublishLock | undefined;
  let jobLease: OpenedRepository['jobLease'] = () => soleProcessLease;
  let sharedLog: SharedLog | undefined;
  if (opts.databaseUrl === undefined) {
    store = new SqliteStore(path);
    director = new SqliteDirectorStore(path);
    fleet = new SqliteFleetStore(path);
    campaigns = new SqliteCampaignStore(path);
    monitorState = new SqliteMonitorStateStore(path);
    consoleSessions = new SqliteSessionStore(path);
  } else {
    if (!/^postgres(ql)?:\/\//.test(opts.databaseUrl)) {
      throw new ServerError('CONFIG_INVALID', 'DATABASE_URL must be a postgres:// URL');
    }
    const postgres = await PostgresStore.open({ connectionString: opts.databaseUrl });
    publishLock = postgres.publishLock();
    directorLock = postgres.advisoryLock('tufchain:director');
    jobLease = (name, ttlMs) => postgres.jobLease(name, ttlMs);
    sharedLog = {
      stores: postgres.logStores(),
      watchAppends: (onNotify) => postgres.watchLogAppends(onNotify),
    };
    store = postgres;
    director = postgres.directorStore();
    fleet = new PostgresFleetStore(postgres.pool());
    campaigns = new PostgresCampaignStore(postgres.pool());
    monitorState = new PostgresMonitorStateStore(postgres.pool());
    consoleSessions = new PostgresSessionStore(postgres.pool());
  }
  const blobs = await FileBlobStore.open(opts.blobDir ?? join(opts.dataDir, 'blobs'));
  return {
    store,
    blobs,
    director,
    fleet,
    campaigns,
    monitorState,
    consoleSessions,
    publishLock,
    directorLock,
    jobLease,
    sharedLog,
    close: async () => {
      await consoleSessions.close();
      await monitorState.close();
      await campaigns.close();
      await fleet.close();
      await director.close();
      await store.close();
    },
  };
}
