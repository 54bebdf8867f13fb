import pg from 'pg';
import type { MetadataCommitWatch } from './store.js';

/** The channel every commit of served metadata notifies (PostgresStore.commitMetadata). */
export const METADATA_CHANNEL = 'tufchain_metadata';
const RETRY_MS = [100, 500, 2_000, 5_000];

/**
 * LISTENs on METADATA_CHANNEL on a connection of its own and calls `onCommit` for every commit,
 * whichever replica made it. While the connection is down, `live()` is false (so caches keep
 * nothing current) and it reconnects with backoff; once back, it calls `onCommit` once for the
 * notifications it may have missed.
 */
export function watchMetadataCommits(
  config: pg.ClientConfig,
  onCommit: () => void,
): Promise<MetadataCommitWatch> {
  return watchChannel(config, METADATA_CHANNEL, () => onCommit());
}

/**
 * LISTENs on `channel` as watchMetadataCommits does; `onNotify` gets each notification's payload,
 * and undefined once after every (re)connection, for what may have been missed meanwhile.
 */
export async function watchChannel(
  config: pg.ClientConfig,
  channel: string,
  onNotify: (payload: string | undefined) => void,
): Promise<MetadataCommitWatch> {
  if (!/^[a-z_]+$/.test(channel)) throw new Error(`not a channel name: ${channel}`);
  let client: pg.Client | undefined;
  let live = false;
  let closed = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    const next = new pg.Client(config);
    const lost = (): void => {
      if (client !== next) return;
      live = false;
      client = undefined;
      next.removeAllListeners();
      // A dying connection may emit more than one error (the server's FATAL 57P01 at shutdown,
      // then the socket's); one without a listener would end the process.
      next.on('error', () => undefined);
      void next.end().catch(() => undefined);
      schedule();
    };
    next.on('error', lost);
    next.on('end', lost);
    next.on('notification', (n) => {
      if (n.channel === channel) onNotify(n.payload);
    });
    client = next;
    try {
      await next.connect();
      await next.query(`LISTEN ${channel}`);
    } catch (error) {
      if (client === next) lost();
      throw error;
    }
    if (closed) return;
    attempt = 0;
    live = true;
    onNotify(undefined);
  };
  const schedule = (): void => {
    if (closed || timer) return;
    const delay = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)] ?? 5_000;
    attempt += 1;
    timer = setTimeout(() => {
      timer = undefined;
      connect().catch(() => undefined);
    }, delay);
    timer.unref();
  };

  await connect();
  return {
    live: () => live,
    async close() {
      closed = true;
      live = false;
      if (timer) clearTimeout(timer);
      const last = client;
      client = undefined;
      last?.removeAllListeners();
      await last?.end().catch(() => undefined);
    },
  };
}
