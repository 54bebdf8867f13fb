import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Logger } from 'pino';
import type { AttestationVerifier } from './attestation/verifier.js';
import type { Clock, Config } from './config.js';
import type { TransparencyLogSink } from './log-sink.js';
import type { CommitAnswers } from './http/commit-answers.js';
import type { MetadataCache } from './http/metadata-cache.js';
import type { TargetCache } from './http/target-cache.js';
import type { ServerMetrics } from './metrics.js';
import type { BlobStore } from './storage/blob-store.js';
import type { RepositoryStore, TokenRecord } from './storage/store.js';
import type { RepositoryService } from './tuf/service.js';
import type { ReleaseLog } from './tuf/release-log.js';
import type { VehicleService } from './vehicles/service.js';
import type { DirectorService } from './director/service.js';
import type { AuthenticatedVehicle } from './director/store.js';
import type { FleetService } from './fleet/service.js';
import type { CampaignService } from './campaigns/service.js';
import type { Alert } from './monitor/alert.js';

/** The monitor's recent alerts, newest first (ServerDeps.monitorAlerts); undefined: no monitor. */
export type MonitorAlerts = () =>
  readonly Alert[] | undefined | Promise<readonly Alert[] | undefined>;
import type { LatestAudit } from './monitor/monitor.js';

export interface ServerContext {
  service: RepositoryService;
  store: RepositoryStore;
  blobs: BlobStore;
  verifier: AttestationVerifier;
  config: Config;
  clock: Clock;
  logger: Logger;
  metrics: ServerMetrics;
  chainProbe: (() => Promise<unknown>) | undefined;
  lifecycle: { shuttingDown: boolean };
  /** The transparency log fed by publishes, recalls and install reports, when configured. */
  log: TransparencyLogSink | undefined;
  /** Vehicle enrollment, revocation, CRL and the identity check of install reports. */
  vehicles: VehicleService;
  /** The chain writer (publisher account): the minimum-version routes use it directly. */
  releaseLog: ReleaseLog;
  /** The Uptane Director, when configured (ServerDeps.director). */
  director: DirectorService | undefined;
  /** The fleet registry and groups, when configured (ServerDeps.fleet). */
  fleet: FleetService | undefined;
  /** Campaigns, when configured (ServerDeps.campaigns, with a Director and a fleet store). */
  campaigns: CampaignService | undefined;
  /** Served metadata in memory (src/http/metadata-cache.ts), emptied on every commit. */
  metadataCache: MetadataCache;
  /** Answers kept until the next commit (src/http/commit-answers.ts): hints, unpublished versions. */
  commitAnswers: CommitAnswers;
  /** The monitor's recent alerts, newest first, when this server runs the monitor. */
  monitorAlerts: MonitorAlerts | undefined;
  /** The monitor's newest audit, when this server runs the monitor (ServerDeps.monitorAudit). */
  monitorAudit: (() => LatestAudit | undefined) | undefined;
  /** Served images in memory (src/http/target-cache.ts), resolved again after every commit. */
  targetCache: TargetCache;
}

export interface AppEnv {
  Variables: {
    token: TokenRecord;
    vehicle: AuthenticatedVehicle;
    /** The status of a response a route wrote to Node directly (c.res then only marks it sent). */
    sentStatus: number;
  };
}

export type App = OpenAPIHono<AppEnv>;
