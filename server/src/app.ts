import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { routePath } from 'hono/route';
import { pino, type Logger } from 'pino';
import { ZodError } from 'zod';
import { createAttestationVerifier } from './attestation/default-verifier.js';
import type { AttestationVerifier } from './attestation/verifier.js';
import { resolveConfig, systemClock, type Clock, type ConfigInput } from './config.js';
import type { AppEnv, ServerContext } from './context.js';
import { errorBody, httpStatusOf, ServerError, type ServerErrorCode } from './error.js';
import type { TransparencyLogSink } from './log-sink.js';
import { createServerMetrics, type ServerMetrics } from './metrics.js';
import { registerAttestationRoutes } from './routes/attestations.js';
import { registerDeltaRoutes } from './routes/deltas.js';
import { registerManagementRoutes } from './routes/management.js';
import { registerMinimumVersionRoutes } from './routes/minimum-versions.js';
import { registerLogRoutes } from './routes/log.js';
import { registerOpsRoutes } from './routes/ops.js';
import { registerPublicRoutes } from './routes/public.js';
import { registerTargetRoutes } from './routes/targets.js';
import { registerTokenRoutes } from './routes/tokens.js';
import { BUNDLE_MALFORMED, INVALID_NAME } from './routes/schemas.js';
import type { BlobStore } from './storage/blob-store.js';
import { isDatabaseUnavailable } from './storage/database-unavailable.js';
import type { RepositoryStore } from './storage/store.js';
import type { ReleaseLog } from './tuf/release-log.js';
import type { OnlineSigners } from './tuf/repository.js';
import { RepositoryService, type ChainLookup } from './tuf/service.js';
import type { VehicleCa } from '@tufchain/keys';
import { registerVehicleRoutes } from './routes/vehicles.js';
import { resolveVehicleEnrollmentConfig, type VehicleEnrollmentConfig } from './vehicles/config.js';
import { VehicleService } from './vehicles/service.js';
import { registerDirectorOemRoutes } from './director/oem-routes.js';
import { DirectorRepository, type DirectorSigners } from './director/repository.js';
import { DirectorService } from './director/service.js';
import type { DirectorStore } from './director/store.js';
import { registerDirectorVehicleRoutes } from './director/vehicle-routes.js';
import { registerFleetGroupRoutes } from './fleet/group-routes.js';
import { FleetService } from './fleet/service.js';
import type { FleetStore } from './fleet/store.js';
import { registerFleetVehicleRoutes } from './fleet/vehicle-routes.js';
import { registerCampaignRoutes } from './campaigns/routes.js';
import { registerCampaignMetrics } from './campaigns/metrics.js';
import { CampaignService } from './campaigns/service.js';
import type { CampaignStore } from './campaigns/store.js';
import type { PublishLock } from './tuf/core/publish-lock.js';
import { CommitAnswers } from './http/commit-answers.js';
import { MetadataCache } from './http/metadata-cache.js';
import { TargetCache } from './http/target-cache.js';
import type { JobLease } from './storage/postgres-lease.js';
import type { MonitorAlerts } from './context.js';
import type { LatestAudit } from './monitor/monitor.js';
import { registerMonitorRoutes } from './routes/monitor.js';
import type { ConsoleAlertSource } from './console/alerts.js';
import type { ConsoleSessionStore } from './console/session.js';
import { registerConsoleRoutes } from './console/routes.js';

export interface ServerDeps {
  /** From openRepository(): SQLite store and blob directory. */
  store: RepositoryStore;
  blobs: BlobStore;
  /** Online keys; omit `targets` when targets is signed offline. */
  signers: OnlineSigners;
  /** Chain writer (ReleaseLogWriter from @tufchain/transparency). */
  releaseLog: ReleaseLog;
  /** OEM firmware-attestation key (TUF key id + SPKI PEM). */
  firmwareKey?: { publicKeyPem: string; keyId: string };
  /** PEM of the vehicle CA that issues vehicle certificates. */
  vehicleCaPem?: string;
  /**
   * The vehicle CA with its key: turns on enrollment, revocation and the CRL, and makes the
   * enrollment registry authoritative for install reports. Without it those routes answer 503.
   */
  vehicleCa?: VehicleCa;
  vehicleEnrollment?: Partial<VehicleEnrollmentConfig>;
  /** Overrides the attestation checks built from firmwareKey + vehicleCaPem (unit tests pass a double). */
  verifier?: AttestationVerifier;
  config?: ConfigInput;
  clock?: Clock;
  /** Defaults to a silent logger; pass pino() to get JSON logs. */
  logger?: Logger;
  /**
   * The transparency log (LogService from @tufchain/transparency): gets every published
   * targets version, recall and install report, and answers /api/v1/log/*.
   */
  transparencyLog?: TransparencyLogSink;
  /**
   * Chain reads for crash recovery at start (ChainReader from @tufchain/transparency):
   * a publish interrupted after the chain logged it is finished, others are abandoned.
   */
  chainLookup?: ChainLookup;
  /** Called by /readyz, e.g. () => provider.getBlockNumber(). */
  chainProbe?: () => Promise<unknown>;
  /**
   * The Uptane Director (transparency/UPTANE.md): its store (OpenedRepository.director) and
   * online keys. Without it the Director routes answer 503 DIRECTOR_NOT_CONFIGURED.
   */
  director?: {
    store: DirectorStore;
    signers: DirectorSigners;
    /** Serializes Director changes across replicas (OpenedRepository.directorLock). */
    lock?: PublishLock | undefined;
  };
  /**
   * The fleet registry and groups (OpenedRepository.fleet). Without it the /api/v1/fleet routes
   * answer 503 FLEET_NOT_CONFIGURED.
   */
  fleet?: FleetStore;
  /**
   * Campaigns (OpenedRepository.campaigns); they need the Director and the fleet store too.
   * Without them the /api/v1/campaigns routes answer 503 CAMPAIGNS_NOT_CONFIGURED.
   */
  campaigns?: CampaignStore;
  /**
   * Serializes publishing across replicas (OpenedRepository.publishLock on PostgreSQL); by default
   * an in-process lock, right for one process per database.
   */
  publishLock?: PublishLock | undefined;
  /**
   * Elects the replica that runs the background jobs (expiry re-sign, idempotency cleanup)
   * between ticks: OpenedRepository.jobLease. By default this process always does.
   */
  jobLease?: ((name: string, ttlMs: number) => JobLease) | undefined;
  /**
   * The monitor's recent alerts, newest first, for GET /api/v1/monitor/alerts and the console
   * banner: the daemon reads them from the database, so that every replica answers them, not only
   * the one holding the monitor's lease. Undefined (or resolving to it) answers 503
   * MONITOR_NOT_CONFIGURED, as does leaving it out.
   */
  monitorAlerts?: MonitorAlerts;
  /**
   * The monitor's newest audit (Monitor.latestAudit), for the console's findings page and audit
   * packs; undefined as monitorAlerts is. Without it those pages say that no monitor runs here.
   */
  monitorAudit?: () => LatestAudit | undefined;
  /** The chain's current block number: the console shows confirmations with it. */
  chainHead?: () => Promise<number>;
  /** Alerts for the console banner (the monitor); without it the console draws no banner. */
  consoleAlerts?: ConsoleAlertSource;
  /**
   * Where console sessions are kept (OpenedRepository.consoleSessions: the database, shared by
   * every replica); by default in this process, which suits one process alone.
   */
  consoleSessions?: ConsoleSessionStore;
}

export interface ServerParts {
  app: Hono<AppEnv>;
  context: ServerContext;
}

export function createServerParts(deps: ServerDeps): ServerParts {
  const config = resolveConfig(deps.config ?? {});
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? pino({ level: 'silent' });
  const metrics: ServerMetrics = createServerMetrics(logger);
  const verifier = deps.verifier ?? defaultVerifier(deps, clock);
  const service = new RepositoryService({
    store: deps.store,
    blobs: deps.blobs,
    signers: deps.signers,
    releaseLog: deps.releaseLog,
    verifier,
    config,
    clock,
    logger,
    metrics: { onResign: (role) => metrics.resigns.inc({ role }) },
    log: deps.transparencyLog,
    lock: deps.publishLock,
  });
  const metadataCache = new MetadataCache();
  service.core.pipeline.onCommitted(() => metadataCache.invalidate());
  const context: ServerContext = {
    metadataCache,
    commitAnswers: new CommitAnswers(metadataCache),
    targetCache: new TargetCache({ maxBytes: config.targetCacheBytes, commits: metadataCache }),
    service,
    store: deps.store,
    blobs: deps.blobs,
    verifier,
    config,
    clock,
    logger,
    metrics,
    chainProbe: deps.chainProbe,
    monitorAlerts: deps.monitorAlerts,
    monitorAudit: deps.monitorAudit,
    lifecycle: { shuttingDown: false },
    log: deps.transparencyLog,
    vehicles: new VehicleService({
      store: deps.store,
      ca: deps.vehicleCa,
      caCertificatePem: deps.vehicleCaPem,
      config: resolveVehicleEnrollmentConfig(deps.vehicleEnrollment),
      clock,
      logger,
    }),
    releaseLog: deps.releaseLog,
    director: deps.director
      ? new DirectorService({
          repository: new DirectorRepository({
            store: deps.director.store,
            signers: deps.director.signers,
            config,
            clock,
            log: deps.transparencyLog,
            ...(deps.director.lock ? { lock: deps.director.lock } : {}),
          }),
          store: deps.director.store,
          repositoryStore: deps.store,
          images: service,
          clock,
          logger,
        })
      : undefined,
    fleet: deps.fleet ? new FleetService({ store: deps.fleet, clock }) : undefined,
    campaigns: undefined,
  };
  if (deps.campaigns && context.director && context.fleet) {
    context.campaigns = new CampaignService({
      store: deps.campaigns,
      fleet: context.fleet,
      director: context.director,
      clock,
      logger,
      log: deps.transparencyLog,
    });
    registerCampaignMetrics(metrics.registry, context.campaigns);
  }
  metrics.registry.collected({
    name: 'tufchain_metadata_expiry_seconds',
    help: 'Seconds until current metadata of each role expires',
    labelNames: ['role'],
    collect: async () =>
      (await service.roleStatus()).map((r) => ({
        labels: { role: r.role },
        value: r.secondsToExpiry,
      })),
  });
  metrics.registry.collected({
    name: 'tufchain_metadata_version',
    help: 'Current version of each role',
    labelNames: ['role'],
    collect: async () =>
      (await service.roleStatus()).map((r) => ({ labels: { role: r.role }, value: r.version })),
  });

  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error);
      return undefined;
    },
  });

  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const route = routePath(c);
    const seconds = (performance.now() - started) / 1000;
    const status = c.get('sentStatus') ?? c.res.status;
    metrics.http.record(c.req.method, route, status, seconds);
    logger.info(
      {
        method: c.req.method,
        path: c.req.path,
        status,
        ms: Math.round(seconds * 1000),
      },
      'request',
    );
  });

  app.onError((err, c) => {
    const e = toServerError(err);
    const status = httpStatusOf(e.code);
    if (status >= 500)
      logger.error(
        {
          code: e.code,
          err: err.message,
          cause: err.cause instanceof Error ? err.cause.message : undefined,
        },
        'request failed',
      );
    // The rest of a refused body stays unread and the connection is dropped: a keep-alive
    // client must not send its next request down it.
    if (e.code === 'PAYLOAD_TOO_LARGE') c.header('Connection', 'close');
    const message = status >= 500 && e.code === 'INTERNAL' ? 'internal error' : e.message;
    return c.json(errorBody(e.code, message), status as 500);
  });
  app.notFound((c) => c.json(errorBody('NOT_FOUND', 'no such route'), 404));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description:
      'API token tct_<id>_<secret>. An operation lists the scope it needs (publish, revoke, admin, enroll, director:assign, fleet, campaigns) as the role of its requirement; admin implies every scope; none listed: any valid token. The audit scope is read-only: it passes only where none is listed.',
  });
  registerPublicRoutes(app, context);
  registerTargetRoutes(app, context);
  registerManagementRoutes(app, context);
  registerDeltaRoutes(app, context);
  registerTokenRoutes(app, context);
  registerMinimumVersionRoutes(app, context);
  registerAttestationRoutes(app, context);
  registerVehicleRoutes(app, context, context.vehicles);
  registerLogRoutes(app, context);
  registerDirectorVehicleRoutes(app, context);
  registerDirectorOemRoutes(app, context);
  registerFleetVehicleRoutes(app, context);
  registerFleetGroupRoutes(app, context);
  registerCampaignRoutes(app, context);
  registerMonitorRoutes(app, context);
  registerOpsRoutes(app, context);
  registerConsoleRoutes(app, context, {
    alerts: deps.consoleAlerts,
    chainHead: deps.chainHead,
    sessions: deps.consoleSessions,
  });
  registerPublicDocs(app);
  app.doc31('/api/v1/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'tufchain update server',
      version: '0.1.0',
      description:
        'TUF 1.0 repository for vehicle firmware whose every targets version is logged on an EVM transparency contract. Any route but /healthz, /readyz and /metrics may answer 503 SERVER_BUSY with a Retry-After header when the replica holds maxInFlightRequests requests already: nothing of the request was read, so it can be sent again as it was.',
    },
  });
  return { app, context };
}

/** The Hono app with every route. */
export function createApp(deps: ServerDeps): Hono<AppEnv> {
  return createServerParts(deps).app;
}

function defaultVerifier(deps: ServerDeps, clock: Clock): AttestationVerifier {
  const vehicleCaPem = deps.vehicleCaPem ?? deps.vehicleCa?.certificatePem;
  if (!deps.firmwareKey || vehicleCaPem === undefined) {
    throw new ServerError(
      'INVALID_REQUEST',
      'ServerDeps needs firmwareKey and vehicleCaPem (or a verifier)',
    );
  }
  return createAttestationVerifier({
    firmwareKey: deps.firmwareKey,
    vehicleCaPem,
    clock,
  });
}

/** Schema refinements whose message is the error code to answer with. */
const codeMessages: readonly ServerErrorCode[] = [INVALID_NAME, BUNDLE_MALFORMED];

function validationError(error: ZodError): ServerError {
  const coded = error.issues.find((i) => (codeMessages as readonly string[]).includes(i.message));
  const first = coded ?? error.issues[0];
  const where = first ? `${first.path.join('.') || '(body)'}: ${first.message}` : 'invalid request';
  return new ServerError(coded ? (coded.message as ServerErrorCode) : 'INVALID_REQUEST', where);
}

const codeByHttpStatus: Record<number, ServerErrorCode> = {
  400: 'INVALID_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'INSUFFICIENT_SCOPE',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

function toServerError(err: unknown): ServerError {
  // Whatever layer gave up on it (a raw pg error, STORAGE_FAILED), an unreachable database is a
  // 503 the client retries, not a 500.
  if (
    (!(err instanceof ServerError) || err.code === 'STORAGE_FAILED' || err.code === 'INTERNAL') &&
    isDatabaseUnavailable(err)
  ) {
    return new ServerError('DATABASE_UNAVAILABLE', 'the database is unavailable; retry', {
      cause: err,
    });
  }
  if (err instanceof ServerError) return err;
  if (err instanceof ZodError) return validationError(err);
  if (err instanceof HTTPException) {
    const code =
      err.status === 400 && /malformed json/i.test(err.message)
        ? 'MALFORMED_JSON'
        : codeByHttpStatus[err.status];
    if (code) return new ServerError(code, err.message || code, { cause: err });
  }
  if (err instanceof SyntaxError)
    return new ServerError('MALFORMED_JSON', 'request body is not valid JSON', { cause: err });
  return new ServerError('INTERNAL', err instanceof Error ? err.message : String(err), {
    cause: err,
  });
}

function registerPublicDocs(app: OpenAPIHono<AppEnv>): void {
  const bin = {
    'application/octet-stream': { schema: { type: 'string' as const, format: 'binary' } },
  };
  const json = { 'application/json': { schema: { type: 'object' as const } } };
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/metadata/{file}',
    summary:
      'TUF metadata: timestamp.json (short cache), {N}.root.json, {N}.snapshot.json, {N}.targets.json (immutable)',
    request: { params: z.object({ file: z.string() }) },
    responses: {
      200: { description: 'Metadata bytes', content: json },
      304: { description: 'Not modified' },
      404: { description: 'Not published' },
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/targets/{file}',
    summary: 'Target files as {sha256}.{name}; supports Range, If-None-Match, HEAD',
    request: { params: z.object({ file: z.string() }) },
    responses: {
      200: { description: 'Whole file', content: bin },
      206: { description: 'Partial content', content: bin },
      416: { description: 'Range not satisfiable' },
      404: { description: 'No such target' },
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/targets/{dir}/{file}',
    summary:
      'Supplier target files as {hardwareId}/{sha256}.{name}; supports Range, If-None-Match, HEAD',
    request: { params: z.object({ dir: z.string(), file: z.string() }) },
    responses: {
      200: { description: 'Whole file', content: bin },
      206: { description: 'Partial content', content: bin },
      416: { description: 'Range not satisfiable' },
      404: { description: 'No such target' },
    },
  });
  for (const path of ['/healthz', '/readyz', '/metrics']) {
    app.openAPIRegistry.registerPath({
      method: 'get',
      path,
      responses: { 200: { description: 'OK' } },
    });
  }
}
