import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { ContractTransactionResponse } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hardwareIdHash } from '@tufchain/contracts';
import {
  ChainReader,
  ReleaseLogWriter,
  TransparencyError,
  type ReleaseEntry,
} from '../src/index.js';
import {
  findFreePort,
  startTestChain,
  type TestChain,
  forgeBlockHashes,
  hideLogs,
  startRpcProxy,
  type RpcProxy,
} from '@tufchain/contracts/dev';

const hash = () => '0x' + randomBytes(32).toString('hex');

let t: TestChain;
let nextVersion = 1;

function entry(overrides: Partial<ReleaseEntry> = {}): ReleaseEntry {
  return {
    metadataVersion: nextVersion++,
    metadataHash: hash(),
    firmware: [
      { digest: hash(), hardwareId: 'ecu-brake-v1', version: 7 },
      { digest: hash(), hardwareId: 'ecu-brake-v2', version: 7 },
    ],
    ...overrides,
  };
}

/** The publisher's writer, polling fast. */
function publisherWriter(confirmations = 1): ReleaseLogWriter {
  return new ReleaseLogWriter({
    signer: t.publisher,
    contractAddress: t.address,
    confirmations,
    pollIntervalMs: 50,
  });
}

function reader(rpcUrls: string[], quorum: number, confirmations = 1): ChainReader {
  return new ChainReader({
    rpcUrls,
    quorum,
    confirmations,
    contractAddress: t.address,
    chainId: t.chain.chainId,
    fromBlock: t.deployBlock,
    timeoutMs: 5_000,
  });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TransparencyError);
    return (err as TransparencyError).code;
  }
  throw new Error('expected a TransparencyError');
}

beforeAll(async () => {
  t = await startTestChain();
});

afterAll(async () => {
  await t?.stop();
});

describe('ReleaseLogWriter and ChainReader', () => {
  describe('when a release is logged and confirmed', () => {
    it('reads back exactly the entry, its transaction and its block', async () => {
      const writer = publisherWriter();
      const e = entry();
      const receipt = await writer.logRelease(e);
      const block = await t.provider.getBlock(receipt.blockNumber);
      expect(receipt.blockHash).toBe(block?.hash);

      const r = reader([t.chain.rpcUrl], 1);
      const found = await r.findRelease(e.metadataHash.toUpperCase().replace('0X', '0x'));
      expect(found).toMatchObject({
        metadataVersion: e.metadataVersion,
        metadataHash: e.metadataHash,
        publisher: t.publisher.address,
        txHash: receipt.txHash,
        blockNumber: receipt.blockNumber,
        blockHash: receipt.blockHash,
        confirmations: 1,
      });
      expect(found.firmware).toEqual(
        e.firmware.map((f) => ({
          digest: f.digest,
          hardwareIdHash: hardwareIdHash(f.hardwareId),
          version: f.version,
        })),
      );
      const all = await r.releases();
      expect(all.map((x) => x.metadataHash)).toContain(e.metadataHash);
      r.destroy();
    });

    it('waits for the requested confirmations before it resolves', async () => {
      const writer = publisherWriter(3);
      let done = false;
      const pending = writer.logRelease(entry()).finally(() => (done = true));
      const head0 = await t.provider.getBlockNumber();
      while (!done) {
        await t.mine(1);
        await new Promise((r) => setTimeout(r, 60));
      }
      const receipt = await pending;
      const head = await t.provider.getBlockNumber();
      expect(head - receipt.blockNumber + 1).toBeGreaterThanOrEqual(3);
      expect(receipt.blockNumber).toBeGreaterThan(head0);
    });
  });

  describe('when the metadata hash was never logged', () => {
    it('throws METADATA_NOT_LOGGED', async () => {
      const r = reader([t.chain.rpcUrl], 1);
      expect(await codeOf(r.findRelease(hash()))).toBe('METADATA_NOT_LOGGED');
      r.destroy();
    });
  });

  describe('when the entry is shallower than the confirmation depth', () => {
    it('throws NOT_CONFIRMED, then finds it once enough blocks follow', async () => {
      const writer = publisherWriter();
      const e = entry();
      await writer.logRelease(e);
      const r = reader([t.chain.rpcUrl], 1, 4);
      expect(await codeOf(r.findRelease(e.metadataHash))).toBe('NOT_CONFIRMED');
      await t.mine(3);
      expect((await r.findRelease(e.metadataHash)).confirmations).toBe(4);
      r.destroy();
    });
  });

  describe('when the contract refuses the write', () => {
    it('throws VERSION_NOT_INCREASING for a version that does not increase', async () => {
      const writer = publisherWriter();
      await writer.logRelease(entry());
      expect(await codeOf(writer.logRelease(entry({ metadataVersion: 1 })))).toBe(
        'VERSION_NOT_INCREASING',
      );
    });

    it('returns the first transaction when exactly the same entry is logged again (idempotent retry)', async () => {
      const writer = publisherWriter();
      const e = entry();
      const first = await writer.logRelease(e);
      expect(await writer.logRelease(e)).toEqual(first);
      const tampered = { ...e, firmware: [{ ...e.firmware[0]!, version: 8 }] };
      expect(await codeOf(writer.logRelease(tampered))).toBe('VERSION_NOT_INCREASING');
    });

    it('throws NOT_PUBLISHER for an address without the publisher role', async () => {
      const writer = new ReleaseLogWriter({
        signer: t.stranger,
        contractAddress: t.address,
        confirmations: 1,
        pollIntervalMs: 50,
      });
      expect(await codeOf(writer.logRelease(entry()))).toBe('NOT_PUBLISHER');
    });

    it('throws INVALID_ENTRY / INVALID_HASH before sending malformed input', async () => {
      const writer = new ReleaseLogWriter({
        signer: t.publisher,
        contractAddress: t.address,
        confirmations: 1,
      });
      expect(await codeOf(writer.logRelease(entry({ metadataVersion: 0 })))).toBe('INVALID_ENTRY');
      expect(await codeOf(writer.logRelease(entry({ metadataHash: '0x1234' })))).toBe(
        'INVALID_HASH',
      );
    });
  });

  describe('trustedTime', () => {
    it('returns the latest block that is confirmations deep, with its timestamp', async () => {
      await t.mine(3);
      const head = await t.provider.getBlockNumber();
      const r = reader([t.chain.rpcUrl], 1, 3);
      const time = await r.trustedTime();
      const block = await t.provider.getBlock(head - 2);
      expect(time).toEqual({
        blockNumber: head - 2,
        blockHash: block?.hash,
        timestamp: block?.timestamp,
      });
      r.destroy();
    });
  });

  describe('recalls and minimum versions', () => {
    it('reads a recall and a minimum version the publisher set', async () => {
      const digest = hash();
      const r = reader([t.chain.rpcUrl], 1);
      expect(await r.isRecalled(digest)).toBe(false);
      expect(await r.minimumVersion('ecu-brake-v1')).toBe(0);
      const recall = (await t.connect().getFunction('recall')(
        digest,
        'CVE-2026-0001',
      )) as ContractTransactionResponse;
      await recall.wait();
      const floor = (await t.connect().getFunction('setMinimumVersion')(
        hardwareIdHash('ecu-brake-v1'),
        5n,
      )) as ContractTransactionResponse;
      await floor.wait();
      expect(await r.isRecalled(digest)).toBe(true);
      expect(await r.minimumVersion('ecu-brake-v1')).toBe(5);
      r.destroy();
    });
  });
});

describe('ChainReader quorum over 3 RPC endpoints', () => {
  let honest: RpcProxy;
  let liarA: RpcProxy;
  let liarB: RpcProxy;
  let logged: ReleaseEntry;

  beforeAll(async () => {
    honest = await startRpcProxy(t.chain.rpcUrl);
    liarA = await startRpcProxy(t.chain.rpcUrl);
    liarB = await startRpcProxy(t.chain.rpcUrl);
    logged = entry();
    await publisherWriter().logRelease(logged);
  });

  afterAll(async () => {
    await Promise.all([honest?.close(), liarA?.close(), liarB?.close()]);
  });

  const table = [
    { desc: 'one endpoint hides the entry', lies: [hideLogs, null], want: 'OK' },
    { desc: 'one endpoint serves a forked block hash', lies: [forgeBlockHashes, null], want: 'OK' },
    {
      desc: 'two endpoints hide the entry',
      lies: [hideLogs, hideLogs],
      want: 'METADATA_NOT_LOGGED',
    },
    {
      desc: 'two endpoints lie differently',
      lies: [hideLogs, forgeBlockHashes],
      want: 'QUORUM_DISAGREES',
    },
  ] as const;

  for (const { desc, lies, want } of table) {
    it(`${want === 'OK' ? 'finds the entry' : `throws ${want}`} when ${desc}`, async () => {
      liarA.setRewrite(lies[0]);
      liarB.setRewrite(lies[1]);
      const r = reader([honest.url, liarA.url, liarB.url], 2);
      if (want === 'OK') {
        expect((await r.findRelease(logged.metadataHash)).metadataVersion).toBe(
          logged.metadataVersion,
        );
        expect((await r.trustedTime()).blockHash).toMatch(/^0x[0-9a-f]{64}$/);
      } else {
        expect(await codeOf(r.findRelease(logged.metadataHash))).toBe(want);
      }
      r.destroy();
    });
  }

  it('refuses with QUORUM_DISAGREES when 2 of 3 forge block hashes the same way', async () => {
    // Two colluding endpoints agree with each other, so a quorum of 2 follows them: the quorum
    // must exceed the number of colluders. With quorum 3 the reader refuses.
    liarA.setRewrite(forgeBlockHashes);
    liarB.setRewrite(forgeBlockHashes);
    const r = reader([honest.url, liarA.url, liarB.url], 3);
    expect(await codeOf(r.findRelease(logged.metadataHash))).toBe('QUORUM_DISAGREES');
    expect(await codeOf(r.trustedTime())).toBe('QUORUM_DISAGREES');
    r.destroy();
  });

  it('keeps a 2-of-3 quorum when one endpoint is down, and throws RPC_UNAVAILABLE when two are', async () => {
    liarA.setRewrite(null);
    liarB.setRewrite(null);
    const dead = `http://127.0.0.1:${await findFreePort()}`;
    const r1 = reader([honest.url, liarA.url, dead], 2);
    expect((await r1.findRelease(logged.metadataHash)).metadataHash).toBe(logged.metadataHash);
    r1.destroy();
    const dead2 = `http://127.0.0.1:${await findFreePort()}`;
    const r2 = reader([honest.url, dead2, dead], 2);
    expect(await codeOf(r2.findRelease(logged.metadataHash))).toBe('RPC_UNAVAILABLE');
    expect(await codeOf(r2.trustedTime())).toBe('RPC_UNAVAILABLE');
    expect(await codeOf(r2.releases())).toBe('RPC_UNAVAILABLE');
    r2.destroy();
  });

  it('throws RPC_UNAVAILABLE when endpoints accept connections but never answer', async () => {
    const { createServer } = await import('node:http');
    const hanging = createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const { port } = hanging.address() as AddressInfo;
    const r = new ChainReader({
      rpcUrls: [honest.url, `http://127.0.0.1:${port}`],
      quorum: 2,
      confirmations: 1,
      contractAddress: t.address,
      timeoutMs: 300,
    });
    expect(await codeOf(r.findRelease(logged.metadataHash))).toBe('RPC_UNAVAILABLE');
    r.destroy();
    hanging.closeAllConnections();
    await new Promise<void>((resolve) => hanging.close(() => resolve()));
  });

  it('throws RPC_UNAVAILABLE from the writer when its RPC is down', async () => {
    const { JsonRpcProvider, Network, Wallet } = await import('ethers');
    const network = Network.from(t.chain.chainId);
    const deadProvider = new JsonRpcProvider(`http://127.0.0.1:${await findFreePort()}`, network, {
      staticNetwork: network,
    });
    const writer = new ReleaseLogWriter({
      signer: new Wallet(t.publisher.privateKey, deadProvider),
      contractAddress: t.address,
      confirmations: 1,
    });
    expect(await codeOf(writer.logRelease(entry()))).toBe('RPC_UNAVAILABLE');
    deadProvider.destroy();
  });
});

describe('ChainReader after a reorg', () => {
  it('treats an entry whose transaction was reorged out as absent', async () => {
    const writer = publisherWriter();
    const e = entry();
    await writer.logRelease(e);
    const r = reader([t.chain.rpcUrl], 1);
    await r.findRelease(e.metadataHash);
    await t.provider.send('anvil_reorg', [1, []]);
    expect(await codeOf(r.findRelease(e.metadataHash))).toBe('METADATA_NOT_LOGGED');
    r.destroy();
  });

  it('answers what is new after a confirmed block, and says when that block was reorged out', async () => {
    const writer = publisherWriter();
    const r = reader([t.chain.rpcUrl], 1);
    const first = entry();
    await writer.logRelease(first);
    const before = await r.releasesAfter();
    expect(before.reorganized).toBe(false);
    expect(before.releases.map((x) => x.metadataHash)).toContain(first.metadataHash);

    const second = entry();
    await writer.logRelease(second);
    const since = await r.releasesAfter(before.confirmed);
    expect(since.reorganized).toBe(false);
    expect(since.releases.map((x) => x.metadataHash)).toEqual([second.metadataHash]);
    expect(since.confirmed.blockNumber).toBeGreaterThan(before.confirmed.blockNumber);

    await t.provider.send('anvil_reorg', [1, []]);
    const after = await r.releasesAfter(since.confirmed);
    expect(after.reorganized).toBe(true);
    const hashes = after.releases.map((x) => x.metadataHash);
    expect(hashes).toContain(first.metadataHash);
    expect(hashes).not.toContain(second.metadataHash);
    r.destroy();
  });
});
