import type { LocatedTarget } from './core/repository-state.js';
import { deltaTargetsOf } from './deltas.js';

/** One delta a release's image lists, with both sizes: what a vehicle on `baseVersion` downloads. */
export interface ReleaseDelta {
  /** The image it rebuilds. */
  image: string;
  imageLength: number;
  /** The delta's own TUF target. */
  target: string;
  length: number;
  baseVersion: string;
  baseSha256: string;
}

/**
 * The deltas the current targets list for each of `imageNames` (none for an image revoked since,
 * or published with deltas off), read from the served metadata, so sizes are what vehicles see.
 */
export async function releaseDeltas(
  findTarget: (path: string) => Promise<LocatedTarget | undefined>,
  imageNames: string[],
  /** The delta targets the online bins list by digest for an image (a supplier's, offline-signed). */
  building?: (sha256: string) => Promise<string[]>,
): Promise<ReleaseDelta[]> {
  const out: ReleaseDelta[] = [];
  for (const image of imageNames) {
    const located = await findTarget(image);
    if (!located) continue;
    const targets = new Set(deltaTargetsOf(located.file.custom));
    const sha256 = located.file.hashes.sha256;
    if (building && sha256) for (const t of await building(sha256)) targets.add(t);
    for (const target of targets) {
      const delta = await findTarget(target);
      const base = delta?.file.custom['base'] as
        { version?: unknown; sha256?: unknown } | undefined;
      if (!delta || typeof base?.sha256 !== 'string') continue;
      out.push({
        image,
        imageLength: located.file.length,
        target,
        length: delta.file.length,
        baseVersion: typeof base.version === 'string' ? base.version : '',
        baseSha256: base.sha256,
      });
    }
  }
  return out;
}
