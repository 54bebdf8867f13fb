/**
 * The update server daemon. The only place that reads process.env.
 *
 *   TUFCHAIN_DATA_DIR            SQLite + blobs (required)
 *   DATABASE_URL                 postgres://…: the repository store in PostgreSQL (default: SQLite)
 *   TUFCHAIN_BLOB_DIR            where images live (default <data dir>/blobs); replicas on one
 *                                DATABASE_URL share one blob directory (a shared mount)
 *   TUFCHAIN_RESIGN_INTERVAL_MS  tick of the background jobs (crash recovery of a publish, expiry
 *                                re-sign), default 60000; another replica takes them over after 3 missed ticks
 *   TUFCHAIN_HOST / TUFCHAIN_PORT   default 127.0.0.1:8080
 *   TUFCHAIN_RPC_URL, TUFCHAIN_CONTRACT_ADDRESS, TUFCHAIN_CONFIRMATIONS (default 2)
 *   TUFCHAIN_CHAIN_ID            optional: the RPC must serve this chain
 *   TUFCHAIN_PUBLISHER_KEY_FILE  encrypted PKCS#8 secp256k1 key of the contract's publisher (required)
 *   TUFCHAIN_KEY_PASSPHRASE      passphrase of every encrypted key file here (or TUFCHAIN_KEY_PASSPHRASE_FILE)
 *   TUFCHAIN_KEY_PASSPHRASE_FILE a file holding that passphrase (first line)
 *   TUFCHAIN_SNAPSHOT_KEY_FILES, TUFCHAIN_TIMESTAMP_KEY_FILES, TUFCHAIN_TARGETS_KEY_FILES (comma-separated; targets optional = offline)
 *   TUFCHAIN_FIRMWARE_PUBLIC_KEY_FILE (SPKI PEM), TUFCHAIN_VEHICLE_CA_FILE (certificate PEM)
 *   TUFCHAIN_VEHICLE_CA_KEY_FILE (encrypted PKCS#8, optional): turns on vehicle enrollment, revocation and the CRL
 *   TUFCHAIN_ROOT_FILE           1.root.json signed offline; bootstraps an empty data dir
 *   TUFCHAIN_ADMIN_TOKEN_FILE    if set and absent, an admin token is created and written there (0600)
 *   TUFCHAIN_LOG_LEVEL           pino level, default info
 *   TUFCHAIN_TARGET_CACHE_BYTES  bytes of served images kept in memory (default 268435456 = 256 MiB;
 *                                an image above a quarter of it is streamed from disk; 0 = off)
 *   TUFCHAIN_MAX_IN_FLIGHT_REQUESTS  requests the router holds at once (default 1024; 0 = no bound);
 *                                one more is answered 503 SERVER_BUSY with Retry-After
 *   TUFCHAIN_BUSY_RETRY_AFTER_SECONDS  that Retry-After (default 2)
 *   TUFCHAIN_LOG_NOTE_KEY_FILE   encrypted PKCS#8 Ed25519 key signing log checkpoints (optional: turns on the
 *                                transparency log and /api/v1/log/*: in <data dir>/log.sqlite, or with
 *                                DATABASE_URL in PostgreSQL, shared by every replica, anchored by one)
 *   TUFCHAIN_LOG_ORIGIN          checkpoint origin (default tufchain.local/log)
 *   TUFCHAIN_LOG_OPERATOR_KEY_FILE  encrypted PKCS#8 secp256k1 key of the contract's log operator
 *                                (optional: anchors checkpoints)
 *   TUFCHAIN_LOG_BATCH_SIZE, TUFCHAIN_LOG_INTERVAL_MS   anchor every N entries or T ms (default 1000 / 60000)
 *   TUFCHAIN_LOG_STALL_AFTER_MS, TUFCHAIN_LOG_STALL_AFTER_FAILURES   anchoring counts as stalled when a
 *                                checkpoint waits this long, or after this many failures in a row (600000 / 10)
 *   TUFCHAIN_LOG_FROM_BLOCK      the contract's deployment block (where anchor events start)
 *   TUFCHAIN_LOG_LEASE_CHECK_MS  with DATABASE_URL: how often a replica checks the anchoring lease
 *                                (default 5000); another replica anchors after 3 missed checks
 *   TUFCHAIN_DIRECTOR_TARGETS_KEY_FILES, TUFCHAIN_DIRECTOR_SNAPSHOT_KEY_FILES,
 *   TUFCHAIN_DIRECTOR_TIMESTAMP_KEY_FILES   encrypted online keys of the Uptane Director (comma-separated;
 *                                all three turn the Director on)
 *   TUFCHAIN_DIRECTOR_ROOT_FILE  the Director's 1.root.json signed offline (same ceremony as the image
 *                                repository's root); bootstraps the Director on first start
 *
 *   TUFCHAIN_MONITOR_EXPECTATIONS_FILE  the OEM's expectations (server/README.md, "Monitor"): turns on
 *                                the continuous monitor on the replica holding its lease, and
 *                                GET /api/v1/monitor/alerts on every replica
 *   TUFCHAIN_MONITOR_ROOT_FILE   the root it trusts (default TUFCHAIN_ROOT_FILE)
 *   TUFCHAIN_MONITOR_STATE_FILE  the state file of a monitor from before the database kept its state
 *                                (default <data dir>/monitor-state.json): imported once into an empty database
 *   TUFCHAIN_MONITOR_CONFIRMATIONS  its confirmation depth (default TUFCHAIN_CONFIRMATIONS)
 *   TUFCHAIN_MONITOR_SERVER_RELEASES  true (default) or false: releases published through this server's
 *                                API count as the OEM's release records
 *   TUFCHAIN_MONITOR_WEBHOOK_URL, TUFCHAIN_MONITOR_WEBHOOK_SECRET_FILE   POST each alert, HMAC-signed
 *
 * TUFCHAIN_PUBLISHER_KEY / TUFCHAIN_LOG_OPERATOR_KEY (raw private keys) are refused. Every chain
 * account is checked before the server starts: a wrong contract address, an account without its
 * role, a key that does not match or an account that cannot pay for gas stops the start with its code.
 */
import { createPublicKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import {
  computeKeyId,
  createFileSigner,
  readEncryptedKeyFile,
  toTufPublicKey,
  type Signer,
} from '@tufchain/keys';
import { ChainReader, ReleaseLogWriter } from '@tufchain/transparency';
import { JsonRpcProvider } from 'ethers';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { hostMonitor, MONITOR_LEASE, type HostedMonitor } from './monitor/hosted.js';
import { createMonitorMetrics, type MonitorMetrics } from './monitor/metrics.js';
import type { Monitor } from './monitor/monitor.js';
import { loadMonitorFiles, openMonitor } from './monitor/open.js';
import { releaseStoreRecords, type ServerReleaseRecords } from './monitor/server-releases.js';
import {
  createFileStateStore,
  type MonitorState,
  type MonitorStateStore,
} from './monitor/state.js';
import { createApiToken } from './auth/tokens.js';
import { openChainAccount, refuseRawChainKeys } from './chain/accounts.js';
import { defaultConfig } from './config.js';
import { ServerError } from './error.js';
import { ANCHOR_LEASE, ANCHOR_LEASE_CHECK_MS, openServerLog } from './log/open.js';
import { startServer } from './serve.js';
import { openRepository } from './storage/open.js';
import { initRepositoryFromRoot } from './tuf/repository.js';
import { initDirectorFromRoot } from './director/repository.js';

type Env = Record<string, string | undefined>;

function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value === '')
    throw new ServerError('CONFIG_INVALID', `${name} is required`);
  return value;
}

function integer(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ServerError('CONFIG_INVALID', `${name} must be a non-negative integer`);
  }
  return value;
}

/** TUFCHAIN_KEY_PASSPHRASE_FILE (its first line), else TUFCHAIN_KEY_PASSPHRASE. */
async function keyPassphrase(env: Env): Promise<string> {
  const file = env.TUFCHAIN_KEY_PASSPHRASE_FILE;
  if (file) {
    const passphrase = (await readFile(file, 'utf8')).split(/\r?\n/)[0] ?? '';
    if (passphrase === '') throw new ServerError('CONFIG_INVALID', `${file} holds no passphrase`);
    return passphrase;
  }
  return required(env, 'TUFCHAIN_KEY_PASSPHRASE');
}

async function signers(env: Env, name: string, passphrase: string): Promise<Signer[]> {
  const files = (env[name] ?? '')
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  return Promise.all(files.map((f) => createFileSigner(f, passphrase)));
}

export async function main(env: Env): Promise<void> {
  const logger = pino({
    level: env.TUFCHAIN_LOG_LEVEL ?? 'info',
    redact: ['req.headers.authorization', '*.token', 'token'],
  });
  refuseRawChainKeys(env);
  const dataDir = required(env, 'TUFCHAIN_DATA_DIR');
  const passphrase = await keyPassphrase(env);
  const rpcUrl = required(env, 'TUFCHAIN_RPC_URL');
  const contractAddress = required(env, 'TUFCHAIN_CONTRACT_ADDRESS');
  const confirmations = integer(env, 'TUFCHAIN_CONFIRMATIONS', 2);
  const expectedChainId = env.TUFCHAIN_CHAIN_ID ? integer(env, 'TUFCHAIN_CHAIN_ID', 0) : undefined;
  // ethers caches results for 250 ms by default, which would hand back-to-back publishes a stale nonce.
  const provider = new JsonRpcProvider(rpcUrl, undefined, { cacheTimeout: -1 });
  const account = (keyFile: string, role: 'publisher' | 'log-operator') =>
    openChainAccount({
      keyFile,
      passphrase,
      provider,
      contractAddress,
      role,
      ...(expectedChainId === undefined ? {} : { chainId: expectedChainId }),
    });
  // Every chain account is checked before anything is written (the repository bootstrap logs on chain).
  const publisher = await account(required(env, 'TUFCHAIN_PUBLISHER_KEY_FILE'), 'publisher');
  logger.info({ address: publisher.address }, 'publisher account checked on chain');
  const noteKeyFile = env.TUFCHAIN_LOG_NOTE_KEY_FILE;
  const operatorKeyFile = env.TUFCHAIN_LOG_OPERATOR_KEY_FILE;
  if (operatorKeyFile && !noteKeyFile) {
    throw new ServerError(
      'CONFIG_INVALID',
      'TUFCHAIN_LOG_OPERATOR_KEY_FILE anchors the transparency log: set TUFCHAIN_LOG_NOTE_KEY_FILE too',
    );
  }
  const operator = operatorKeyFile ? await account(operatorKeyFile, 'log-operator') : undefined;
  if (operator) logger.info({ address: operator.address }, 'log operator account checked on chain');
  const releaseLog = new ReleaseLogWriter({
    signer: publisher,
    contractAddress,
    confirmations,
    pollIntervalMs: 100,
  });
  const chainLookup = new ChainReader({
    rpcUrls: [rpcUrl],
    quorum: 1,
    contractAddress,
    confirmations,
  });
  const online = {
    snapshot: await signers(env, 'TUFCHAIN_SNAPSHOT_KEY_FILES', passphrase),
    timestamp: await signers(env, 'TUFCHAIN_TIMESTAMP_KEY_FILES', passphrase),
  };
  const targets = await signers(env, 'TUFCHAIN_TARGETS_KEY_FILES', passphrase);
  const onlineSigners = targets.length > 0 ? { ...online, targets } : online;
  const firmwarePem = await readFile(required(env, 'TUFCHAIN_FIRMWARE_PUBLIC_KEY_FILE'), 'utf8');
  const firmwareKey = {
    publicKeyPem: firmwarePem,
    keyId: computeKeyId(toTufPublicKey(createPublicKey(firmwarePem))),
  };
  const vehicleCaPem = await readFile(required(env, 'TUFCHAIN_VEHICLE_CA_FILE'), 'utf8');
  const vehicleCaKeyFile = env.TUFCHAIN_VEHICLE_CA_KEY_FILE;
  const vehicleCa = vehicleCaKeyFile
    ? {
        certificatePem: vehicleCaPem,
        privateKey: await readEncryptedKeyFile(vehicleCaKeyFile, passphrase),
      }
    : undefined;

  // Its files are read and checked here, before the repository or the chain is touched.
  const openMonitorHere = await monitorOpener(env, {
    rpcUrl,
    contractAddress,
    confirmations,
    provider,
    logger,
    vehicleCaPem,
  });
  const databaseUrl = env.DATABASE_URL;
  const blobDir = env.TUFCHAIN_BLOB_DIR;
  const repo = await openRepository({
    dataDir,
    ...(databaseUrl === undefined || databaseUrl === '' ? {} : { databaseUrl }),
    ...(blobDir === undefined || blobDir === '' ? {} : { blobDir }),
  });
  if (!(await repo.store.currentMetadata('root'))) {
    const rootBytes = await readFile(required(env, 'TUFCHAIN_ROOT_FILE'));
    await initRepositoryFromRoot({ store: repo.store, rootBytes, onlineSigners, releaseLog });
    logger.info('repository bootstrapped from the offline-signed root');
  }
  const directorSigners = {
    targets: await signers(env, 'TUFCHAIN_DIRECTOR_TARGETS_KEY_FILES', passphrase),
    snapshot: await signers(env, 'TUFCHAIN_DIRECTOR_SNAPSHOT_KEY_FILES', passphrase),
    timestamp: await signers(env, 'TUFCHAIN_DIRECTOR_TIMESTAMP_KEY_FILES', passphrase),
  };
  const directorOn = Object.values(directorSigners).some((list) => list.length > 0);
  if (directorOn && !(await repo.director.currentDirectorRoot())) {
    const rootBytes = await readFile(required(env, 'TUFCHAIN_DIRECTOR_ROOT_FILE'));
    await initDirectorFromRoot({
      store: repo.director,
      rootBytes,
      signers: directorSigners,
      clock: () => new Date(),
    });
    logger.info('Director bootstrapped from its offline-signed root');
  }
  const tokenFile = env.TUFCHAIN_ADMIN_TOKEN_FILE;
  if (tokenFile) {
    const exists = await readFile(tokenFile).then(
      () => true,
      () => false,
    );
    if (!exists) {
      const { token } = await createApiToken(repo.store, {
        name: 'bootstrap-admin',
        scopes: ['admin'],
      });
      await writeFile(tokenFile, `${token}\n`, { mode: 0o600, flag: 'wx' });
      logger.info({ file: tokenFile }, 'admin token written');
    }
  }
  const leaseCheckMs = integer(env, 'TUFCHAIN_LOG_LEASE_CHECK_MS', ANCHOR_LEASE_CHECK_MS);
  if (leaseCheckMs === 0) {
    throw new ServerError('CONFIG_INVALID', 'TUFCHAIN_LOG_LEASE_CHECK_MS must be positive');
  }
  const transparencyLog = noteKeyFile
    ? await openServerLog({
        dataDir,
        ...(repo.sharedLog
          ? {
              shared: {
                ...repo.sharedLog,
                anchorLease: repo.jobLease(ANCHOR_LEASE, 3 * leaseCheckMs),
                leaseCheckMs,
              },
            }
          : {}),
        origin: env.TUFCHAIN_LOG_ORIGIN ?? 'tufchain.local/log',
        noteKey: await readEncryptedKeyFile(noteKeyFile, passphrase),
        ...(operator
          ? {
              anchoring: {
                signer: operator,
                contractAddress,
                chainId: Number((await provider.getNetwork()).chainId),
                ...(env.TUFCHAIN_LOG_FROM_BLOCK
                  ? { fromBlock: integer(env, 'TUFCHAIN_LOG_FROM_BLOCK', 0) }
                  : {}),
                config: {
                  confirmations,
                  batchSize: integer(env, 'TUFCHAIN_LOG_BATCH_SIZE', 1000),
                  intervalMs: integer(env, 'TUFCHAIN_LOG_INTERVAL_MS', 60_000),
                  stallAfterMs: integer(env, 'TUFCHAIN_LOG_STALL_AFTER_MS', 600_000),
                  stallAfterFailures: integer(env, 'TUFCHAIN_LOG_STALL_AFTER_FAILURES', 10),
                },
              },
            }
          : {}),
        logger,
      })
    : undefined;
  let hostedMonitor: HostedMonitor | undefined;
  const server = await startServer({
    host: env.TUFCHAIN_HOST ?? '127.0.0.1',
    port: Number(env.TUFCHAIN_PORT ?? '8080'),
    deps: {
      store: repo.store,
      blobs: repo.blobs,
      signers: onlineSigners,
      releaseLog,
      firmwareKey,
      vehicleCaPem,
      ...(vehicleCa ? { vehicleCa } : {}),
      logger,
      chainProbe: () => provider.getBlockNumber(),
      chainHead: () => provider.getBlockNumber(),
      chainLookup,
      ...(transparencyLog ? { transparencyLog } : {}),
      ...(directorOn
        ? {
            director: {
              store: repo.director,
              signers: directorSigners,
              lock: repo.directorLock,
            },
          }
        : {}),
      fleet: repo.fleet,
      campaigns: repo.campaigns,
      publishLock: repo.publishLock,
      jobLease: repo.jobLease,
      ...(openMonitorHere
        ? {
            // From the database: every replica answers, whichever holds the monitor's lease.
            monitorAlerts: () => repo.monitorState.recentAlerts(),
            monitorAudit: () => hostedMonitor?.audit(),
          }
        : {}),
      consoleSessions: repo.consoleSessions,
      config: {
        targetCacheBytes: integer(
          env,
          'TUFCHAIN_TARGET_CACHE_BYTES',
          defaultConfig.targetCacheBytes,
        ),
        maxInFlightRequests: integer(
          env,
          'TUFCHAIN_MAX_IN_FLIGHT_REQUESTS',
          defaultConfig.maxInFlightRequests,
        ),
        busyRetryAfterSeconds: integer(
          env,
          'TUFCHAIN_BUSY_RETRY_AFTER_SECONDS',
          defaultConfig.busyRetryAfterSeconds,
        ),
        ...(env.TUFCHAIN_RESIGN_INTERVAL_MS
          ? { resignIntervalMs: integer(env, 'TUFCHAIN_RESIGN_INTERVAL_MS', 60_000) }
          : {}),
      },
    },
  });
  if (openMonitorHere) {
    const metrics = createMonitorMetrics(server.context.metrics.registry);
    await importMonitorStateFile(
      repo.monitorState,
      env.TUFCHAIN_MONITOR_STATE_FILE ?? join(dataDir, 'monitor-state.json'),
      logger,
    );
    const serverReleases =
      env.TUFCHAIN_MONITOR_SERVER_RELEASES === 'false'
        ? undefined
        : releaseStoreRecords(repo.store);
    const open = () =>
      openMonitorHere(server.url, metrics, { store: repo.monitorState, serverReleases });
    // A saved state of another chain or contract stops the start with its code.
    await open();
    hostedMonitor = hostMonitor({
      open,
      lease: repo.jobLease(MONITOR_LEASE, 3 * MONITOR_LEASE_CHECK_MS),
      checkMs: MONITOR_LEASE_CHECK_MS,
      logger,
    });
  }
  logger.info({ url: server.url }, 'tufchain update server ready');
  const stop = (signal: string): void => {
    logger.info({ signal }, 'shutting down');
    void server
      .close()
      .then(() => hostedMonitor?.stop())
      .then(() => transparencyLog?.close())
      .then(() => repo.close())
      .then(() => {
        provider.destroy();
        process.exit(0);
      });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/**
 * Seeds the database with the state file a daemon kept before the database held its state, so
 * that an upgrade raises none of the alerts raised before again; nothing once the database has one.
 */
async function importMonitorStateFile(
  store: { importState(state: MonitorState): Promise<boolean> },
  file: string,
  logger: Logger,
): Promise<void> {
  const saved = await createFileStateStore(file).load();
  if (saved && (await store.importState(saved))) {
    logger.info({ file }, 'monitor state file imported into the database');
  }
}

/** How often a replica checks the monitor's lease; another takes it over after 3 missed checks. */
const MONITOR_LEASE_CHECK_MS = 5000;

/** Opens the monitor from TUFCHAIN_MONITOR_* once the server's URL is known; undefined when off. */
async function monitorOpener(
  env: Env,
  chain: {
    rpcUrl: string;
    contractAddress: string;
    confirmations: number;
    provider: JsonRpcProvider;
    logger: Logger;
    vehicleCaPem: string;
  },
): Promise<
  | ((
      serverUrl: string,
      metrics: MonitorMetrics,
      shared: { store: MonitorStateStore; serverReleases: ServerReleaseRecords | undefined },
    ) => Promise<Monitor>)
  | undefined
> {
  const expectationsFile = env.TUFCHAIN_MONITOR_EXPECTATIONS_FILE;
  if (!expectationsFile) return undefined;
  const serverReleases = env.TUFCHAIN_MONITOR_SERVER_RELEASES;
  if (serverReleases !== undefined && serverReleases !== 'true' && serverReleases !== 'false') {
    throw new ServerError(
      'CONFIG_INVALID',
      'TUFCHAIN_MONITOR_SERVER_RELEASES must be true or false',
    );
  }
  const webhookUrl = env.TUFCHAIN_MONITOR_WEBHOOK_URL;
  const secretFile = env.TUFCHAIN_MONITOR_WEBHOOK_SECRET_FILE;
  if ((webhookUrl === undefined) !== (secretFile === undefined)) {
    throw new ServerError(
      'CONFIG_INVALID',
      'TUFCHAIN_MONITOR_WEBHOOK_URL and TUFCHAIN_MONITOR_WEBHOOK_SECRET_FILE go together',
    );
  }
  const rootFile = env.TUFCHAIN_MONITOR_ROOT_FILE ?? required(env, 'TUFCHAIN_ROOT_FILE');
  const chainId = Number((await chain.provider.getNetwork()).chainId);
  const reader = new ChainReader({
    rpcUrls: [chain.rpcUrl],
    quorum: 1,
    contractAddress: chain.contractAddress,
    confirmations: integer(env, 'TUFCHAIN_MONITOR_CONFIRMATIONS', chain.confirmations),
    chainId,
    ...(env.TUFCHAIN_LOG_FROM_BLOCK
      ? { fromBlock: integer(env, 'TUFCHAIN_LOG_FROM_BLOCK', 0) }
      : {}),
  });
  const files = {
    rootFile,
    expectationsFile,
    ...(webhookUrl && secretFile ? { webhook: { url: webhookUrl, secretFile } } : {}),
  };
  const loaded = await loadMonitorFiles(files);
  return (serverUrl, metrics, shared) =>
    openMonitor(
      {
        ...files,
        chain: reader,
        chainId,
        contractAddress: chain.contractAddress,
        serverUrl,
        state: { store: shared.store },
        ...(shared.serverReleases ? { serverReleases: shared.serverReleases } : {}),
        logger: chain.logger.child({ component: 'monitor' }),
        metrics,
        vehicleCaPem: chain.vehicleCaPem,
      },
      loaded,
    );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.env).catch((error: unknown) => {
    const code = (error as { code?: unknown } | null)?.code;
    process.stderr.write(
      `tufchain server: error ${typeof code === 'string' ? code : 'INTERNAL'}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  });
}
