import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { ServerError } from '../error.js';
import type { Alert, AlertOrigin } from './alert.js';

/** Blocks the monitor has read up to, newest last; older ones are where it rewinds to. */
const MAX_CHECKPOINTS = 64;
/** Recent alerts kept for the console banner and GET /api/v1/monitor/alerts. */
export const MAX_RECENT_ALERTS = 200;

const checkpointSchema = z.strictObject({
  blockNumber: z.number().int().nonnegative(),
  blockHash: z.string().regex(/^0x[0-9a-f]{64}$/),
});

const pendingKeyCheckSchema = z.strictObject({
  version: z.number().int().nonnegative(),
  hash: z.string(),
  origin: z.strictObject({
    txHash: z.string(),
    blockNumber: z.number().int(),
    logIndex: z.number().int(),
  }),
});

/** What a database store keeps as JSON columns, checked as the file is. */
export const checkpointsSchema = z.array(checkpointSchema);
export const pendingKeyChecksSchema = z.array(pendingKeyCheckSchema);

const stateSchema = z.strictObject({
  format: z.literal('tufchain-monitor-state/v1'),
  chainId: z.number().int().positive(),
  contractAddress: z.string(),
  checkpoints: z.array(checkpointSchema),
  lastAnchorSize: z.number().int().nonnegative().optional(),
  emitted: z.array(z.string().regex(/^[0-9a-f]{64}$/)),
  recent: z.array(z.looseObject({ id: z.string() })),
  /** Logged snapshots whose keys are checked once the server serves them. */
  pendingKeyChecks: z.array(pendingKeyCheckSchema),
  /** Alerts the webhook has not acknowledged yet; retried on every poll. */
  undelivered: z.array(z.looseObject({ id: z.string() })),
});

export interface PendingKeyCheck {
  version: number;
  hash: string;
  origin: AlertOrigin;
}

export type MonitorCheckpoint = z.output<typeof checkpointSchema>;

export interface MonitorState {
  format: 'tufchain-monitor-state/v1';
  chainId: number;
  contractAddress: string;
  checkpoints: MonitorCheckpoint[];
  lastAnchorSize?: number;
  emitted: string[];
  pendingKeyChecks: PendingKeyCheck[];
  recent: Alert[];
  undelivered: Alert[];
}

export function emptyState(chainId: number, contractAddress: string): MonitorState {
  return {
    format: 'tufchain-monitor-state/v1',
    chainId,
    contractAddress: contractAddress.toLowerCase(),
    checkpoints: [],
    emitted: [],
    pendingKeyChecks: [],
    recent: [],
    undelivered: [],
  };
}

/**
 * Where the monitor keeps its checkpoint and the alerts it raised: a JSON file for the standalone
 * `tufchain monitor` (createFileStateStore), the database for the one the daemon hosts
 * (db-state.ts), which every replica reads and the lease holder writes.
 */
export interface MonitorStateStore {
  /** The saved state, or undefined before the first save. */
  load(): Promise<MonitorState | undefined>;
  /**
   * Saves `state` in one atomic step: its checkpoint with `raised`, the alerts recorded since the
   * last save (already in `state.emitted` and `state.recent`), so that a crash can neither skip
   * them nor raise them twice. A database store throws MONITOR_STATE_CONFLICT when another
   * process saved since this one loaded (the lease moved): the caller must load again.
   */
  save(state: MonitorState, raised: readonly Alert[]): Promise<void>;
  /** The saved recent alerts, newest first (at most MAX_RECENT_ALERTS). */
  recentAlerts(): Promise<Alert[]>;
}

/**
 * A JSON file, replaced atomically (write a sibling, then rename), so a crash leaves either the
 * old state or the new one.
 */
export function createFileStateStore(path: string): MonitorStateStore {
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new ServerError('CONFIG_INVALID', `cannot read the monitor state ${path}`, {
          cause: error,
        });
      }
      let parsed;
      try {
        parsed = stateSchema.safeParse(JSON.parse(text));
      } catch (error) {
        throw new ServerError('CONFIG_INVALID', `the monitor state ${path} is not JSON`, {
          cause: error,
        });
      }
      if (!parsed.success) {
        throw new ServerError(
          'CONFIG_INVALID',
          `the monitor state ${path} is malformed: ${z.prettifyError(parsed.error)}`,
        );
      }
      return parsed.data as unknown as MonitorState;
    },
    async save(state) {
      await mkdir(dirname(path), { recursive: true });
      const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(tmp, JSON.stringify(state), { mode: 0o600 });
      await rename(tmp, path);
    },
    async recentAlerts() {
      return [...((await this.load())?.recent ?? [])].reverse();
    },
  };
}

/** Appends the block read up to, keeping the last MAX_CHECKPOINTS. */
export function pushCheckpoint(state: MonitorState, checkpoint: MonitorCheckpoint): void {
  const last = state.checkpoints.at(-1);
  if (last?.blockNumber === checkpoint.blockNumber && last.blockHash === checkpoint.blockHash)
    return;
  state.checkpoints.push(checkpoint);
  if (state.checkpoints.length > MAX_CHECKPOINTS) state.checkpoints.shift();
}
