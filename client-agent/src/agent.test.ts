import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { verifyStatementBundle } from '@tufchain/keys';
import { parseInstallPredicate } from '@tufchain/transparency';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Fixture,
  HARDWARE_ID,
  MemoryReleaseLog,
  SUPPLIER_ROLE,
  type Release,
} from '../test/helpers/fixture.js';
import { serveHuge, serveTrickle } from '../test/helpers/hostile.js';
import { serveBytes } from '../test/helpers/tuf-repo.js';
import { runUpdate } from './agent.js';
import type { Config } from './config.js';

describe('runUpdate (with an in-memory chain log)', () => {
  let f: Fixture;
  let chain: MemoryReleaseLog;

  beforeEach(async () => {
    f = await Fixture.create();
    chain = new MemoryReleaseLog();
  });
  afterEach(async () => {
    await f.cleanup();
  });

  describe('when a logged release is available', () => {
    it('installs it into slot B, commits, and signs an install report', async () => {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      chain.log(rel.entry);
      const result = await runUpdate(f.options(chain));
      expect(result.status).toBe('UPDATED');
      expect(result.activeSlot).toBe('b');
      expect(await f.activeSlotBytes()).toEqual(rel.image);
      const statement = await verifyStatementBundle(result.report?.bundle, {
        caCertificatePem: f.ca.certificatePem,
      });
      const predicate = parseInstallPredicate(statement.predicate);
      expect(predicate).toMatchObject({
        vehicle: { commitment: f.identity.vinCommitment },
        ecu: { serial: 'GW-0001', hardwareId: HARDWARE_ID },
        to: { name: rel.name, releaseCounter: 2, digest: rel.sha256 },
        result: 'SUCCESS',
        counter: 1,
        // the snapshot the vehicle trusted, as logged on chain
        metadata: {
          targetsVersion: rel.published.snapshotVersion,
          targetsHash: rel.published.snapshotHash,
        },
      });
      expect(predicate.from?.digest).toBe((await f.slots.readState()).slots.a?.sha256);
    });

    it('answers UP_TO_DATE on the next cycle', async () => {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      chain.log(rel.entry);
      await runUpdate(f.options(chain));
      const again = await runUpdate(f.options(chain));
      expect(again).toMatchObject({ status: 'UP_TO_DATE', activeSlot: 'b' });
    });
  });

  describe('when the preconditions hook says the vehicle is moving', () => {
    it('defers and writes nothing', async () => {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      chain.log(rel.entry);
      const result = await runUpdate(
        f.options(chain, { preconditions: () => Promise.resolve({ ok: false, reason: 'moving' }) }),
      );
      expect(result).toMatchObject({
        status: 'DEFERRED',
        deferredReason: 'moving',
        activeSlot: 'a',
      });
      expect((await f.slots.readState()).slots.b).toBeNull();
    });
  });

  describe('when the new slot fails its health check', () => {
    it('rolls back to slot A, reports ROLLED_BACK, and blocks the image after repeated failures', async () => {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      chain.log(rel.entry);
      const opts = f.options(chain, {
        healthCheck: () => Promise.resolve(false),
        config: { maxInstallFailures: 2, fetchTimeoutMs: 2000 },
      });
      for (let i = 0; i < 2; i++) {
        const result = await runUpdate(opts);
        expect(result).toMatchObject({ status: 'ROLLED_BACK', activeSlot: 'a' });
        const statement = await verifyStatementBundle(result.report?.bundle, {
          caCertificatePem: f.ca.certificatePem,
        });
        expect(parseInstallPredicate(statement.predicate).result).toBe('ROLLED_BACK');
      }
      await expect(runUpdate(opts)).rejects.toMatchObject({ code: 'IMAGE_BLOCKED' });
      expect((await f.slots.readState()).active).toBe('a');
    });
  });

  describe('when the connection drops in the middle of the image', () => {
    it('resumes with an HTTP Range request and installs', async () => {
      // The first cut, after 1.5 MB, leaves more than the last blocks, which a resume distrusts.
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2, size: 3_000_000 });
      chain.log(rel.entry);
      const path = f.repo.targetPath(rel.name);
      const ranges: (string | undefined)[] = [];
      f.repo.overrides.set(path, (req, res) => {
        ranges.push(req.headers.range);
        if (ranges.length === 1) {
          res.writeHead(200, { 'content-length': rel.image.length });
          res.write(rel.image.subarray(0, 120_000), () => res.destroy());
          return;
        }
        serveBytes(req, res, rel.image);
      });
      const result = await runUpdate(f.options(chain));
      expect(result).toMatchObject({ status: 'UPDATED', resumes: 1 });
      expect(ranges[1]).toMatch(/^bytes=[1-9]\d*-$/);
      expect(await f.activeSlotBytes()).toEqual(rel.image);
    });
  });

  describe('when the network goes away for longer than the resume budget', () => {
    it('throws DOWNLOAD_FAILED, keeps slot A, and the next cycle resumes the partial slot', async () => {
      // The first cut, after 1.5 MB, leaves more than the last blocks, which a resume distrusts.
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2, size: 3_000_000 });
      chain.log(rel.entry);
      const path = f.repo.targetPath(rel.name);
      const ranges: (string | undefined)[] = [];
      let online = false;
      f.repo.overrides.set(path, (req, res) => {
        ranges.push(req.headers.range);
        if (online) return serveBytes(req, res, rel.image);
        const start = Number(/\d+/.exec(req.headers.range ?? '')?.[0] ?? 0);
        res.writeHead(200, { 'content-length': rel.image.length - start });
        const cut = ranges.length === 1 ? 1_500_000 : 50_000;
        res.write(rel.image.subarray(start, start + cut), () => res.destroy());
      });
      await expect(runUpdate(f.options(chain))).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED' });
      expect((await f.slots.readState()).active).toBe('a');
      online = true;
      const before = ranges.length;
      const result = await runUpdate(f.options(chain));
      expect(result).toMatchObject({ status: 'UPDATED', activeSlot: 'b' });
      expect(Number(/\d+/.exec(ranges[before] ?? '')?.[0])).toBeGreaterThan(0);
      expect(await f.activeSlotBytes()).toEqual(rel.image);
    });
  });

  describe('the read-back worker, started while the chain is asked', () => {
    // Threads this test's thread started and that still run (Node's diagnostic report).
    const runningWorkers = () =>
      (process.report.getReport() as { workers: unknown[] }).workers.length;

    it('is stopped when the chain refuses the release, and after an install', async () => {
      const before = runningWorkers();
      await f.addRelease({ version: '2.0.0', releaseCounter: 2, size: 5 * 1024 * 1024 });
      await expect(runUpdate(f.options(chain))).rejects.toMatchObject({
        code: 'METADATA_NOT_LOGGED',
      });
      expect(runningWorkers()).toBe(before);
      const rel = await f.addRelease({
        version: '3.0.0',
        releaseCounter: 3,
        size: 5 * 1024 * 1024,
      });
      chain.log(rel.entry);
      expect(await runUpdate(f.options(chain))).toMatchObject({ status: 'UPDATED' });
      expect(runningWorkers()).toBe(before);
      expect(await f.activeSlotBytes()).toEqual(rel.image);
    });
  });

  describe('when an image is blocked after repeated failures', () => {
    it('installs the next release that replaces it', async () => {
      const bad = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      chain.log(bad.entry);
      const opts = f.options(chain, {
        healthCheck: (_slot, image) => Promise.resolve(image.sha256 !== bad.sha256),
        config: { maxInstallFailures: 1 },
      });
      await runUpdate(opts);
      await expect(runUpdate(opts)).rejects.toMatchObject({ code: 'IMAGE_BLOCKED' });
      const fixed = await f.addRelease({ version: '2.0.1', releaseCounter: 3 });
      chain.log(fixed.entry);
      expect(await runUpdate(opts)).toMatchObject({ status: 'UPDATED', activeSlot: 'b' });
    });
  });

  describe('the attack table', () => {
    /** A release whose attestation target is not a Sigstore bundle. */
    const releaseWithoutBundle = () =>
      f.addRelease({ version: '2.0.0', releaseCounter: 2, attestation: () => 'not a bundle' });
    interface Row {
      desc: string;
      tamper: () => Promise<{ at?: Date } | void>;
      wantCode: string;
      /** Agent settings for this row (short slow-retrieval limits). */
      config?: Partial<Config>;
    }
    /** A logged release, then `path` answered by a hostile server instead of the repository. */
    const loggedReleaseThen = async (
      hostile: (rel: Release) => {
        path: string;
        answer: Parameters<typeof f.repo.overrides.set>[1];
      },
      opts: { delegated?: boolean } = {},
    ): Promise<void> => {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2, ...opts });
      chain.log(rel.entry);
      const { path, answer } = hostile(rel);
      f.repo.overrides.set(path, answer);
    };
    const endless = (path: string) => ({
      path,
      answer: (_req: unknown, res: Parameters<typeof serveHuge>[0]) => void serveHuge(res),
    });
    const trickled = (path: string, bytes: () => Buffer, everyMs = 50) => ({
      path,
      answer: (_req: unknown, res: Parameters<typeof serveHuge>[0]) =>
        void serveTrickle(res, bytes(), everyMs),
    });
    const served = (path: string) => () => f.repo.files.get(path) ?? Buffer.alloc(0);
    /** Slow-retrieval limits short enough for a test: 200 ms of grace, then 1000 bytes/s. */
    const slowLimits: Partial<Config> = {
      downloadGraceMs: 200,
      minDownloadBytesPerSecond: 1000,
      metadataDeadlineMs: 5000,
    };
    const table: Row[] = [
      // Endless data from a man in the middle, for every file tuf-js fetches: each is cut at its
      // length limit, the cycle ends with the code, and nothing is left open (the lock included).
      {
        desc: 'an endless timestamp.json',
        tamper: () => loggedReleaseThen(() => endless('/metadata/timestamp.json')),
        wantCode: 'ENDLESS_DATA',
      },
      {
        desc: 'an endless snapshot',
        tamper: () =>
          loggedReleaseThen(() => endless(`/metadata/${f.repo.snapshotVersion}.snapshot.json`)),
        wantCode: 'ENDLESS_DATA',
      },
      {
        desc: 'an endless top-level targets metadata',
        tamper: () =>
          loggedReleaseThen(() => endless(`/metadata/${f.repo.targetsVersion}.targets.json`)),
        wantCode: 'ENDLESS_DATA',
      },
      {
        desc: 'an endless delegated targets role',
        tamper: () =>
          loggedReleaseThen(
            () => endless(`/metadata/${f.repo.targetsVersion}.${SUPPLIER_ROLE}.json`),
            { delegated: true },
          ),
        wantCode: 'ENDLESS_DATA',
      },
      {
        desc: 'an endless next root (2.root.json)',
        tamper: () => loggedReleaseThen(() => endless('/metadata/2.root.json')),
        wantCode: 'ENDLESS_DATA',
      },
      {
        desc: 'an endless firmware attestation bundle',
        tamper: () =>
          loggedReleaseThen((rel) => endless(f.repo.targetPath(`${rel.name}.sigstore.json`))),
        wantCode: 'ENDLESS_DATA',
      },
      {
        desc: 'an endless discovery hint',
        tamper: () =>
          loggedReleaseThen(() => endless(`/api/v1/hardware/${HARDWARE_ID}/latest`), {
            delegated: true,
          }),
        wantCode: 'ENDLESS_DATA',
      },
      // Slow retrieval: a byte every 50 ms never trips the inactivity timeout (2 s here).
      {
        desc: 'a timestamp.json trickled a byte at a time',
        tamper: () =>
          loggedReleaseThen(() =>
            trickled('/metadata/timestamp.json', served('/metadata/timestamp.json')),
          ),
        config: slowLimits,
        wantCode: 'DOWNLOAD_TOO_SLOW',
      },
      {
        desc: 'a delegated targets role trickled a byte at a time',
        tamper: () =>
          loggedReleaseThen(
            () => {
              const path = `/metadata/${f.repo.targetsVersion}.${SUPPLIER_ROLE}.json`;
              return trickled(path, served(path));
            },
            { delegated: true },
          ),
        config: slowLimits,
        wantCode: 'DOWNLOAD_TOO_SLOW',
      },
      {
        desc: 'a snapshot sent fast enough but held past the metadata deadline',
        tamper: () =>
          loggedReleaseThen(() => {
            const path = `/metadata/${f.repo.snapshotVersion}.snapshot.json`;
            return trickled(path, served(path), 2);
          }),
        config: { minDownloadBytesPerSecond: 1, metadataDeadlineMs: 300 },
        wantCode: 'DOWNLOAD_TOO_SLOW',
      },
      {
        desc: 'a firmware attestation bundle trickled a byte at a time',
        tamper: () =>
          loggedReleaseThen((rel) => {
            const path = f.repo.targetPath(`${rel.name}.sigstore.json`);
            return trickled(path, served(path));
          }),
        config: slowLimits,
        wantCode: 'DOWNLOAD_TOO_SLOW',
      },
      {
        desc: 'an image trickled a byte at a time',
        tamper: () =>
          loggedReleaseThen((rel) => trickled(f.repo.targetPath(rel.name), () => rel.image)),
        config: slowLimits,
        wantCode: 'DOWNLOAD_TOO_SLOW',
      },
      {
        desc: 'a tampered image',
        tamper: async () => {
          const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
          chain.log(rel.entry);
          const bad = Buffer.from(rel.image);
          bad[7] = (bad[7] ?? 0) ^ 0xff;
          f.repo.files.set(f.repo.targetPath(rel.name), bad);
        },
        wantCode: 'TARGET_MISMATCH',
      },
      {
        desc: 'an image of the wrong length',
        tamper: async () => {
          const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
          chain.log(rel.entry);
          f.repo.files.set(
            f.repo.targetPath(rel.name),
            rel.image.subarray(0, rel.image.length - 3),
          );
        },
        wantCode: 'LENGTH_MISMATCH',
      },
      {
        desc: 'endless data',
        tamper: async () => {
          const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
          chain.log(rel.entry);
          f.repo.overrides.set(f.repo.targetPath(rel.name), (_req, res) => {
            res.writeHead(200);
            const timer = setInterval(() => res.write(randomBytes(32 * 1024)), 1);
            res.on('close', () => clearInterval(timer));
          });
        },
        wantCode: 'ENDLESS_DATA',
      },
      {
        desc: 'targets metadata signed by a key that is not the targets role',
        tamper: async () => {
          const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
          f.repo.targetsVersion -= 1;
          f.repo.snapshotVersion -= 1;
          f.repo.timestampVersion -= 1;
          const forged = f.repo.publish({ signTargetsWith: [f.repo.keys.snapshot] });
          chain.log({ ...rel.entry, metadataHash: forged.snapshotHash });
        },
        wantCode: 'METADATA_UNSIGNED',
      },
      {
        desc: 'a rollback to an older timestamp',
        tamper: async () => {
          const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
          chain.log(rel.entry);
          const oldTimestamp = f.repo.files.get('/metadata/timestamp.json');
          const rel3 = await f.addRelease({ version: '3.0.0', releaseCounter: 3 });
          chain.log(rel3.entry);
          await runUpdate(f.options(chain));
          f.repo.files.set('/metadata/timestamp.json', oldTimestamp ?? Buffer.alloc(0));
        },
        wantCode: 'METADATA_ROLLBACK',
      },
      {
        desc: 'a freeze: expired metadata with the local clock set back',
        tamper: async () => {
          f.repo.expiresDays = 1;
          const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
          chain.log(rel.entry);
          chain.time = { ...chain.time, timestamp: Math.floor(Date.now() / 1000) + 3 * 86_400 };
        },
        wantCode: 'METADATA_EXPIRED',
      },
      {
        // tuf-js checks a delegated role's expiry against the local clock only.
        desc: 'a freeze: a delegated role expired by the chain’s time, the local clock set back',
        tamper: async () => {
          f.repo.supplierExpiresDays = 1;
          const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2, delegated: true });
          chain.log(rel.entry);
          chain.time = { ...chain.time, timestamp: Math.floor(Date.now() / 1000) + 3 * 86_400 };
        },
        wantCode: 'METADATA_EXPIRED',
      },
      {
        desc: 'mix-and-match: old targets metadata served under the new version',
        tamper: async () => {
          const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
          chain.log(rel.entry);
          const rel3 = await f.addRelease({ version: '3.0.0', releaseCounter: 3 });
          chain.log(rel3.entry);
          f.repo.files.set('/metadata/2.targets.json', rel.published.targetsBytes);
        },
        wantCode: 'METADATA_ROLLBACK',
      },
      {
        desc: 'an unlogged release signed with the real keys',
        tamper: async () => {
          await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
        },
        wantCode: 'METADATA_NOT_LOGGED',
      },
      {
        desc: 'a recalled release',
        tamper: async () => {
          const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
          chain.log(rel.entry);
          chain.recalled.add('0x' + rel.sha256);
        },
        wantCode: 'RECALLED',
      },
      {
        desc: 'a release below the on-chain minimum',
        tamper: async () => {
          const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
          chain.log(rel.entry);
          chain.minimums.set(HARDWARE_ID, 3);
        },
        wantCode: 'BELOW_MINIMUM_VERSION',
      },
      {
        desc: 'an RPC quorum that disagrees',
        tamper: async () => {
          const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
          chain.log(rel.entry);
          chain.failWith = { code: 'QUORUM_DISAGREES' };
        },
        wantCode: 'QUORUM_DISAGREES',
      },
      {
        desc: 'a release for another hardware ID only',
        tamper: async () => {
          const rel = await f.addRelease({
            version: '2.0.0',
            releaseCounter: 2,
            hardwareIds: ['other-ecu'],
          });
          chain.log(rel.entry);
        },
        wantCode: 'NO_TARGET_FOR_HARDWARE',
      },
      {
        desc: 'an image logged on chain for another hardware ID',
        tamper: async () => {
          const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
          chain.log({
            ...rel.entry,
            firmware: [{ ...rel.entry.firmware[0]!, hardwareId: 'other-ecu' }],
          });
        },
        wantCode: 'DIGEST_NOT_LOGGED',
      },
      {
        desc: 'a Sigstore bundle signed by another key',
        tamper: async () => {
          const { createKeySigner, generateKeyPair } = await import('@tufchain/keys');
          const rel = await f.addRelease({
            version: '2.0.0',
            releaseCounter: 2,
            attestationSigner: createKeySigner(generateKeyPair('ecdsa-p256').privateKey),
          });
          chain.log(rel.entry);
        },
        wantCode: 'ATTESTATION_INVALID',
      },
      {
        desc: 'a Sigstore bundle whose subject digest is another image',
        tamper: async () => {
          const rel = await f.addRelease({
            version: '2.0.0',
            releaseCounter: 2,
            attestedSha256: 'ab'.repeat(32),
          });
          chain.log(rel.entry);
        },
        wantCode: 'SUBJECT_DIGEST_MISMATCH',
      },
      {
        // The chain and the attestation are checked at once; the chain's answer still comes first.
        desc: 'an unlogged release whose Sigstore bundle is also signed by another key',
        tamper: async () => {
          const { createKeySigner, generateKeyPair } = await import('@tufchain/keys');
          await f.addRelease({
            version: '2.0.0',
            releaseCounter: 2,
            attestationSigner: createKeySigner(generateKeyPair('ecdsa-p256').privateKey),
          });
        },
        wantCode: 'METADATA_NOT_LOGGED',
      },
      {
        desc: 'a recalled release whose attestation is not a Sigstore bundle',
        tamper: async () => {
          const rel = await releaseWithoutBundle();
          chain.log(rel.entry);
          chain.recalled.add('0x' + rel.sha256);
        },
        wantCode: 'RECALLED',
      },
      {
        desc: 'a chain entry for the metadata hash at another version',
        tamper: async () => {
          const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
          chain.log({ ...rel.entry, metadataVersion: rel.entry.metadataVersion + 7 });
        },
        wantCode: 'METADATA_VERSION_MISMATCH',
      },
      {
        desc: 'an image logged at another release counter',
        tamper: async () => {
          const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
          chain.log({ ...rel.entry, firmware: [{ ...rel.entry.firmware[0]!, version: 9 }] });
        },
        wantCode: 'DIGEST_NOT_LOGGED',
      },
      {
        desc: 'a Sigstore bundle whose signature was altered',
        tamper: async () => {
          const rel = await f.addRelease({
            version: '2.0.0',
            releaseCounter: 2,
            attestation: (bundle) => {
              const b = structuredClone(bundle) as {
                dsseEnvelope: { signatures: { sig: string }[] };
              };
              const sig = Buffer.from(b.dsseEnvelope.signatures[0]!.sig, 'base64');
              sig[sig.length - 1] = (sig[sig.length - 1] ?? 0) ^ 1;
              b.dsseEnvelope.signatures[0]!.sig = sig.toString('base64');
              return b;
            },
          });
          chain.log(rel.entry);
        },
        wantCode: 'ATTESTATION_INVALID',
      },
      {
        desc: 'an attestation that is not a Sigstore bundle',
        tamper: async () => {
          chain.log((await releaseWithoutBundle()).entry);
        },
        wantCode: 'ATTESTATION_INVALID',
      },
      {
        desc: 'a firmware target whose attestation target is missing',
        tamper: async () => {
          const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
          delete f.repo.targets[`${rel.name}.sigstore.json`];
          f.repo.targetsVersion -= 1;
          f.repo.snapshotVersion -= 1;
          f.repo.timestampVersion -= 1;
          const republished = f.repo.publish();
          chain.log({ ...rel.entry, metadataHash: republished.snapshotHash });
        },
        wantCode: 'ATTESTATION_MISSING',
      },
      {
        desc: 'a downgrade to a release counter not above the installed one',
        tamper: async () => {
          const rel = await f.addRelease({ version: '0.9.0', releaseCounter: 1 });
          chain.log(rel.entry);
        },
        wantCode: 'DOWNGRADE',
      },
    ];

    for (const { desc, tamper, wantCode, config } of table) {
      it(`refuses ${desc} with ${wantCode} and keeps the active slot`, async () => {
        await tamper();
        const before = await f.slots.readState();
        const activeBytes = await f.activeSlotBytes();
        const opts = f.options(chain);
        await expect(
          runUpdate({ ...opts, config: { ...opts.config, ...config } }),
        ).rejects.toMatchObject({ name: 'AgentError', code: wantCode });
        const after = await f.slots.readState();
        expect(after.active).toBe(before.active);
        expect(after.slots[after.active]).toEqual(before.slots[before.active]);
        expect(await f.activeSlotBytes()).toEqual(activeBytes);
        // The cycle let go of everything: the next one may start.
        expect(existsSync(join(f.stateDir, 'agent.lock'))).toBe(false);
      });
    }
  });
});
