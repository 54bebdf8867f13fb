import type { TrustedMetadata } from '../tuf/updater.js';
import { AgentError } from '../error.js';

/**
 * The reference time for expiry: the later of the local clock and the confirmed chain block time.
 * A confirmed block's time is a lower bound on the true time, so a vehicle whose clock was set
 * back (or a server that freezes metadata) cannot make expired metadata look fresh.
 */
export function referenceTime(localNow: Date, chainTimestampSeconds: number): Date {
  const chain = new Date(chainTimestampSeconds * 1000);
  return chain > localNow ? chain : localNow;
}

/** Throws METADATA_EXPIRED when any trusted top-level role has expired at `at`. */
export function assertMetadataFresh(meta: TrustedMetadata, at: Date): void {
  for (const [role, m] of [
    ['root', meta.root],
    ['timestamp', meta.timestamp],
    ['snapshot', meta.snapshot],
    ['targets', meta.targets],
  ] as const) {
    if (m.signed.isExpired(at)) {
      throw new AgentError(
        'METADATA_EXPIRED',
        `${role} metadata expired at ${m.signed.expires}, trusted time is ${at.toISOString()}`,
      );
    }
  }
}
