import type { TargetFile } from '@tufjs/models';
import { deltaTargetPath } from '@tufchain/transparency/delta';
import type { DeltaPlan } from '../install/delta-install.js';
import type { SlotImage, SlotName } from '../slots/slot-store.js';
import type { FirmwareTarget } from './updater.js';

/** What picking a delta needs of the TUF repository (TufRepository). */
export interface DeltaLookup {
  getTarget(path: string): Promise<TargetFile>;
  targetUrl(target: TargetFile): string;
}

export type DeltaChoice = { plan: DeltaPlan } | { plan?: undefined; reason: string };

/**
 * The delta to `target` from the image the active slot holds, when TUF lists one, found one of
 * two ways: the firmware target's `custom.deltas` links it by base sha256 (an image the server
 * signs), or, when the image lists no deltas (an image a supplier or an offline key signed), the
 * server's online bins list it under the path named by the two digests (deltaTargetPath). Either
 * way the delta's own TUF target (length, hashes, `custom`) must name this image as its target and
 * the installed image as its base, and be smaller than the image. Anything else is no delta (the
 * reason says why): the full image is installed, so a missing or odd delta never stops an update.
 * A delta is only transport: the rebuilt slot is checked against the image's own TUF length and
 * hashes, from the role that signed the image, so a delta listed by a compromised online key can
 * at worst fail and cost its length before the full image comes.
 */
export async function chooseDelta(
  repo: DeltaLookup,
  target: FirmwareTarget,
  installed: SlotImage | null,
  activeSlot: SlotName,
): Promise<DeltaChoice> {
  if (!installed) return { reason: 'the active slot records no image' };
  const links = target.file.custom['deltas'];
  let path: string;
  let byDigest = false;
  if (Array.isArray(links)) {
    const link = (links as unknown[]).find(
      (l) => (l as { baseSha256?: unknown } | null)?.baseSha256 === installed.sha256,
    ) as { target?: unknown } | undefined;
    if (typeof link?.target !== 'string') {
      return { reason: `no delta from the installed image ${installed.version}` };
    }
    path = link.target;
  } else {
    path = deltaTargetPath(target.sha256, installed.sha256);
    byDigest = true;
  }
  let file: TargetFile;
  try {
    file = await repo.getTarget(path);
  } catch (err) {
    return byDigest
      ? { reason: `no delta from the installed image ${installed.version}` }
      : { reason: `delta target ${path}: ${(err as Error).message}` };
  }
  const custom = file.custom;
  const base = custom['base'] as { sha256?: unknown; length?: unknown } | undefined;
  const sha256 = file.hashes['sha256'];
  if (
    custom['kind'] !== 'delta' ||
    (!byDigest && custom['target'] !== target.name) ||
    custom['targetSha256'] !== target.sha256 ||
    base?.sha256 !== installed.sha256 ||
    base.length !== installed.length ||
    typeof sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(sha256)
  ) {
    return {
      reason: `delta target ${path} is not from the installed image to ${target.name}`,
    };
  }
  if (file.length >= target.length) {
    return { reason: `delta target ${path} is no smaller than the image` };
  }
  return {
    plan: {
      url: repo.targetUrl(file),
      length: file.length,
      sha256,
      baseSlot: activeSlot,
      base: { length: installed.length, sha256: installed.sha256 },
    },
  };
}
