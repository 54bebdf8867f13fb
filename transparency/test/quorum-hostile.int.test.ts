import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ChainReader,
  DEFAULT_MAX_RPC_RESPONSE_BYTES,
  ReleaseLogWriter,
  TransparencyError,
  type ChainReaderOptions,
  type ReleaseEntry,
} from '../src/index.js';
import {
  startTestChain,
  type TestChain,
  hideLogs,
  startRpcProxy,
  type Rewrite,
  type RpcProxy,
} from '@tufchain/contracts/dev';

const hash = () => '0x' + randomBytes(32).toString('hex');
const HARDWARE_ID = 'ecu-quorum-test';

/** A lie: the chain is only one block long. */
const lowHead: Rewrite = (method, _params, result) =>
  method === 'eth_blockNumber' ? '0x1' : result;

let t: TestChain;
let honestA: RpcProxy;
let honestB: RpcProxy;
let hostile: RpcProxy;
let logged: ReleaseEntry;

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TransparencyError);
    return (err as TransparencyError).code;
  }
  throw new Error('expected a TransparencyError');
}

function reader(rpcUrls: string[], quorum: number, opts: Partial<ChainReaderOptions> = {}) {
  return new ChainReader({
    rpcUrls,
    quorum,
    confirmations: 1,
    contractAddress: t.address,
    chainId: t.chain.chainId,
    fromBlock: t.deployBlock,
    ...opts,
  });
}

beforeAll(async () => {
  t = await startTestChain();
  [honestA, honestB, hostile] = await Promise.all([
    startRpcProxy(t.chain.rpcUrl),
    startRpcProxy(t.chain.rpcUrl),
    startRpcProxy(t.chain.rpcUrl),
  ]);
  logged = {
    metadataVersion: 1,
    metadataHash: hash(),
    firmware: [{ digest: hash(), hardwareId: HARDWARE_ID, version: 3 }],
  };
  await new ReleaseLogWriter({
    signer: t.publisher,
    contractAddress: t.address,
    confirmations: 1,
    pollIntervalMs: 50,
  }).logRelease(logged);
});

afterAll(async () => {
  await Promise.all([honestA?.close(), honestB?.close(), hostile?.close()]);
  await t?.stop();
});

beforeEach(() => {
  hostile.setHostile(null);
  hostile.setRewrite(null);
  honestA.setRewrite(null);
  hostile.hostile.started = 0;
  hostile.hostile.abortedByClient = 0;
  hostile.hostile.bytesWritten = 0;
});

/** Every question the vehicle asks the chain before it installs. */
async function askEverything(r: ChainReader) {
  const found = await r.findRelease(logged.metadataHash);
  const all = await r.releases();
  const time = await r.trustedTime();
  const recalled = await r.isRecalled(logged.firmware[0]!.digest);
  const minimum = await r.minimumVersion(HARDWARE_ID);
  return { found, all, time, recalled, minimum };
}

describe('ChainReader with one hostile endpoint of three (quorum 2)', () => {
  const table = [
    {
      desc: 'one endpoint trickles a byte every 2 s and never finishes',
      hostility: { kind: 'trickle', intervalMs: 2_000 } as const,
    },
    {
      desc: 'one endpoint streams a 256 MiB body',
      hostility: { kind: 'flood', bytes: 256 * 1024 * 1024 } as const,
    },
  ];
  for (const { desc, hostility } of table) {
    it(`answers from the two honest endpoints and aborts the hostile one when ${desc}`, async () => {
      hostile.setHostile(hostility);
      // A deadline far above the test timeout: only deciding early can make this pass.
      const r = reader([hostile.url, honestA.url, honestB.url], 2, { timeoutMs: 120_000 });
      const answer = await askEverything(r);
      expect(answer.found).toMatchObject({
        metadataVersion: logged.metadataVersion,
        metadataHash: logged.metadataHash,
      });
      expect(answer.all.map((x) => x.metadataHash)).toContain(logged.metadataHash);
      expect(answer.time.blockHash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(answer.recalled).toBe(false);
      expect(answer.minimum).toBe(0);
      expect(hostile.hostile.started).toBeGreaterThan(0);
      // Every hostile answer was cut off by the reader, not finished by the endpoint.
      await expect
        .poll(() => hostile.hostile.abortedByClient, { timeout: 5_000 })
        .toBe(hostile.hostile.started);
      // What each hostile answer got out before the reader hung up: at most the cap plus buffers.
      expect(hostile.hostile.bytesWritten / hostile.hostile.started).toBeLessThan(
        DEFAULT_MAX_RPC_RESPONSE_BYTES + 16 * 1024 * 1024,
      );
      r.destroy();
    }, 30_000);
  }

  it('still follows the honest majority when the fast minority lies about the entry', async () => {
    hostile.setRewrite(hideLogs);
    const r = reader([hostile.url, honestA.url, honestB.url], 2);
    expect((await r.findRelease(logged.metadataHash)).metadataHash).toBe(logged.metadataHash);
    r.destroy();
  }, 30_000);

  it('is not held back by a minority that reports a head far below the others', async () => {
    hostile.setRewrite(lowHead);
    await t.mine(20);
    const r = reader([hostile.url, honestA.url, honestB.url], 2);
    for (let i = 0; i < 5; i++) {
      expect((await r.findRelease(logged.metadataHash)).confirmations).toBeGreaterThanOrEqual(1);
      expect((await r.trustedTime()).blockNumber).toBeGreaterThan(20);
    }
    r.destroy();
  }, 30_000);

  it('refuses with QUORUM_DISAGREES, not the lie, when the liar races a slow third endpoint', async () => {
    honestA.setRewrite(hideLogs);
    hostile.setHostile({ kind: 'trickle', intervalMs: 200 });
    const r = reader([hostile.url, honestA.url, honestB.url], 2, { timeoutMs: 1_500 });
    expect(await codeOf(r.findRelease(logged.metadataHash))).toBe('QUORUM_DISAGREES');
    r.destroy();
  }, 30_000);
});

describe('ChainReader request limits that hold while the body streams', () => {
  it('gives up on an endpoint that trickles past its deadline with RPC_UNAVAILABLE', async () => {
    hostile.setHostile({ kind: 'trickle', intervalMs: 200 });
    const r = reader([hostile.url, honestA.url, honestB.url], 3, { timeoutMs: 1_500 });
    expect(await codeOf(r.findRelease(logged.metadataHash))).toBe('RPC_UNAVAILABLE');
    expect(await codeOf(r.trustedTime())).toBe('RPC_UNAVAILABLE');
    await expect
      .poll(() => hostile.hostile.abortedByClient, { timeout: 5_000 })
      .toBe(hostile.hostile.started);
    r.destroy();
  }, 30_000);

  it('cuts off an endless body at maxResponseBytes with RPC_UNAVAILABLE', async () => {
    hostile.setHostile({ kind: 'flood', bytes: 256 * 1024 * 1024 });
    const r = reader([hostile.url, honestA.url, honestB.url], 3, {
      timeoutMs: 120_000,
      maxResponseBytes: 1024 * 1024,
    });
    expect(await codeOf(r.findRelease(logged.metadataHash))).toBe('RPC_UNAVAILABLE');
    await expect
      .poll(() => hostile.hostile.abortedByClient, { timeout: 5_000 })
      .toBe(hostile.hostile.started);
    // What the endpoint got out before the reader hung up: the cap plus socket buffers.
    expect(hostile.hostile.bytesWritten).toBeLessThan(32 * 1024 * 1024);
    r.destroy();
  }, 30_000);

  it('throws RPC_UNAVAILABLE once the deadlines pass when two of three endpoints trickle', async () => {
    const second = await startRpcProxy(t.chain.rpcUrl);
    second.setHostile({ kind: 'trickle', intervalMs: 200 });
    hostile.setHostile({ kind: 'trickle', intervalMs: 200 });
    const r = reader([hostile.url, second.url, honestA.url], 2, { timeoutMs: 1_500 });
    expect(await codeOf(r.trustedTime())).toBe('RPC_UNAVAILABLE');
    r.destroy();
    await second.close();
  }, 30_000);
});
