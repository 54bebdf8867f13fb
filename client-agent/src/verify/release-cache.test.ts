import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hardwareIdHash, type LoggedReleaseLike } from './chain.js';
import {
  CachedReleaseLog,
  RELEASE_CACHE_FILE,
  isIncrementalReleaseLog,
  type IncrementalReleaseLog,
} from './release-cache.js';

const h = (n: number) => `0x${n.toString(16).padStart(64, '0')}`;
const mine = hardwareIdHash('ecu-1');
const other = hardwareIdHash('ecu-2');

function release(n: number, hwids: string[]): LoggedReleaseLike {
  return {
    metadataVersion: n,
    metadataHash: h(1000 + n),
    txHash: h(2000 + n),
    blockNumber: 10 * n,
    blockHash: h(3000 + n),
    firmware: hwids.map((hw, i) => ({
      digest: h(4000 + 10 * n + i),
      hardwareIdHash: hw,
      version: n,
    })),
  };
}

/** A chain double: `log` is what is logged; each call records the block it was asked after. */
function fakeChain(log: LoggedReleaseLike[], contractAddress = '0xc0ffee') {
  const asked: (number | undefined)[] = [];
  let reorganized = false;
  const chain: IncrementalReleaseLog = {
    contractAddress,
    chainId: 31337,
    findRelease: () => Promise.reject(new Error('not used')),
    releases: () => Promise.resolve(log),
    isRecalled: () => Promise.resolve(false),
    minimumVersion: () => Promise.resolve(0),
    trustedTime: () => Promise.reject(new Error('not used')),
    releasesAfter: (after) => {
      asked.push(after?.blockNumber);
      const top = log.at(-1)?.blockNumber ?? 0;
      const from = reorganized || !after ? -1 : after.blockNumber;
      const answer = {
        releases: log.filter((r) => r.blockNumber > from),
        confirmed: { blockNumber: top, blockHash: h(9000 + top) },
        reorganized,
      };
      reorganized = false;
      return Promise.resolve(answer);
    },
  };
  return { chain, asked, reorgNext: () => (reorganized = true) };
}

let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'release-cache-'));
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe('CachedReleaseLog', () => {
  it('reads the whole log once, then only what was logged since, across restarts', async () => {
    const log = [release(1, [mine, other]), release(2, [other]), release(3, [mine])];
    const { chain, asked } = fakeChain(log);
    expect(isIncrementalReleaseLog(chain)).toBe(true);

    const first = await new CachedReleaseLog(chain, { stateDir, hardwareId: 'ecu-1' }).releases();
    expect(first.map((r) => r.metadataVersion)).toEqual([1, 3]);
    expect(first[0]?.firmware.map((f) => f.hardwareIdHash)).toEqual([mine]);

    log.push(release(4, [mine]), release(5, [other]));
    const again = await new CachedReleaseLog(chain, { stateDir, hardwareId: 'ecu-1' }).releases();
    expect(again.map((r) => r.metadataVersion)).toEqual([1, 3, 4]);
    expect(asked).toEqual([undefined, 30]);
  });

  it('starts over when the block it read up to was reorganized out', async () => {
    const log = [release(1, [mine]), release(2, [mine])];
    const { chain, asked, reorgNext } = fakeChain(log);
    const cache = new CachedReleaseLog(chain, { stateDir, hardwareId: 'ecu-1' });
    await cache.releases();
    log.splice(1, 1, release(3, [mine]));
    reorgNext();
    expect((await cache.releases()).map((r) => r.metadataVersion)).toEqual([1, 3]);
    expect(asked).toEqual([undefined, 20]);
  });

  it('ignores a cache of another contract, another hardware ID or a damaged file', async () => {
    const log = [release(1, [mine, other])];
    const a = fakeChain(log);
    await new CachedReleaseLog(a.chain, { stateDir, hardwareId: 'ecu-1' }).releases();

    const b = fakeChain(log, '0xbeef');
    await new CachedReleaseLog(b.chain, { stateDir, hardwareId: 'ecu-1' }).releases();
    const c = fakeChain(log, '0xbeef');
    const forOther = await new CachedReleaseLog(c.chain, {
      stateDir,
      hardwareId: 'ecu-2',
    }).releases();
    expect(forOther[0]?.firmware.map((f) => f.hardwareIdHash)).toEqual([other]);
    expect([b.asked, c.asked]).toEqual([[undefined], [undefined]]);

    await writeFile(join(stateDir, RELEASE_CACHE_FILE), '{"scope": 1');
    const d = fakeChain(log, '0xbeef');
    await new CachedReleaseLog(d.chain, { stateDir, hardwareId: 'ecu-2' }).releases();
    expect(d.asked).toEqual([undefined]);
    expect(JSON.parse(await readFile(join(stateDir, RELEASE_CACHE_FILE), 'utf8'))).toMatchObject({
      confirmed: { blockNumber: 10 },
    });
  });
});
