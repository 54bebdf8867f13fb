// The contract with the vehicle: root metadata made by the ceremony, and metadata signed through the
// Signer seam, must be accepted by a stock tuf-js client fetching over real HTTP on loopback.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { Metadata, MetaFile, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';
import { Updater } from 'tuf-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createKeySigner,
  finalizeRootCeremony,
  generateKeyPair,
  initRootCeremony,
  rotateRootCeremony,
  signMetadata,
  signRootCeremony,
  type KeyType,
  type RootCeremony,
  type Signer,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const DAY = 86_400_000;
const expires = (days: number) =>
  new Date(Date.now() + days * DAY).toISOString().replace(/\.\d{3}Z$/, 'Z');
const signer = (type: KeyType) => createKeySigner(generateKeyPair(type).privateKey);
const [alice, bob, carol, dave] = [
  signer('ed25519'),
  signer('ecdsa-p256'),
  signer('ed25519'),
  signer('ecdsa-p256'),
];
const online = {
  targets: signer('ecdsa-p256'),
  snapshot: signer('ed25519'),
  timestamp: signer('ecdsa-p256'),
};
const image = Buffer.from('ECU gateway firmware 2.0.0');

async function signAll(ceremony: RootCeremony, by: Signer[]): Promise<RootCeremony> {
  let current = ceremony;
  for (const s of by) current = await signRootCeremony(current, s);
  return current;
}

let dir: string;
let cleanup: () => void;
let server: Server;
let baseUrl: string;

async function publishRepository(roots: RootCeremony['root'][]): Promise<void> {
  const metadataDir = join(dir, 'repo', 'metadata');
  const targetsDir = join(dir, 'repo', 'targets');
  mkdirSync(metadataDir, { recursive: true });
  mkdirSync(targetsDir, { recursive: true });
  for (const root of roots) {
    writeFileSync(
      join(metadataDir, `${(root.signed as { version: number }).version}.root.json`),
      JSON.stringify(root),
    );
  }
  const sha256 = createHash('sha256').update(image).digest('hex');
  const sha512 = createHash('sha512').update(image).digest('hex');
  writeFileSync(join(targetsDir, `${sha256}.gateway.bin`), image);
  const targetFile = new TargetFile({
    path: 'gateway.bin',
    length: image.length,
    hashes: { sha256, sha512 },
  });
  const targets = new Metadata(
    new Targets({
      version: 1,
      specVersion: '1.0.31',
      expires: expires(30),
      targets: { 'gateway.bin': targetFile },
    }),
  );
  await signMetadata(targets, online.targets);
  const targetsBytes = Buffer.from(JSON.stringify(targets.toJSON()));
  writeFileSync(join(metadataDir, '1.targets.json'), targetsBytes);
  const snapshot = new Metadata(
    new Snapshot({
      version: 1,
      specVersion: '1.0.31',
      expires: expires(7),
      meta: { 'targets.json': new MetaFile({ version: 1 }) },
    }),
  );
  await signMetadata(snapshot, online.snapshot);
  const snapshotBytes = Buffer.from(JSON.stringify(snapshot.toJSON()));
  writeFileSync(join(metadataDir, '1.snapshot.json'), snapshotBytes);
  const timestamp = new Metadata(
    new Timestamp({
      version: 1,
      specVersion: '1.0.31',
      expires: expires(1),
      snapshotMeta: new MetaFile({
        version: 1,
        length: snapshotBytes.length,
        hashes: { sha256: createHash('sha256').update(snapshotBytes).digest('hex') },
      }),
    }),
  );
  await signMetadata(timestamp, online.timestamp);
  writeFileSync(join(metadataDir, 'timestamp.json'), JSON.stringify(timestamp.toJSON()));
}

function rootOptions(holders: Signer[], threshold: number) {
  return {
    root: { keys: holders.map((h) => h.publicKey), threshold },
    targets: { keys: [online.targets.publicKey], threshold: 1 },
    snapshot: { keys: [online.snapshot.publicKey], threshold: 1 },
    timestamp: { keys: [online.timestamp.publicKey], threshold: 1 },
    expires: new Date(Date.now() + 365 * DAY),
  };
}

async function runClient(trustedRoot: RootCeremony['root']) {
  const metadataDir = join(dir, 'client', 'metadata');
  const targetDir = join(dir, 'client', 'targets');
  mkdirSync(metadataDir, { recursive: true });
  mkdirSync(targetDir, { recursive: true });
  writeFileSync(join(metadataDir, 'root.json'), JSON.stringify(trustedRoot));
  const updater = new Updater({
    metadataDir,
    targetDir,
    metadataBaseUrl: `${baseUrl}/metadata`,
    targetBaseUrl: `${baseUrl}/targets`,
  });
  await updater.refresh();
  const info = await updater.getTargetInfo('gateway.bin');
  if (!info) throw new Error('no target');
  const path = await updater.downloadTarget(info, join(targetDir, 'gateway.bin'));
  const trusted = JSON.parse(readFileSync(join(metadataDir, 'root.json'), 'utf8')) as {
    signed: { version: number };
  };
  return { image: readFileSync(path), rootVersion: trusted.signed.version };
}

beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    try {
      res.end(readFileSync(join(dir, 'repo', path)));
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  await new Promise((resolve) => server.close(resolve));
  cleanup();
});

describe('a stock tuf-js client', () => {
  it('accepts a ceremony root, then a rotated root signed by both thresholds, and downloads the target', async () => {
    const v1 = finalizeRootCeremony(
      await signAll(initRootCeremony(rootOptions([alice, bob, carol], 2)), [alice, carol]),
    );
    const rotation = rotateRootCeremony(v1, {
      root: { keys: [bob, carol, dave].map((s) => s.publicKey), threshold: 2 },
      expires: new Date(Date.now() + 400 * DAY),
    });
    const v2 = finalizeRootCeremony(await signAll(rotation, [alice, bob, dave]));
    await publishRepository([v1, v2]);
    const result = await runClient(v1);
    expect(result.rootVersion).toBe(2);
    expect(result.image.equals(image)).toBe(true);
  });

  it('refuses a rotated root that only the new holders signed, as finalizeRootCeremony does', async () => {
    const v1 = finalizeRootCeremony(
      await signAll(initRootCeremony(rootOptions([alice, bob, carol], 2)), [alice, bob]),
    );
    const rotation = rotateRootCeremony(v1, {
      root: { keys: [dave].map((s) => s.publicKey), threshold: 1 },
      expires: new Date(Date.now() + 400 * DAY),
    });
    const partial = await signAll(rotation, [dave]);
    expect(() => finalizeRootCeremony(partial)).toThrow(
      expect.objectContaining({ code: 'THRESHOLD_NOT_MET' }),
    );
    await publishRepository([v1, partial.root]);
    await expect(runClient(v1)).rejects.toThrow(/root was signed by 0\/2 keys/);
  });
});
