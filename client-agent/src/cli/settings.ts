import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { defaultConfig, type Config } from '../config.js';
import { AgentError } from '../error.js';

/**
 * The agent's settings file (JSON). Paths are relative to the file. Secrets are never in the
 * file: passphrases come from the environment (see `ENV`).
 */
const settingsSchema = z.object({
  serverUrl: z.url(),
  hardwareId: z.string().min(1),
  ecuSerial: z.string().min(1).optional(),
  metadataDir: z.string().min(1),
  stateDir: z.string().min(1),
  slotsDir: z.string().min(1),
  /** The initial trusted TUF root (1.root.json), provisioned at the factory. */
  trustedRootPath: z.string().min(1),
  chain: z.object({
    rpcUrls: z.array(z.url()).min(1),
    quorum: z.number().int().positive().default(1),
    contractAddress: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
    confirmations: z.number().int().positive().default(3),
    chainId: z.number().int().positive(),
    fromBlock: z.number().int().nonnegative().optional(),
  }),
  firmwareKey: z.object({
    publicKeyPath: z.string().min(1),
    keyId: z.string().regex(/^[0-9a-f]{64}$/),
  }),
  vehicle: z.union([
    z.object({ pkcs12Path: z.string().min(1), caCertificatePath: z.string().min(1) }),
    z.object({
      keyPath: z.string().min(1),
      certificatePath: z.string().min(1),
      vinCommitment: z.string().regex(/^(0x)?[0-9a-f]{64}$/),
    }),
  ]),
  /** Pinned keys (C2SP vkey form) of the log that anchors install reports; proofs are kept once verified. */
  transparencyLog: z
    .object({ logKeys: z.array(z.string().min(1)).min(1), origin: z.string().min(1).optional() })
    .optional(),
  pollIntervalSeconds: z.number().positive().default(3600),
  /** Fraction of the interval added or removed at random, so that a fleet does not poll in step. */
  pollJitter: z.number().min(0).max(1).default(0.2),
  odometerPath: z.string().optional(),
  /**
   * Uptane (transparency/UPTANE.md): with this section the agent is the vehicle's primary and
   * run-once / daemon run the Director cycle (runVehicleUpdate) instead of the single-ECU one.
   */
  director: z
    .object({
      /** The server that serves /director/… (default: serverUrl). */
      url: z.url().optional(),
      /** The pinned Director root (its 1.root.json), provisioned at the factory. */
      trustedRootPath: z.string().min(1),
      /** Where the Director's trusted metadata is kept (apart from metadataDir). */
      metadataDir: z.string().min(1),
      /** Pinned keys (C2SP vkey form) of the log whose signed promise Director metadata needs. */
      logKeys: z.array(z.string().min(1)).min(1),
      logOrigin: z.string().min(1).optional(),
    })
    .strict()
    .optional(),
  /** The vehicle's secondary ECUs (Uptane), each reached over its local link. */
  secondaries: z
    .array(
      z
        .object({
          ecuSerial: z.string().min(1),
          hardwareId: z.string().min(1),
          kind: z.enum(['full', 'partial']),
          /** `tcp:127.0.0.1:PORT` or `unix:PATH` (what `tufchain-agent secondary` listens on). */
          address: z.string().regex(/^(tcp:[^:]+:\d+|unix:.+)$/),
          /** The ECU's registered public key (PEM, SPKI). */
          publicKeyPath: z.string().min(1),
        })
        .strict(),
    )
    .default([]),
  agent: z.record(z.string(), z.unknown()).optional(),
});

export type AgentSettings = z.infer<typeof settingsSchema> & { config: Partial<Config> };

/** Environment variables main.ts passes in (only main.ts reads process.env). */
export const ENV = {
  config: 'TUFCHAIN_AGENT_CONFIG',
  serverUrl: 'TUFCHAIN_SERVER_URL',
  rpcUrls: 'TUFCHAIN_RPC_URLS',
  hardwareId: 'TUFCHAIN_HARDWARE_ID',
  pollInterval: 'TUFCHAIN_POLL_INTERVAL_SECONDS',
  vehiclePassphrase: 'TUFCHAIN_VEHICLE_PASSPHRASE',
  /** A file holding the passphrase (systemd credentials). */
  vehiclePassphraseFile: 'TUFCHAIN_VEHICLE_PASSPHRASE_FILE',
} as const;

const numericConfigKeys = Object.entries(defaultConfig)
  .filter(([, v]) => typeof v === 'number')
  .map(([k]) => k);
const booleanConfigKeys = Object.entries(defaultConfig)
  .filter(([, v]) => typeof v === 'boolean')
  .map(([k]) => k);

function resolvePaths<T extends Record<string, unknown>>(obj: T, base: string, keys: string[]): T {
  const out: Record<string, unknown> = { ...obj };
  for (const key of keys) {
    const v = out[key];
    if (typeof v === 'string' && !isAbsolute(v)) out[key] = resolve(base, v);
  }
  return out as T;
}

/** Validates a parsed settings object, applies environment overrides, resolves relative paths. */
export function parseSettings(
  raw: unknown,
  env: Record<string, string | undefined>,
  baseDir: string,
): AgentSettings {
  const merged = structuredClone((raw ?? {}) as Record<string, unknown>);
  const chain = (merged['chain'] ?? {}) as Record<string, unknown>;
  if (env[ENV.serverUrl]) merged['serverUrl'] = env[ENV.serverUrl];
  if (env[ENV.hardwareId]) merged['hardwareId'] = env[ENV.hardwareId];
  if (env[ENV.rpcUrls]) chain['rpcUrls'] = env[ENV.rpcUrls]?.split(',').map((s) => s.trim());
  if (env[ENV.pollInterval]) merged['pollIntervalSeconds'] = Number(env[ENV.pollInterval]);
  merged['chain'] = chain;
  const parsed = settingsSchema.safeParse(merged);
  if (!parsed.success) {
    throw new AgentError(
      'CONFIG_INVALID',
      `invalid agent settings: ${z.prettifyError(parsed.error)}`,
    );
  }
  const s = parsed.data;
  const agent = s.agent ?? {};
  const config: Partial<Config> = {};
  for (const [k, v] of Object.entries(agent)) {
    const valid = numericConfigKeys.includes(k)
      ? typeof v === 'number' && Number.isFinite(v) && v >= 0
      : booleanConfigKeys.includes(k) && typeof v === 'boolean';
    if (!valid) throw new AgentError('CONFIG_INVALID', `unknown or invalid agent setting ${k}`);
    (config as Record<string, unknown>)[k] = v;
  }
  const paths = ['metadataDir', 'stateDir', 'slotsDir', 'trustedRootPath', 'odometerPath'];
  return {
    ...resolvePaths(s, baseDir, paths),
    firmwareKey: resolvePaths(s.firmwareKey, baseDir, ['publicKeyPath']),
    vehicle: resolvePaths(s.vehicle, baseDir, [
      'pkcs12Path',
      'caCertificatePath',
      'keyPath',
      'certificatePath',
    ]),
    ...(s.director
      ? {
          director: resolvePaths(s.director, baseDir, ['trustedRootPath', 'metadataDir']),
        }
      : {}),
    secondaries: s.secondaries.map((x) => resolvePaths(x, baseDir, ['publicKeyPath'])),
    config,
  };
}

/** Reads and validates a settings file. */
export async function loadSettings(
  path: string,
  env: Record<string, string | undefined>,
): Promise<AgentSettings> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new AgentError('CONFIG_INVALID', `cannot read settings file ${path}`, { cause: err });
  }
  return parseSettings(raw, env, dirname(resolve(path)));
}

/** The delay before the next poll: the interval, plus or minus a random share of it. */
export function nextPollDelayMs(
  intervalSeconds: number,
  jitter: number,
  random = Math.random,
): number {
  const spread = intervalSeconds * jitter;
  return Math.max(1000, Math.round((intervalSeconds - spread + 2 * spread * random()) * 1000));
}
