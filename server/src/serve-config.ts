/**
 * `tufchain serve --config FILE`: one JSON file for the whole daemon, checked before anything
 * starts. Each setting is also an environment variable of src/main.ts (the table below), and a
 * variable that is set wins over the file: a deployment keeps one file and overrides per replica
 * (TUFCHAIN_PORT) or from a secret store (DATABASE_URL, TUFCHAIN_KEY_PASSPHRASE). Relative paths
 * are relative to the file. No secret goes in the file: keys are encrypted files, the passphrase
 * comes from a file or the environment.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ServerError } from './error.js';

type Env = Record<string, string | undefined>;

const file = z.string().min(1);
const files = z.array(file).min(1);
const count = z.number().int().nonnegative();
const url = z.url({ protocol: /^(https?|wss?)$/ });

// Every setting is optional here: its variable may give it instead. What the daemon cannot start
// without is checked once the two are merged (requireSettings).
const configSchema = z.strictObject({
  dataDir: file.optional(),
  host: z.string().min(1).optional(),
  port: z.number().int().min(0).max(65535).optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  adminTokenFile: file.optional(),
  targetCacheBytes: count.optional(),
  maxInFlightRequests: count.optional(),
  busyRetryAfterSeconds: count.optional(),
  resignIntervalMs: count.optional(),
  database: z
    .strictObject({
      url: z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL')
        .optional(),
      blobDir: file.optional(),
    })
    .optional(),
  chain: z
    .strictObject({
      rpcUrl: url.optional(),
      contractAddress: z
        .string()
        .regex(/^0x[0-9a-fA-F]{40}$/, 'an address: 0x and 40 hex digits')
        .optional(),
      chainId: z.number().int().positive().optional(),
      confirmations: count.optional(),
      publisherKeyFile: file.optional(),
      fromBlock: count.optional(),
    })
    .optional(),
  keys: z
    .strictObject({
      passphraseFile: file.optional(),
      root: file.optional(),
      targets: files.optional(),
      snapshot: files.optional(),
      timestamp: files.optional(),
      firmwarePublicKey: file.optional(),
    })
    .optional(),
  vehicles: z.strictObject({ caCertificate: file.optional(), caKey: file.optional() }).optional(),
  log: z
    .strictObject({
      noteKeyFile: file.optional(),
      origin: z.string().min(1).optional(),
      operatorKeyFile: file.optional(),
      batchSize: z.number().int().positive().optional(),
      intervalMs: count.optional(),
      stallAfterMs: count.optional(),
      stallAfterFailures: count.optional(),
      leaseCheckMs: count.optional(),
    })
    .optional(),
  director: z
    .strictObject({
      root: file.optional(),
      targets: files.optional(),
      snapshot: files.optional(),
      timestamp: files.optional(),
    })
    .optional(),
  monitor: z
    .strictObject({
      expectations: file.optional(),
      root: file.optional(),
      state: file.optional(),
      confirmations: count.optional(),
      /**
       * Count the releases the server recorded through its publish API as the OEM's release
       * records (default true): the expectations then need no `releases` list.
       */
      serverReleases: z.boolean().optional(),
      webhook: z.strictObject({ url: url.optional(), secretFile: file.optional() }).optional(),
    })
    .optional(),
});

export type ServeConfig = z.infer<typeof configSchema>;

type Kind = 'value' | 'file' | 'files';

/** Each setting: where it is in the file, the variable src/main.ts reads, what it holds. */
const SETTINGS: readonly (readonly [path: string, env: string, kind: Kind])[] = [
  ['dataDir', 'TUFCHAIN_DATA_DIR', 'file'],
  ['host', 'TUFCHAIN_HOST', 'value'],
  ['port', 'TUFCHAIN_PORT', 'value'],
  ['logLevel', 'TUFCHAIN_LOG_LEVEL', 'value'],
  ['adminTokenFile', 'TUFCHAIN_ADMIN_TOKEN_FILE', 'file'],
  ['targetCacheBytes', 'TUFCHAIN_TARGET_CACHE_BYTES', 'value'],
  ['maxInFlightRequests', 'TUFCHAIN_MAX_IN_FLIGHT_REQUESTS', 'value'],
  ['busyRetryAfterSeconds', 'TUFCHAIN_BUSY_RETRY_AFTER_SECONDS', 'value'],
  ['resignIntervalMs', 'TUFCHAIN_RESIGN_INTERVAL_MS', 'value'],
  ['database.url', 'DATABASE_URL', 'value'],
  ['database.blobDir', 'TUFCHAIN_BLOB_DIR', 'file'],
  ['chain.rpcUrl', 'TUFCHAIN_RPC_URL', 'value'],
  ['chain.contractAddress', 'TUFCHAIN_CONTRACT_ADDRESS', 'value'],
  ['chain.chainId', 'TUFCHAIN_CHAIN_ID', 'value'],
  ['chain.confirmations', 'TUFCHAIN_CONFIRMATIONS', 'value'],
  ['chain.publisherKeyFile', 'TUFCHAIN_PUBLISHER_KEY_FILE', 'file'],
  ['chain.fromBlock', 'TUFCHAIN_LOG_FROM_BLOCK', 'value'],
  ['keys.passphraseFile', 'TUFCHAIN_KEY_PASSPHRASE_FILE', 'file'],
  ['keys.root', 'TUFCHAIN_ROOT_FILE', 'file'],
  ['keys.targets', 'TUFCHAIN_TARGETS_KEY_FILES', 'files'],
  ['keys.snapshot', 'TUFCHAIN_SNAPSHOT_KEY_FILES', 'files'],
  ['keys.timestamp', 'TUFCHAIN_TIMESTAMP_KEY_FILES', 'files'],
  ['keys.firmwarePublicKey', 'TUFCHAIN_FIRMWARE_PUBLIC_KEY_FILE', 'file'],
  ['vehicles.caCertificate', 'TUFCHAIN_VEHICLE_CA_FILE', 'file'],
  ['vehicles.caKey', 'TUFCHAIN_VEHICLE_CA_KEY_FILE', 'file'],
  ['log.noteKeyFile', 'TUFCHAIN_LOG_NOTE_KEY_FILE', 'file'],
  ['log.origin', 'TUFCHAIN_LOG_ORIGIN', 'value'],
  ['log.operatorKeyFile', 'TUFCHAIN_LOG_OPERATOR_KEY_FILE', 'file'],
  ['log.batchSize', 'TUFCHAIN_LOG_BATCH_SIZE', 'value'],
  ['log.intervalMs', 'TUFCHAIN_LOG_INTERVAL_MS', 'value'],
  ['log.stallAfterMs', 'TUFCHAIN_LOG_STALL_AFTER_MS', 'value'],
  ['log.stallAfterFailures', 'TUFCHAIN_LOG_STALL_AFTER_FAILURES', 'value'],
  ['log.leaseCheckMs', 'TUFCHAIN_LOG_LEASE_CHECK_MS', 'value'],
  ['director.root', 'TUFCHAIN_DIRECTOR_ROOT_FILE', 'file'],
  ['director.targets', 'TUFCHAIN_DIRECTOR_TARGETS_KEY_FILES', 'files'],
  ['director.snapshot', 'TUFCHAIN_DIRECTOR_SNAPSHOT_KEY_FILES', 'files'],
  ['director.timestamp', 'TUFCHAIN_DIRECTOR_TIMESTAMP_KEY_FILES', 'files'],
  ['monitor.expectations', 'TUFCHAIN_MONITOR_EXPECTATIONS_FILE', 'file'],
  ['monitor.root', 'TUFCHAIN_MONITOR_ROOT_FILE', 'file'],
  ['monitor.state', 'TUFCHAIN_MONITOR_STATE_FILE', 'file'],
  ['monitor.confirmations', 'TUFCHAIN_MONITOR_CONFIRMATIONS', 'value'],
  ['monitor.serverReleases', 'TUFCHAIN_MONITOR_SERVER_RELEASES', 'value'],
  ['monitor.webhook.url', 'TUFCHAIN_MONITOR_WEBHOOK_URL', 'value'],
  ['monitor.webhook.secretFile', 'TUFCHAIN_MONITOR_WEBHOOK_SECRET_FILE', 'file'],
];

/** Paths that need not exist yet: the daemon creates them. */
const CREATED = new Set([
  'dataDir',
  'adminTokenFile',
  'database.blobDir',
  'monitor.state',
  'keys.root', // only read to bootstrap an empty data dir
  'director.root',
]);

function at(config: unknown, path: string): unknown {
  let cur = config;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function invalid(where: string, message: string): ServerError {
  return new ServerError('CONFIG_INVALID', `${where}: ${message}`);
}

/**
 * Reads `path` and `env` into the environment src/main.ts takes: the file's settings, each
 * replaced by its variable when that is set (non-empty), plus the variables main.ts reads that
 * have no place in the file (TUFCHAIN_KEY_PASSPHRASE). CONFIG_INVALID names the first bad or
 * missing setting, with its variable.
 */
export function loadServeConfig(path: string, env: Env): Env {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ServerError('CONFIG_INVALID', `cannot read the config file ${path}`, {
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ServerError('CONFIG_INVALID', `the config file ${path} is not JSON`, {
      cause: error,
    });
  }
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join('.') || '(top level)';
    const named = issue.path.filter((p) => typeof p === 'string').join('.');
    const variable = SETTINGS.find(([k]) => k === named)?.[1];
    throw invalid(`${path}: ${key}${variable ? ` (${variable})` : ''}`, issue.message);
  }
  const base = dirname(resolve(path));
  const out: Env = {};
  for (const [key, name, kind] of SETTINGS) {
    const fromEnv = env[name];
    if (fromEnv) {
      out[name] = fromEnv;
      continue;
    }
    const value = at(parsed.data, key);
    if (value === undefined) continue;
    if (kind === 'value')
      out[name] =
        typeof value === 'number' || typeof value === 'boolean'
          ? value.toString()
          : (value as string);
    else {
      const list = (kind === 'files' ? (value as string[]) : [value as string]).map((f) =>
        resolve(base, f),
      );
      if (!CREATED.has(key)) {
        const missing = list.find((f) => !existsSync(f));
        if (missing) throw invalid(`${path}: ${key} (${name})`, `no such file ${missing}`);
      }
      out[name] = list.join(',');
    }
  }
  if (env.TUFCHAIN_KEY_PASSPHRASE) out.TUFCHAIN_KEY_PASSPHRASE = env.TUFCHAIN_KEY_PASSPHRASE;
  requireSettings(out, path);
  return out;
}

/** What the daemon cannot start without, named as the file and the variable name it. */
function requireSettings(out: Env, path: string): void {
  const needed: [key: string, name: string][] = [
    ['dataDir', 'TUFCHAIN_DATA_DIR'],
    ['chain.rpcUrl', 'TUFCHAIN_RPC_URL'],
    ['chain.contractAddress', 'TUFCHAIN_CONTRACT_ADDRESS'],
    ['chain.publisherKeyFile', 'TUFCHAIN_PUBLISHER_KEY_FILE'],
    ['keys.snapshot', 'TUFCHAIN_SNAPSHOT_KEY_FILES'],
    ['keys.timestamp', 'TUFCHAIN_TIMESTAMP_KEY_FILES'],
    ['keys.firmwarePublicKey', 'TUFCHAIN_FIRMWARE_PUBLIC_KEY_FILE'],
    ['vehicles.caCertificate', 'TUFCHAIN_VEHICLE_CA_FILE'],
  ];
  for (const [key, name] of needed) {
    if (!out[name]) throw invalid(`${path}: ${key} (${name})`, 'is required');
  }
  if (!out.TUFCHAIN_KEY_PASSPHRASE_FILE && !out.TUFCHAIN_KEY_PASSPHRASE) {
    throw invalid(
      `${path}: keys.passphraseFile (TUFCHAIN_KEY_PASSPHRASE_FILE)`,
      'is required, or TUFCHAIN_KEY_PASSPHRASE in the environment',
    );
  }
}

/** The settings and their variables, for `tufchain serve --help` and the README. */
export function serveSettings(): readonly (readonly [path: string, env: string])[] {
  return SETTINGS.map(([key, name]) => [key, name] as const);
}
