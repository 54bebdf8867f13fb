import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { finished } from 'node:stream/promises';
import { Metadata, MetadataKind } from '@tufjs/models';
import { createHash } from 'node:crypto';
import { deltaTargetPath } from '../delta/target-path.js';
import { TransparencyError } from '../error.js';
import { END_OF_ARCHIVE, padding, readTarIndex, ustarHeader, type TarEntry } from './tar.js';

/**
 * Offline update bundle (the wire format shared by the OEM's dealer tool and the vehicle agent):
 * one POSIX tar file holding the TUF metadata (every root version, the timestamp, snapshot and
 * targets, and the delegated roles on the path to the image and its attestation: the bins or the
 * supplier's role), the firmware image and its Sigstore bundle under their repository paths, and
 * (when built with a chain reader) the release's confirmed on-chain entry as
 * `/transparency/release.json`. The first member, `manifest.json`, maps repository paths
 * (`/metadata/...`, `/targets/...`, `/transparency/release.json`, nothing else) to member names.
 * Nothing in a bundle is trusted for being there: the vehicle checks the metadata with tuf-js from
 * its own root, the release record against that metadata and its own last chain sync.
 */
export const OFFLINE_BUNDLE_FORMAT = 'tufchain-offline-bundle/v1';

export interface OfflineBundleManifest {
  format: typeof OFFLINE_BUNDLE_FORMAT;
  createdAt: string;
  hardwareId: string;
  /** The firmware target; the bundle answers the agent's discovery hint with it. */
  target: string;
  files: Record<string, string>;
  /**
   * Set when the bundle carries the delta from one base image and not the full image
   * (`deltaOnly`): only a vehicle whose active slot holds that base can install it. Informative:
   * the vehicle decides from the metadata tuf-js trusts, and refuses any other vehicle with
   * BUNDLE_BASE_MISMATCH before it writes anything.
   */
  deltaOnly?: { delta: string; baseVersion: string; baseSha256: string };
}

/** Repository paths a bundle may carry: metadata, targets, and the release's chain entry. */
const BUNDLE_PATH =
  /^\/(?:metadata\/[A-Za-z0-9._%~-]+\.json|targets\/[A-Za-z0-9._+%~/-]+|transparency\/release\.json)$/;
/** The release record (`/transparency/release.json`): one chain entry, a few KiB. */
export const RELEASE_RECORD_MAX_BYTES = 64 * 1024;
/** Largest metadata file the dealer tool reads (the agent's own `targetsMaxLength`). */
const METADATA_MAX_BYTES = 5_000_000;
/** Largest discovery hint and attestation bundle the dealer tool reads. */
const HINT_MAX_BYTES = 4096;
const ATTESTATION_MAX_BYTES = 1_000_000;
/** The longest one metadata file, hint or attestation may take to arrive. */
const FETCH_DEADLINE_MS = 120_000;

function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

/** GETs a small file whole, never past `maxBytes` (ENDLESS_DATA) nor FETCH_DEADLINE_MS. */
async function fetchBytes(url: string, maxBytes: number): Promise<Buffer | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_DEADLINE_MS) });
  if (res.status === 404 || res.status === 403) {
    await res.body?.cancel();
    return undefined;
  }
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel();
    throw new TransparencyError('DOWNLOAD_HTTP', `GET ${url} answered ${res.status}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
    if (done || !value) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel();
      throw new TransparencyError('ENDLESS_DATA', `GET ${url} sent more than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

const sha256Hex0x = (bytes: Uint8Array): string =>
  `0x${createHash('sha256').update(bytes).digest('hex')}`;

async function writeChunk(out: WriteStream, chunk: Uint8Array): Promise<void> {
  if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
}

function hashedPath(name: string, sha256: string): string {
  const slash = name.lastIndexOf('/');
  return `/targets/${name.slice(0, slash + 1)}${sha256}.${name.slice(slash + 1)}`;
}

/**
 * Builds an offline bundle for `hardwareId` from a server's public routes (a dealer tool). It
 * verifies nothing itself: the vehicle runs every check when it installs the bundle.
 */
export async function createOfflineBundle(opts: {
  serverUrl: string;
  hardwareId: string;
  outPath: string;
  /** When given, the confirmed on-chain entry of the snapshot goes in as /transparency/release.json. */
  chain?: { findRelease(metadataHash: string): Promise<unknown> };
  /** Called as the image streams into the bundle (bytes so far, total). */
  onProgress?: (done: number, total: number) => void;
  /**
   * Also carry the delta TUF lists from this base version to the image (NO_DELTA_FOR_BASE when
   * there is none). The full image stays in the bundle: a vehicle on another version, or whose
   * delta fails, installs that instead.
   */
  deltaFrom?: string;
  /**
   * With `deltaFrom`: leave the full image out (a smaller bundle for USB or workshop transfer).
   * Only a vehicle on that base can install it, and it has nothing to fall back to.
   */
  deltaOnly?: boolean;
}): Promise<{
  target: string;
  bytes: number;
  delta?: { target: string; length: number; baseVersion: string; baseSha256: string };
  /** Whether the full image is in the bundle (not with `deltaOnly`). */
  fullImage: boolean;
}> {
  if (opts.deltaOnly && opts.deltaFrom === undefined) {
    throw new TransparencyError('BUNDLE_INVALID', 'a delta-only bundle needs the base version');
  }
  const get = (path: string, maxBytes = METADATA_MAX_BYTES) =>
    fetchBytes(joinUrl(opts.serverUrl, path), maxBytes);
  const files = new Map<string, Buffer>();
  for (let v = 1; v < 10_000; v++) {
    const root = await get(`/metadata/${v}.root.json`);
    if (!root) break;
    files.set(`/metadata/${v}.root.json`, root);
  }
  if (files.size === 0)
    throw new TransparencyError('BUNDLE_INVALID', 'the server has no root metadata');
  const timestamp = await get('/metadata/timestamp.json');
  if (!timestamp) throw new TransparencyError('BUNDLE_INVALID', 'the server has no timestamp');
  files.set('/metadata/timestamp.json', timestamp);
  const parse = (b: Buffer) =>
    JSON.parse(b.toString('utf8')) as { signed: Record<string, unknown> };
  const snapshotVersion = (parse(timestamp).signed['meta'] as Record<string, { version: number }>)[
    'snapshot.json'
  ]?.version;
  const snapshot = await get(`/metadata/${snapshotVersion}.snapshot.json`);
  if (!snapshot) throw new TransparencyError('BUNDLE_INVALID', 'the server has no snapshot');
  files.set(`/metadata/${snapshotVersion}.snapshot.json`, snapshot);
  const targetsVersion = (parse(snapshot).signed['meta'] as Record<string, { version: number }>)[
    'targets.json'
  ]?.version;
  const targets = await get(`/metadata/${targetsVersion}.targets.json`);
  if (!targets) throw new TransparencyError('BUNDLE_INVALID', 'the server has no targets');
  files.set(`/metadata/${targetsVersion}.targets.json`, targets);
  if (opts.chain) {
    const logged = await opts.chain.findRelease(sha256Hex0x(snapshot));
    files.set('/transparency/release.json', Buffer.from(JSON.stringify(logged, null, 2)));
  }
  const roleVersions = parse(snapshot).signed['meta'] as Record<string, { version: number }>;
  /** The delegated role files a TUF client walks to find `path`, added to the bundle. */
  const resolve = async (path: string): Promise<T | undefined> => {
    let md = Metadata.fromJSON(MetadataKind.Targets, parse(targets) as never);
    for (let depth = 0; depth < 8; depth++) {
      const found = md.signed.targets[path];
      if (found) return found.toJSON() as T;
      const next = md.signed.delegations?.rolesForTarget(path).next();
      if (!next || next.done) return undefined;
      const version = roleVersions[`${next.value.role}.json`]?.version;
      const repoPath = `/metadata/${version}.${next.value.role}.json`;
      const bytes = files.get(repoPath) ?? (version ? await get(repoPath) : undefined);
      if (!bytes) throw new TransparencyError('BUNDLE_INVALID', `the server has no ${repoPath}`);
      files.set(repoPath, bytes);
      md = Metadata.fromJSON(MetadataKind.Targets, parse(bytes) as never);
    }
    return undefined;
  };

  type T = { length: number; hashes: Record<string, string>; custom?: Record<string, unknown> };
  const all = parse(targets).signed['targets'] as Record<string, T>;
  let best: [string, T] | undefined;
  const consider = (name: string, t: T): void => {
    const c = t.custom ?? {};
    if (c['kind'] !== 'firmware' || !Array.isArray(c['hardwareIds'])) return;
    if (!(c['hardwareIds'] as unknown[]).includes(opts.hardwareId)) return;
    if (!best || Number(c['releaseCounter']) > Number(best[1].custom?.['releaseCounter']))
      best = [name, t];
  };
  for (const [name, t] of Object.entries(all)) consider(name, t);
  const hint = await get(
    `/api/v1/hardware/${encodeURIComponent(opts.hardwareId)}/latest`,
    HINT_MAX_BYTES,
  );
  if (hint) {
    const name = (JSON.parse(hint.toString('utf8')) as { name?: unknown }).name;
    const found = typeof name === 'string' ? await resolve(name) : undefined;
    if (typeof name === 'string' && found) consider(name, found);
  }
  if (!best)
    throw new TransparencyError('NO_TARGET_FOR_HARDWARE', `no firmware for ${opts.hardwareId}`);
  const [targetName, target] = best;
  const attestationRef = target.custom?.['attestation'];
  const attestationName = typeof attestationRef === 'string' ? attestationRef : '';
  const attestation = await resolve(attestationName);
  if (!attestation)
    throw new TransparencyError('ATTESTATION_MISSING', `no target ${attestationName}`);
  const attestationPath = hashedPath(attestationName, attestation.hashes['sha256'] ?? '');
  const attestationBytes = await get(attestationPath, ATTESTATION_MAX_BYTES);
  if (!attestationBytes)
    throw new TransparencyError('ATTESTATION_MISSING', `${attestationPath} is missing`);
  files.set(attestationPath, attestationBytes);
  const delta =
    opts.deltaFrom === undefined
      ? undefined
      : await addDelta(
          { name: targetName, sha256: target.hashes['sha256'] ?? '', custom: target.custom },
          opts.deltaFrom,
          resolve,
          get,
          files,
        );
  const imagePath = hashedPath(targetName, target.hashes['sha256'] ?? '');
  const fullImage = !(opts.deltaOnly && delta);

  const manifest: OfflineBundleManifest = {
    format: OFFLINE_BUNDLE_FORMAT,
    createdAt: new Date().toISOString(),
    hardwareId: opts.hardwareId,
    target: targetName,
    files: {},
    ...(fullImage || !delta
      ? {}
      : {
          deltaOnly: {
            delta: delta.target,
            baseVersion: delta.baseVersion,
            baseSha256: delta.baseSha256,
          },
        }),
  };
  const names = fullImage ? [...files.keys(), imagePath] : [...files.keys()];
  names.forEach((path, i) => (manifest.files[path] = `f${String(i).padStart(5, '0')}`));

  const out = createWriteStream(opts.outPath, { mode: 0o644 });
  const done = finished(out);
  let bytes = 0;
  const add = async (name: string, data: Buffer) => {
    await writeChunk(out, ustarHeader(name, data.length));
    await writeChunk(out, data);
    await writeChunk(out, padding(data.length));
    bytes += data.length;
  };
  await add('manifest.json', Buffer.from(JSON.stringify(manifest, null, 2)));
  for (const [path, data] of files) await add(manifest.files[path] ?? '', data);
  if (!fullImage) {
    await writeChunk(out, END_OF_ARCHIVE);
    out.end();
    await done;
    return { target: targetName, bytes, ...(delta ? { delta } : {}), fullImage };
  }
  // The image streams straight into the bundle; its size is the length TUF promises.
  const res = await fetch(joinUrl(opts.serverUrl, imagePath));
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel();
    throw new TransparencyError('DOWNLOAD_HTTP', `GET ${imagePath} answered ${res.status}`);
  }
  await writeChunk(out, ustarHeader(manifest.files[imagePath] ?? '', target.length));
  let got = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
    if (done || !value) break;
    if (got + value.length > target.length) {
      await reader.cancel();
      throw new TransparencyError('ENDLESS_DATA', 'the server sent more than the target length');
    }
    got += value.length;
    await writeChunk(out, value);
    opts.onProgress?.(got, target.length);
  }
  if (got !== target.length)
    throw new TransparencyError('LENGTH_MISMATCH', 'the image ended early');
  await writeChunk(out, padding(got));
  await writeChunk(out, END_OF_ARCHIVE);
  out.end();
  await done;
  return { target: targetName, bytes: bytes + got, ...(delta ? { delta } : {}), fullImage };
}

type BundleTarget = {
  length: number;
  hashes: Record<string, string>;
  custom?: Record<string, unknown>;
};

/**
 * Adds the delta from the release `baseVersion` to the image, and the role files that list it:
 * the one the image's `custom.deltas` links (an image the server signs), else the one the
 * server's online bins list by the two digests (deltaTargetPath; an image a supplier or an
 * offline key signs), the base found among the firmware of the metadata already fetched.
 */
async function addDelta(
  image: { name: string; sha256: string; custom: Record<string, unknown> | undefined },
  baseVersion: string,
  resolve: (path: string) => Promise<BundleTarget | undefined>,
  get: (path: string, maxBytes?: number) => Promise<Buffer | undefined>,
  files: Map<string, Buffer>,
): Promise<{ target: string; length: number; baseVersion: string; baseSha256: string }> {
  const links = Array.isArray(image.custom?.['deltas'])
    ? (image.custom['deltas'] as unknown[])
    : undefined;
  let name: string | undefined;
  if (links) {
    name = links
      .map((l) => l as { target?: unknown; baseVersion?: unknown } | null)
      .find((l) => l?.baseVersion === baseVersion && typeof l.target === 'string')?.target as
      string | undefined;
  } else {
    const base = firmwareOfVersion(files, baseVersion, image.custom?.['hardwareIds']);
    if (base) name = deltaTargetPath(image.sha256, base);
  }
  const delta = name === undefined ? undefined : await resolve(name);
  const deltaBase = delta?.custom?.['base'] as { sha256?: unknown } | undefined;
  if (
    name === undefined ||
    !delta ||
    delta.custom?.['kind'] !== 'delta' ||
    delta.custom['targetSha256'] !== image.sha256 ||
    typeof deltaBase?.sha256 !== 'string'
  ) {
    throw new TransparencyError(
      'NO_DELTA_FOR_BASE',
      `${image.name} lists no delta from ${baseVersion}`,
    );
  }
  const path = hashedPath(name, delta.hashes['sha256'] ?? '');
  // In memory: a delta is at most 90% of its image, and usually a few percent (server deltas.ts).
  const bytes = await get(path, delta.length);
  if (!bytes) throw new TransparencyError('DOWNLOAD_HTTP', `${path} is missing`);
  if (bytes.length !== delta.length)
    throw new TransparencyError('LENGTH_MISMATCH', `${path} is not its TUF length`);
  files.set(path, bytes);
  return { target: name, length: delta.length, baseVersion, baseSha256: deltaBase.sha256 };
}

/** The sha256 of a firmware target of `version` for one of `hardwareIds` in the metadata fetched. */
function firmwareOfVersion(
  files: ReadonlyMap<string, Buffer>,
  version: string,
  hardwareIds: unknown,
): string | undefined {
  const ids = Array.isArray(hardwareIds) ? (hardwareIds as unknown[]) : [];
  for (const [path, bytes] of files) {
    if (!/^\/metadata\/\d+\.(?!root|snapshot|timestamp)[^/]+\.json$/.test(path)) continue;
    const md = JSON.parse(bytes.toString('utf8')) as {
      signed?: { targets?: Record<string, BundleTarget> };
    };
    for (const t of Object.values(md.signed?.targets ?? {})) {
      const c = t.custom ?? {};
      const sha256 = t.hashes['sha256'];
      if (c['kind'] !== 'firmware' || c['version'] !== version || sha256 === undefined) continue;
      if (Array.isArray(c['hardwareIds']) && c['hardwareIds'].some((h) => ids.includes(h)))
        return sha256;
    }
  }
  return undefined;
}

/** BUNDLE_INVALID unless `m` is a v1 manifest: strings where strings belong, repository paths only. */
function checkManifest(m: OfflineBundleManifest): void {
  const isString = (x: unknown): x is string => typeof x === 'string' && x.length > 0;
  if (
    m === null ||
    typeof m !== 'object' ||
    m.format !== OFFLINE_BUNDLE_FORMAT ||
    !isString(m.hardwareId) ||
    !isString(m.target) ||
    typeof m.files !== 'object' ||
    m.files === null
  ) {
    throw new TransparencyError('BUNDLE_INVALID', 'unknown bundle format');
  }
  const only = m.deltaOnly as Record<string, unknown> | undefined;
  if (
    only !== undefined &&
    (only === null ||
      typeof only !== 'object' ||
      !isString(only['delta']) ||
      typeof only['baseVersion'] !== 'string' ||
      typeof only['baseSha256'] !== 'string' ||
      !/^[0-9a-f]{64}$/.test(only['baseSha256']))
  ) {
    throw new TransparencyError('BUNDLE_INVALID', 'the manifest’s deltaOnly is malformed');
  }
  for (const [repoPath, member] of Object.entries(m.files as Record<string, unknown>)) {
    if (!BUNDLE_PATH.test(repoPath) || repoPath.split('/').includes('..') || !isString(member)) {
      throw new TransparencyError('BUNDLE_INVALID', `the manifest names ${repoPath}`);
    }
  }
}

/** An opened bundle: its manifest and where each repository path lies in the file. */
export class OfflineBundle {
  readonly path: string;
  readonly manifest: OfflineBundleManifest;
  readonly #entries: Map<string, TarEntry>;

  private constructor(
    path: string,
    manifest: OfflineBundleManifest,
    entries: Map<string, TarEntry>,
  ) {
    this.path = path;
    this.manifest = manifest;
    this.#entries = entries;
  }

  static async open(path: string): Promise<OfflineBundle> {
    const index = await readTarIndex(path);
    const first = index[0];
    if (first?.name !== 'manifest.json' || first.size > 1_000_000) {
      throw new TransparencyError('BUNDLE_INVALID', 'the bundle does not start with its manifest');
    }
    const head = Buffer.alloc(first.size);
    const fh = await open(path, 'r');
    try {
      await fh.read(head, 0, first.size, first.offset);
    } finally {
      await fh.close();
    }
    let manifest: OfflineBundleManifest;
    try {
      manifest = JSON.parse(head.toString('utf8')) as OfflineBundleManifest;
    } catch (err) {
      throw new TransparencyError('BUNDLE_INVALID', 'the bundle manifest is not JSON', {
        cause: err,
      });
    }
    checkManifest(manifest);
    const byName = new Map(index.map((e) => [e.name, e]));
    const entries = new Map<string, TarEntry>();
    for (const [repoPath, member] of Object.entries(manifest.files)) {
      const e = byName.get(member);
      if (!e) throw new TransparencyError('BUNDLE_INVALID', `member ${member} is missing`);
      entries.set(repoPath, e);
    }
    return new OfflineBundle(path, manifest, entries);
  }

  entry(repoPath: string): TarEntry | undefined {
    return this.#entries.get(repoPath);
  }

  /**
   * The bytes of the member at `repoPath`, or undefined when the bundle has none. Throws
   * BUNDLE_INVALID when it is larger than `maxBytes`.
   */
  async read(repoPath: string, maxBytes: number): Promise<Buffer | undefined> {
    const e = this.entry(repoPath);
    if (!e) return undefined;
    if (e.size > maxBytes) {
      throw new TransparencyError('BUNDLE_INVALID', `${repoPath} is larger than ${maxBytes} bytes`);
    }
    const bytes = Buffer.alloc(e.size);
    const fh = await open(this.path, 'r');
    try {
      await fh.read(bytes, 0, e.size, e.offset);
    } finally {
      await fh.close();
    }
    return bytes;
  }

  /**
   * Serves the bundle as a read-only repository on 127.0.0.1 (with Range support), so that a
   * TUF client (the vehicle agent) runs exactly its online code path — tuf-js, the single-pass install — against it.
   */
  async serve(): Promise<{ url: string; close(): Promise<void> }> {
    const hintPath = `/api/v1/hardware/${encodeURIComponent(this.manifest.hardwareId)}/latest`;
    const server: Server = createServer((req, res) => {
      const url = (req.url ?? '').split('?')[0] ?? '';
      if (url === hintPath && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ name: this.manifest.target }));
      }
      const e = this.entry(url);
      if (!e || req.method !== 'GET') return void res.writeHead(404).end();
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      if (start > e.size) return void res.writeHead(416).end();
      res.writeHead(m ? 206 : 200, {
        'content-length': e.size - start,
        ...(m ? { 'content-range': `bytes ${start}-${e.size - 1}/${e.size}` } : {}),
      });
      if (e.size === start) return void res.end();
      createReadStream(this.path, { start: e.offset + start, end: e.offset + e.size - 1 }).pipe(
        res,
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }
}
