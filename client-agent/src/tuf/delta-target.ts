import type { TargetFile } from '@tufjs/models';
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
 * The delta to `target` from the image the active slot holds, when TUF lists one: the firmware
 * target's `custom.deltas` links it by base sha256, and the delta's own TUF target (length,
 * hashes, `custom`) must name this image as its target and the installed image as its base.
 * Anything else is no delta (the reason says why): the full image is installed, so a missing or
 * odd delta never stops an update.
 */
export async function chooseDelta(
  repo: DeltaLookup,
  target: FirmwareTarget,
  installed: SlotImage | null,
  activeSlot: SlotName,
): Promise<DeltaChoice> {
  if (!installed) return { reason: 'the active slot records no image' };
  const links = target.file.custom['deltas'];
  if (!Array.isArray(links)) return { reason: 'the release lists no deltas' };
  const link = (links as unknown[]).find(
    (l) => (l as { baseSha256?: unknown } | null)?.baseSha256 === installed.sha256,
  ) as { target?: unknown } | undefined;
  if (typeof link?.target !== 'string') {
    return { reason: `no delta from the installed image ${installed.version}` };
  }
  let file: TargetFile;
  try {
    file = await repo.getTarget(link.target);
  } catch (err) {
    return { reason: `delta target ${link.target}: ${(err as Error).message}` };
  }
  const custom = file.custom;
  const base = custom['base'] as { sha256?: unknown; length?: unknown } | undefined;
  const sha256 = file.hashes['sha256'];
  if (
    custom['kind'] !== 'delta' ||
    custom['target'] !== target.name ||
    custom['targetSha256'] !== target.sha256 ||
    base?.sha256 !== installed.sha256 ||
    base.length !== installed.length ||
    typeof sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(sha256)
  ) {
    return {
      reason: `delta target ${link.target} is not from the installed image to ${target.name}`,
    };
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
