import { TargetFile } from '@tufjs/models';
import { createDelta, DELTA_MEDIA_TYPE, deltaTargetPath } from '@tufchain/transparency/delta';
import { isValidTargetPath } from '../http/names.js';
import type { BlobRecord } from '../storage/store.js';
import type { RepositoryCore } from './core/repository-core.js';

/** An earlier firmware image a vehicle may run, as a delta's base. */
export interface DeltaBase {
  name: string;
  version: string;
  releaseCounter: number;
  sha256: string;
  length: number;
}

/** What the new image's `custom.deltas` lists, one per delta: the agent picks by `baseSha256`. */
export interface DeltaLink {
  target: string;
  baseSha256: string;
  baseVersion: string;
}

/** The delta targets an image's `custom.deltas` links to. */
export function deltaTargetsOf(custom: Record<string, unknown> | undefined): string[] {
  const links = custom?.['deltas'];
  if (!Array.isArray(links)) return [];
  return links
    .map((l) => (l as { target?: unknown } | null)?.target)
    .filter((t): t is string => typeof t === 'string');
}

/** A delta no smaller than this share of the full image is not offered: it would save little. */
const MAX_DELTA_SHARE = 0.9;

export const deltaTargetName = (name: string, baseSha256: string): string =>
  `${name}.from-${baseSha256.slice(0, 16)}.delta`;

/**
 * The newest `count` earlier images for any of `hardwareIds` (by release counter, below
 * `releaseCounter`, distinct bytes) in the current targets roles: the versions a fleet runs.
 */
export async function previousFirmware(
  core: RepositoryCore,
  hardwareIds: readonly string[],
  releaseCounter: number,
  count: number,
): Promise<DeltaBase[]> {
  const { state } = core;
  const found = new Map<string, DeltaBase>();
  for (const md of (await state.targetsRoles()).values()) {
    for (const [name, file] of Object.entries(md.signed.targets)) {
      const c = file.custom;
      const sha256 = file.hashes.sha256;
      if (c.kind !== 'firmware' || sha256 === undefined || !Array.isArray(c.hardwareIds)) continue;
      if (typeof c.releaseCounter !== 'number' || typeof c.version !== 'string') continue;
      if (c.releaseCounter >= releaseCounter) continue;
      if (!c.hardwareIds.some((h) => hardwareIds.includes(h as string))) continue;
      const seen = found.get(sha256);
      if (!seen || seen.releaseCounter < c.releaseCounter) {
        found.set(sha256, {
          name,
          version: c.version,
          releaseCounter: c.releaseCounter,
          sha256,
          length: file.length,
        });
      }
    }
  }
  return [...found.values()].sort((a, b) => b.releaseCounter - a.releaseCounter).slice(0, count);
}

/** An image a release adds, as delta generation needs it. */
export interface DeltaImage {
  name: string;
  hardwareIds: string[];
  releaseCounter: number;
  sha256: string;
}

/**
 * Makes the deltas from the previous `core.config.deltaBases` releases of the image's hardware IDs
 * to the new image, stores each as a blob and returns them as TUF targets (length, sha256,
 * sha512; `custom` names the base and the full image), to go into the same targets metadata,
 * snapshot and chain log entry as the image, with the links for the image's `custom.deltas`.
 */
export async function prepareDeltas(
  core: RepositoryCore,
  image: DeltaImage,
): Promise<{ files: TargetFile[]; links: DeltaLink[] }> {
  const files: TargetFile[] = [];
  const links: DeltaLink[] = [];
  await generateDeltas(
    core,
    image,
    (base) => deltaTargetName(image.name, base.sha256),
    (file, base) => {
      files.push(file);
      links.push({ target: file.path, baseSha256: base.sha256, baseVersion: base.version });
    },
  );
  return { files, links };
}

/**
 * The deltas to images the server does not sign (a supplier's role, top-level targets signed
 * offline), as targets for the server's own online role (the bins): named by the two digests
 * (deltaTargetPath), since the image's signed `custom` cannot link them. The vehicle still checks
 * the rebuilt slot against the image's hashes from the role that signed it, so such a delta can at
 * worst fail and fall back to the full image. `exists` says a path is already listed.
 */
export async function prepareOnlineDeltas(
  core: RepositoryCore,
  images: readonly DeltaImage[],
  exists: (path: string) => Promise<boolean>,
): Promise<TargetFile[]> {
  const files: TargetFile[] = [];
  for (const image of images) {
    await generateDeltas(
      core,
      image,
      (base) => deltaTargetPath(image.sha256, base.sha256),
      (file) => files.push(file),
      async (path) => files.some((f) => f.path === path) || (await exists(path)),
    );
  }
  return files;
}

async function generateDeltas(
  core: RepositoryCore,
  image: DeltaImage,
  pathFor: (base: DeltaBase) => string,
  add: (file: TargetFile, base: DeltaBase) => void,
  skip: (path: string) => Promise<boolean> = () => Promise.resolve(false),
): Promise<void> {
  const count = core.config.deltaBases;
  if (count <= 0) return;
  const bases = await previousFirmware(core, image.hardwareIds, image.releaseCounter, count);
  if (bases.length === 0) return;
  let target: Buffer | undefined;
  // Each delta's blob is written (two fsyncs) while the next one is computed.
  const stored: Promise<{
    blob: BlobRecord;
    base: DeltaBase;
    path: string;
    targetLength: number;
  }>[] = [];
  for (const base of bases) {
    const path = pathFor(base);
    if (base.sha256 === image.sha256 || !isValidTargetPath(path) || (await skip(path))) continue;
    const baseBytes = await core.blobs.read(base.sha256).catch(() => undefined);
    if (!baseBytes) continue; // an image whose blob is gone (pruned) gets no delta
    target ??= await core.blobs.read(image.sha256);
    const delta = createDelta(baseBytes, target);
    if (delta.length > target.length * MAX_DELTA_SHARE) continue;
    const targetLength = target.length;
    const storing = storeBlob(core, delta).then((blob) => ({ blob, base, path, targetLength }));
    // Its failure is thrown below (allInOrder), not left unhandled while the loop awaits reads.
    storing.catch(() => undefined);
    stored.push(storing);
  }
  for (const { blob, base, path, targetLength } of await allInOrder(stored)) {
    add(
      new TargetFile({
        path,
        length: blob.length,
        hashes: { sha256: blob.sha256, sha512: blob.sha512 },
        unrecognizedFields: {
          custom: {
            kind: 'delta',
            format: DELTA_MEDIA_TYPE,
            target: image.name,
            targetSha256: image.sha256,
            targetLength,
            base: { ...base },
          },
        },
      }),
      base,
    );
  }
}

/** Writes `bytes` as a blob and records it: durable before any metadata names it. */
export async function storeBlob(core: RepositoryCore, bytes: Uint8Array): Promise<BlobRecord> {
  const blob = await core.blobs.writeBytes(bytes);
  await core.store.recordBlob(blob);
  return blob;
}

/** Every result in order once all have settled (none left running), or the first failure in order. */
export async function allInOrder<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * Every delta target the served metadata lists, by path and role, under the sha256 of the image
 * it rebuilds: those linked from an image and those the online bins list by digest. Reads every
 * targets role once (as previousFirmware does), so a whole release (its answer, a revocation)
 * asks once: asking per image took a 1,000-image release's answer 15-20 s (bench:server).
 */
export async function deltaTargetsIndex(
  core: RepositoryCore,
): Promise<Map<string, { path: string; role: string }[]>> {
  const out = new Map<string, { path: string; role: string }[]>();
  for (const [role, md] of await core.state.targetsRoles()) {
    for (const [path, file] of Object.entries(md.signed.targets)) {
      const c = file.custom;
      if (c.kind !== 'delta' || typeof c.targetSha256 !== 'string') continue;
      const list = out.get(c.targetSha256) ?? [];
      list.push({ path, role });
      out.set(c.targetSha256, list);
    }
  }
  return out;
}
