/**
 * The agent against real parts: anvil with the TufchainLog contract (written by transparency's
 * ReleaseLogWriter, read by its ChainReader), a real TUF repository on loopback HTTP, real keys,
 * real files.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { verifyStatementBundle } from '@tufchain/keys';
import { parseInstallPredicate } from '@tufchain/transparency';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runUpdate, type UpdateOptions } from '../src/index.js';
import { RELEASE_CACHE_FILE } from '../src/verify/release-cache.js';
import { CONFIRMATIONS, TestChain } from './helpers/chain.js';
import { Fixture, HARDWARE_ID } from './helpers/fixture.js';

let chain: TestChain;
let f: Fixture;
let snapshot: string;

beforeAll(async () => {
  chain = await TestChain.start();
});
afterAll(async () => {
  await chain.stop();
});
beforeEach(async () => {
  snapshot = await chain.snapshot();
  f = await Fixture.create();
});
afterEach(async () => {
  await f.cleanup();
  await chain.revert(snapshot);
});

function withoutChainId(opts: UpdateOptions): UpdateOptions {
  const { chainId: _pinned, ...rest } = opts;
  return rest;
}

async function expectRefused(wantCode: string, opts = f.options(chain.reader())): Promise<void> {
  const before = await f.slots.readState();
  const bytes = await f.activeSlotBytes();
  await expect(runUpdate(opts)).rejects.toMatchObject({ name: 'AgentError', code: wantCode });
  const after = await f.slots.readState();
  expect(after.active).toBe(before.active);
  expect(after.slots[after.active]).toEqual(before.slots[before.active]);
  expect(await f.activeSlotBytes()).toEqual(bytes);
}

describe('runUpdate against anvil and a loopback TUF repository', () => {
  describe('when the release is logged and confirmed on chain', () => {
    it('installs it, switches to slot B and delivers a signed install report', async () => {
      const received: unknown[] = [];
      f.repo.overrides.set('/api/v1/attestations', (_req, res, body) => {
        const bundle = JSON.parse(String(body)) as unknown;
        verifyStatementBundle(bundle, { caCertificatePem: f.ca.certificatePem }).then(
          () => {
            received.push(bundle);
            res.writeHead(202, { 'content-type': 'application/json' });
            res.end(
              JSON.stringify({ inclusion: { status: 'PROMISED', index: received.length - 1 } }),
            );
          },
          () => res.writeHead(400).end('{"error":{"code":"ATTESTATION_INVALID"}}'),
        );
      });
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      const result = await runUpdate(
        withoutChainId(f.options(chain.reader(), { sendReports: true })),
      );
      expect(result.status).toBe('UPDATED');
      expect(result.activeSlot).toBe('b');
      expect(result.release?.metadataHash).toBe(rel.published.snapshotHash);
      expect(await f.activeSlotBytes()).toEqual(rel.image);
      expect(result.report?.sent).toBe(true);
      expect(received).toHaveLength(1);
      const statement = await verifyStatementBundle(received[0], {
        caCertificatePem: f.ca.certificatePem,
      });
      const predicate = parseInstallPredicate(statement.predicate);
      expect(predicate.checkpoint.chainId).toBe(chain.chain.chainId);
      expect(predicate.checkpoint.blockNumber).toBeGreaterThan(0);
      expect(predicate.to.digest).toBe(rel.sha256);
    });
  });

  describe('on the next update', () => {
    it('reads only the release entries logged since the last one, from its cache', async () => {
      const cached = async () =>
        JSON.parse(await readFile(join(f.stateDir, RELEASE_CACHE_FILE), 'utf8')) as {
          confirmed: { blockNumber: number };
          releases: { metadataHash: string }[];
        };
      const r2 = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(r2.entry);
      expect((await runUpdate(f.options(chain.reader()))).status).toBe('UPDATED');
      const first = await cached();
      expect(first.releases.map((r) => r.metadataHash)).toEqual([r2.published.snapshotHash]);

      const r3 = await f.addRelease({ version: '3.0.0', releaseCounter: 3 });
      await chain.log(r3.entry);
      const result = await runUpdate(f.options(chain.reader()));
      expect(result.status).toBe('UPDATED');
      expect(await f.activeSlotBytes()).toEqual(r3.image);
      const second = await cached();
      expect(second.confirmed.blockNumber).toBeGreaterThan(first.confirmed.blockNumber);
      expect(second.releases.map((r) => r.metadataHash)).toEqual([
        r2.published.snapshotHash,
        r3.published.snapshotHash,
      ]);
    });
  });

  describe('when a release signed with the real keys was never logged', () => {
    it('throws METADATA_NOT_LOGGED and keeps slot A active', async () => {
      const logged = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(logged.entry);
      await f.addRelease({ version: '3.0.0', releaseCounter: 3 });
      await expectRefused('METADATA_NOT_LOGGED');
    });

    it('does not keep the refused metadata: the next logged release below its versions still installs', async () => {
      const logged = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(logged.entry);
      expect((await runUpdate(f.options(chain.reader()))).status).toBe('UPDATED');
      const trustedSnapshot = await readFile(join(f.metadataDir, 'snapshot.json'));

      // Stolen online keys publish versions 11, never logged.
      for (const v of ['targetsVersion', 'snapshotVersion', 'timestampVersion'] as const)
        f.repo[v] += 9;
      await f.addRelease({ version: '3.0.0', releaseCounter: 3 });
      await expectRefused('METADATA_NOT_LOGGED');
      expect(await readFile(join(f.metadataDir, 'snapshot.json'))).toEqual(trustedSnapshot);

      // The OEM's next release is version 3 of each role, logged.
      for (const v of ['targetsVersion', 'snapshotVersion', 'timestampVersion'] as const)
        f.repo[v] -= 10;
      const next = await f.addRelease({ version: '3.0.1', releaseCounter: 4 });
      await chain.log(next.entry);
      const result = await runUpdate(f.options(chain.reader()));
      expect(result.status).toBe('UPDATED');
      expect(await f.activeSlotBytes()).toEqual(next.image);
    });
  });

  describe('when the server serves a tampered image', () => {
    it('throws TARGET_MISMATCH and keeps slot A active', async () => {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      const bad = Buffer.from(rel.image);
      bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 1;
      f.repo.files.set(f.repo.targetPath(rel.name), bad);
      await expectRefused('TARGET_MISMATCH');
    });
  });

  describe('the on-chain rows of the attack table', () => {
    it('refuses a recalled image with RECALLED', async () => {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      await chain.recall('0x' + rel.sha256);
      await expectRefused('RECALLED');
    });

    it('refuses a release below the on-chain minimum with BELOW_MINIMUM_VERSION', async () => {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      await chain.setMinimumVersion(HARDWARE_ID, 5);
      await expectRefused('BELOW_MINIMUM_VERSION');
    });

    it(`refuses a release with fewer than ${CONFIRMATIONS} confirmations with NOT_CONFIRMED`, async () => {
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry, { confirm: false });
      await expectRefused('NOT_CONFIRMED');
    });

    it('refuses expired metadata by confirmed chain time although the local clock is behind (freeze)', async () => {
      f.repo.expiresDays = 1;
      const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
      await chain.log(rel.entry);
      await chain.advanceTime(3 * 86_400);
      await expectRefused('METADATA_EXPIRED');
    });

    it('refuses when the RPC endpoints of the quorum disagree with QUORUM_DISAGREES', async () => {
      const other = await TestChain.start();
      try {
        await other.mine(20);
        const rel = await f.addRelease({ version: '2.0.0', releaseCounter: 2 });
        await chain.log(rel.entry);
        const reader = chain.reader({
          rpcUrls: [chain.chain.rpcUrl, other.chain.rpcUrl],
          quorum: 2,
        });
        await expectRefused('QUORUM_DISAGREES', f.options(reader));
      } finally {
        await other.stop();
      }
    });
  });
});
