import { AbiCoder, type Log } from 'ethers';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hardwareIdHash, readLatestRelease, tufchainLogInterface } from '../src/index.js';
import type { EvmChain } from '../src/entry/dev.js';
import { randomHash, sha256Hex } from './helpers/bytes.js';
import {
  actorsOf,
  deployWithRoles,
  revertOf,
  startSelectedEvm,
  type Actors,
  type DeployedLog,
} from './helpers/chain.js';

interface FirmwareInput {
  digest: string;
  hardwareId: string;
  version: number;
}

function firmwareFor(image: string, hardwareId: string, version: number): FirmwareInput {
  return { digest: sha256Hex(image), hardwareId: hardwareIdHash(hardwareId), version };
}

let chain: EvmChain;
let actors: Actors;
let log: DeployedLog;

beforeAll(async () => {
  chain = await startSelectedEvm();
  actors = actorsOf(chain);
});

afterAll(async () => {
  // Guarded: when the chain could not start, the failure is beforeAll's, reported as such.
  (actors as Actors | undefined)?.provider.destroy();
  await (chain as EvmChain | undefined)?.stop();
});

beforeEach(async () => {
  log = await deployWithRoles(actors);
});

async function logRelease(version: number, metadataHash: string, firmware: FirmwareInput[]) {
  const tx = (await log.as(actors.publisher).getFunction('logRelease')(
    version,
    metadataHash,
    firmware,
  )) as { wait(): Promise<{ blockNumber: number; hash: string; status: number }> };
  return await tx.wait();
}

async function replayReleases(filter: { metadataHash?: string } = {}) {
  const iface = tufchainLogInterface();
  const event = iface.getEvent('ReleaseLogged');
  if (!event) throw new Error('ReleaseLogged missing from the ABI');
  const logs: Log[] = await actors.provider.getLogs({
    address: log.address,
    fromBlock: log.blockNumber,
    toBlock: 'latest',
    topics: [event.topicHash, null, filter.metadataHash ?? null],
  });
  return logs.map((l) => {
    const parsed = iface.parseLog(l);
    if (!parsed) throw new Error('unparsable log');
    const firmware = (parsed.args.getValue('firmware') as [string, string, bigint][]).map(
      ([digest, hardwareId, version]) => ({ digest, hardwareId, version: Number(version) }),
    );
    return {
      metadataVersion: Number(parsed.args.getValue('metadataVersion') as bigint),
      metadataHash: parsed.args.getValue('metadataHash') as string,
      publisher: parsed.args.getValue('publisher') as string,
      firmware,
      blockNumber: l.blockNumber,
    };
  });
}

describe('TufchainLog release log', () => {
  describe('when freshly deployed', () => {
    it('has the admin, the roles and an empty head pointing at the deployment block', async () => {
      const c = log.as(actors.other);
      expect(await c.getFunction('admin')()).toBe(actors.admin.address);
      const publisherRole = (await c.getFunction('PUBLISHER_ROLE')()) as string;
      const operatorRole = (await c.getFunction('LOG_OPERATOR_ROLE')()) as string;
      expect(await c.getFunction('hasRole')(publisherRole, actors.publisher.address)).toBe(true);
      expect(await c.getFunction('hasRole')(operatorRole, actors.operator.address)).toBe(true);
      expect(await c.getFunction('hasRole')(publisherRole, actors.attacker.address)).toBe(false);
      const [version, block, count] = (await c.getFunction('latestRelease')()) as bigint[];
      expect([version, block, count]).toEqual([0n, BigInt(log.blockNumber), 0n]);
    });
  });

  describe('when a publisher logs releases', () => {
    it('emits events that replay the whole history with eth_getLogs alone', async () => {
      const v1 = { hash: sha256Hex('targets v1'), fw: [firmwareFor('image-1', 'ecu-a', 1)] };
      const v2 = {
        hash: sha256Hex('targets v2'),
        fw: [firmwareFor('image-2a', 'ecu-a', 2), firmwareFor('image-2b', 'ecu-b', 2)],
      };
      const v5 = { hash: sha256Hex('targets v5'), fw: [] as FirmwareInput[] };
      await logRelease(1, v1.hash, v1.fw);
      await logRelease(2, v2.hash, v2.fw);
      const last = await logRelease(5, v5.hash, v5.fw);

      const replayed = await replayReleases();
      expect(replayed.map((r) => [r.metadataVersion, r.metadataHash, r.firmware])).toEqual([
        [1, v1.hash, v1.fw],
        [2, v2.hash, v2.fw],
        [5, v5.hash, []],
      ]);
      expect(new Set(replayed.map((r) => r.publisher))).toEqual(
        new Set([actors.publisher.address]),
      );

      const [version, block, count] = (await log
        .as(actors.other)
        .getFunction('latestRelease')()) as bigint[];
      expect([version, block, count]).toEqual([5n, BigInt(last.blockNumber), 3n]);
    });

    it('readLatestRelease returns the latest version with its hash from the event', async () => {
      expect(await readLatestRelease(actors.provider, log.address)).toEqual({
        metadataVersion: 0,
        metadataHash: null,
        blockNumber: log.blockNumber,
        releaseCount: 0,
      });
      const v3 = randomHash();
      const first = await logRelease(3, randomHash(), []);
      const second = await logRelease(4, v3, [firmwareFor('a', 'ecu-a', 4)]);
      expect(await readLatestRelease(actors.provider, log.address)).toEqual({
        metadataVersion: 4,
        metadataHash: v3,
        blockNumber: second.blockNumber,
        releaseCount: 2,
      });
      // At an earlier block tag: the state as of then.
      const earlier = await readLatestRelease(actors.provider, log.address, {
        blockTag: first.blockNumber,
      });
      expect([earlier.metadataVersion, earlier.blockNumber]).toEqual([3, first.blockNumber]);
    });

    it('lets a reader find exactly one entry by its metadata hash topic', async () => {
      const wanted = randomHash();
      await logRelease(1, randomHash(), [firmwareFor('a', 'ecu-a', 1)]);
      await logRelease(2, wanted, [firmwareFor('b', 'ecu-a', 2)]);
      await logRelease(3, randomHash(), [firmwareFor('c', 'ecu-a', 3)]);
      const found = await replayReleases({ metadataHash: wanted });
      expect(found.map((r) => r.metadataVersion)).toEqual([2]);
      expect(await replayReleases({ metadataHash: randomHash() })).toEqual([]);
    });
  });

  describe('when a metadata version does not increase', () => {
    const cases = [
      { desc: 'the same version again', version: 7, wantLast: 7n },
      { desc: 'a lower version (rollback)', version: 3, wantLast: 7n },
      { desc: 'version zero', version: 0, wantLast: 7n },
    ];
    it.each(cases)('refuses $desc with VersionNotIncreasing', async ({ version, wantLast }) => {
      await logRelease(7, randomHash(), []);
      const err = await revertOf(
        log.as(actors.publisher).getFunction('logRelease')(version, randomHash(), []),
      );
      expect(err).toEqual({ name: 'VersionNotIncreasing', args: [wantLast, BigInt(version)] });
      expect((await replayReleases()).map((r) => r.metadataVersion)).toEqual([7]);
    });
  });

  describe('over random version sequences (property)', () => {
    it('accepts exactly the versions above the highest logged so far', async () => {
      const c = log.as(actors.publisher);
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { minLength: 1, maxLength: 8 }),
          async (versions) => {
            const snapshot = (await actors.provider.send('evm_snapshot', [])) as string;
            try {
              let highest = 0n;
              for (const v of versions) {
                const hash = randomHash();
                if (v > highest) {
                  await (
                    (await c.getFunction('logRelease')(v, hash, [])) as {
                      wait(): Promise<unknown>;
                    }
                  ).wait();
                  highest = v;
                } else {
                  const err = await revertOf(c.getFunction('logRelease').staticCall(v, hash, []));
                  expect(err).toEqual({ name: 'VersionNotIncreasing', args: [highest, v] });
                }
              }
              const [latest] = (await c.getFunction('latestRelease')()) as bigint[];
              expect(latest).toBe(highest);
            } finally {
              await actors.provider.send('evm_revert', [snapshot]);
            }
          },
        ),
        { numRuns: 15 },
      );
    });
  });

  describe('when the caller is not an authorized publisher', () => {
    it('refuses the entry with NotPublisher and logs nothing', async () => {
      const err = await revertOf(
        log.as(actors.attacker).getFunction('logRelease')(1, randomHash(), []),
      );
      expect(err).toEqual({ name: 'NotPublisher', args: [actors.attacker.address] });
      expect(await replayReleases()).toEqual([]);
    });

    it('refuses a publisher whose role the admin revoked', async () => {
      const c = log.as(actors.admin);
      const role = (await c.getFunction('PUBLISHER_ROLE')()) as string;
      await logRelease(1, randomHash(), []);
      await (
        (await c.getFunction('revokeRole')(role, actors.publisher.address)) as {
          wait(): Promise<unknown>;
        }
      ).wait();
      const err = await revertOf(
        log.as(actors.publisher).getFunction('logRelease')(2, randomHash(), []),
      );
      expect(err).toEqual({ name: 'NotPublisher', args: [actors.publisher.address] });
    });

    it('refuses a log operator, who may anchor but not publish', async () => {
      const err = await revertOf(
        log.as(actors.operator).getFunction('logRelease')(1, randomHash(), []),
      );
      expect(err.name).toBe('NotPublisher');
    });
  });

  describe('when the entry is malformed', () => {
    it('refuses a zero metadata hash with ZeroMetadataHash', async () => {
      const err = await revertOf(
        log.as(actors.publisher).getFunction('logRelease')(1, `0x${'00'.repeat(32)}`, []),
      );
      expect(err.name).toBe('ZeroMetadataHash');
    });

    it('refuses a firmware array that runs past the end of the calldata', async () => {
      const valid = tufchainLogInterface().encodeFunctionData('logRelease', [
        1,
        randomHash(),
        [firmwareFor('x', 'ecu-a', 1), firmwareFor('y', 'ecu-b', 1)],
      ]);
      const truncated = valid.slice(0, -64); // drops the last word of the second entry
      await expect(
        actors.publisher
          .sendTransaction({ to: log.address, data: truncated, gasLimit: 200_000 })
          .then((tx) => tx.wait()),
      ).rejects.toMatchObject({ code: 'CALL_EXCEPTION' });
      expect(await replayReleases()).toEqual([]);
    });

    it('refuses a firmware version with dirty high bits instead of logging it', async () => {
      const iface = tufchainLogInterface();
      const valid = iface.encodeFunctionData('logRelease', [
        1,
        randomHash(),
        [firmwareFor('x', 'ecu-a', 1)],
      ]);
      // The version word is the last 32 bytes; set a bit above uint64.
      const dirty =
        valid.slice(0, -64) +
        AbiCoder.defaultAbiCoder()
          .encode(['uint256'], [1n << 64n])
          .slice(2);
      await expect(
        actors.publisher
          .sendTransaction({ to: log.address, data: dirty, gasLimit: 200_000 })
          .then((tx) => tx.wait()),
      ).rejects.toMatchObject({ code: 'CALL_EXCEPTION' });
      expect(await replayReleases()).toEqual([]);
    });
  });
});
