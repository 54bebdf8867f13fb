/** The simulator's configuration, records and small helpers (simulator.ts is the fleet itself). */
import { createHash } from 'node:crypto';
import type { VehicleCredentials } from '@tufchain/client-agent';
import type { Targets } from '@tufjs/models';

/** The routes a vehicle calls, as reported. */
export const FLEET_ROUTES = [
  'enroll',
  'root',
  'timestamp',
  'snapshot',
  'targets',
  'bins',
  'bin',
  'hint',
  'attestation',
] as const;
export type FleetRoute = (typeof FLEET_ROUTES)[number];

export interface FleetConfig {
  /** Base URLs of the replicas; vehicle i talks to replica i mod n. */
  replicaUrls: readonly string[];
  vehicles: number;
  /** Bearer token with the enroll scope (the factory line's). */
  factoryToken: string;
  /** Every vehicle's ECU has this hardware ID. */
  hardwareId: string;
  /** Mean time between two polls of one vehicle. */
  pollIntervalMs: number;
  /** Each wait is pollIntervalMs × (1 ± jitter), uniformly. */
  jitter: number;
  /** Connections of the undici pool of each replica. */
  connectionsPerReplica: number;
  /** Enrollments in flight at once. */
  enrollConcurrency: number;
  /** The vehicles' durable state (report counters), one directory each. */
  stateDir: string;
  /** The name of the image every vehicle runs when it leaves the factory. */
  factoryImage: { name: string; version: string; releaseCounter: number; sha256: string };
  chainId: number;
}

export const defaultFleetConfig: Omit<
  FleetConfig,
  'replicaUrls' | 'factoryToken' | 'stateDir' | 'factoryImage' | 'chainId'
> = {
  vehicles: 10_000,
  hardwareId: 'fleet-ecu',
  pollIntervalMs: 5_000,
  jitter: 0.5,
  connectionsPerReplica: 64,
  enrollConcurrency: 64,
};

/** A chain checkpoint the vehicles cite in their reports (block number, hash, time). */
export interface FleetCheckpoint {
  blockNumber: number;
  blockHash: string;
  timestamp: number;
}

export interface RouteTally {
  latenciesMs: number[];
  errors: number;
  /** 503 SERVER_BUSY answers: the vehicle tries again after Retry-After (not an error). */
  busy: number;
  statuses: Map<number, number>;
}

export interface RouteStats {
  requests: number;
  errors: number;
  busy: number;
  p50Ms: number;
  p99Ms: number;
  statuses: Record<string, number>;
}

export interface FleetError {
  /** `poll`: a poll failed outside any one request (a document that does not parse...). */
  route: FleetRoute | 'poll';
  vehicle: number;
  message: string;
}

/** One attestation as sent: the vehicle, its report key (sha256 of the DSSE payload) and answer. */
export interface SentAttestation {
  vehicle: number;
  reportKey: string;
  status: number;
  logIndex: number | undefined;
}

export interface FleetVehicle {
  index: number;
  replica: number;
  credentials: VehicleCredentials;
  ecuSerial: string;
  stateDir: string;
  running: { name: string; version: string; releaseCounter: number; sha256: string };
  etag: string | undefined;
  snapshotVersion: number;
  snapshot: Record<string, { version: number }>;
  snapshotSha256: string;
  roles: Map<string, { version: number; signed: Targets }>;
  /** performance.now() when this vehicle first resolved each image in its bin, by name. */
  seen: Map<string, number>;
  /** An image it resolved and runs now, whose report is not accepted yet. */
  pending: FleetVehicle['running'] | undefined;
}

/** sha256 of a bundle's DSSE payload: one install report, whatever encoding or signature carries it. */
export function reportKeyOf(bundle: unknown): string {
  const payload = (bundle as { dsseEnvelope?: { payload?: unknown } } | null)?.dsseEnvelope
    ?.payload;
  if (typeof payload !== 'string') throw new Error('not a DSSE bundle');
  return createHash('sha256').update(Buffer.from(payload, 'base64')).digest('hex');
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Waits `ms`, or less when `signal` aborts; leaves no listener behind (10,000 loops share it). */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** A VIN of vehicle i: 17 characters without I, O, Q (it never leaves the simulator). */
export function vinOf(i: number): string {
  return `WF0FLEET${i.toString().padStart(9, '0')}`;
}

/** A request failed and was counted on its route. */
export class RequestFailed extends Error {
  constructor(route: FleetRoute, options: { cause: unknown }) {
    super(`${route} failed`, options);
  }
}

export class HttpAnswerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** `503 SERVER_BUSY`: the replica was at its in-flight bound; nothing of the request was read. */
export class ServerBusy extends HttpAnswerError {
  constructor(
    readonly retryAfterMs: number,
    message: string,
  ) {
    super(503, message);
  }
}

/** The ServerBusy of an answer, or undefined for any other. */
export function serverBusyOf(
  status: number,
  retryAfter: string | string[] | undefined,
  body: string,
  what: string,
): ServerBusy | undefined {
  if (status !== 503) return undefined;
  let code: unknown;
  try {
    code = (JSON.parse(body) as { error?: { code?: unknown } } | null)?.error?.code;
  } catch {
    return undefined;
  }
  if (code !== 'SERVER_BUSY') return undefined;
  const seconds = Number(typeof retryAfter === 'string' ? retryAfter : '1');
  return new ServerBusy(
    (Number.isFinite(seconds) && seconds >= 0 ? seconds : 1) * 1000,
    `${what}: 503 SERVER_BUSY`,
  );
}

/** How long a failed request asked its vehicle to wait (ms): Retry-After of a SERVER_BUSY, else 0. */
export function busyWaitOf(error: unknown): number {
  const cause = error instanceof RequestFailed ? error.cause : error;
  return cause instanceof ServerBusy ? cause.retryAfterMs : 0;
}
