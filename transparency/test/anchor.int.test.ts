import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { Contract, JsonRpcProvider, Network, Wallet } from 'ethers';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TUFCHAIN_LOG_ABI } from '@tufchain/contracts';
import {
  AnchorService,
  createNoteVerifier,
  createProofBundle,
  verifyProofBundle,
  verifyProofBundleOffline,
  type ProofBundle,
  ChainReader,
  createNoteSigner,
  openLogDatabase,
  SqliteAnchorOutbox,
  SqliteLogStorage,
  TransparencyError,
  TransparencyLog,
  type AnchorConfig,
  type LogEntryDocument,
} from '../src/index.js';
import {
  startTestChain,
  type TestChain,
  startRpcProxy,
  type RpcProxy,
} from '@tufchain/contracts/dev';

let t: TestChain;
let proxy: RpcProxy;
let dir: string;
let db: DatabaseSync;
let log: TransparencyLog;
let address: string;
let deployBlock: number;
const providers: JsonRpcProvider[] = [];

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const noteVerifier = createNoteVerifier('tufchain.test/log', publicKey);
const noteSigner = createNoteSigner('tufchain.test/log', privateKey);
const entry = (): LogEntryDocument => ({
  type: 'recall',
  subject: '0x' + randomBytes(32).toString('hex'),
  reason: 'test',
});

function operatorVia(url: string, wallet = t.operator): Wallet {
  const network = Network.from(t.chain.chainId);
  const provider = new JsonRpcProvider(url, network, { staticNetwork: network, cacheTimeout: -1 });
  providers.push(provider);
  return new Wallet(wallet.privateKey, provider);
}

function service(
  config: Partial<AnchorConfig> = {},
  signer = operatorVia(proxy.url),
  errors: TransparencyError[] = [],
): AnchorService {
  return new AnchorService({
    log,
    outbox: new SqliteAnchorOutbox(db),
    signer,
    contractAddress: address,
    config: { confirmations: 1, pollIntervalMs: 25, ...config },
    onError: (e) => errors.push(e),
  });
}

function reader(): ChainReader {
  return new ChainReader({
    rpcUrls: [t.chain.rpcUrl],
    quorum: 1,
    confirmations: 1,
    contractAddress: address,
    fromBlock: deployBlock,
  });
}

async function chainCheckpoint(): Promise<{ size: number; root: string }> {
  const c = new Contract(address, TUFCHAIN_LOG_ABI as never, t.provider);
  const [size, root] = (await c.getFunction('latestCheckpoint')()) as [bigint, string];
  return { size: Number(size), root };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TransparencyError);
    return (err as TransparencyError).code;
  }
  return 'NO_ERROR';
}

const rootHex = async (size: number) => '0x' + Buffer.from(await log.root(size)).toString('hex');

beforeAll(async () => {
  t = await startTestChain();
  proxy = await startRpcProxy(t.chain.rpcUrl);
});

afterAll(async () => {
  for (const p of providers) p.destroy();
  await proxy?.close();
  await t?.stop();
});

beforeEach(async () => {
  proxy.setFailing(null);
  ({ address, deployBlock } = await t.deploy());
  dir = await mkdtemp(join(tmpdir(), 'tufchain-anchor-'));
  db = openLogDatabase(join(dir, 'log.sqlite'));
  log = new TransparencyLog({
    storage: new SqliteLogStorage(db),
    origin: 'tufchain.test/log',
    signers: [noteSigner],
  });
});

afterEach(async () => {
  db.close();
  await rm(dir, { recursive: true, force: true });
});

describe('AnchorService', () => {
  describe('when the chain is healthy', () => {
    it('anchors successive checkpoints, each extending the last by a consistency proof checked on chain', async () => {
      const s = service();
      await log.append(...Array.from({ length: 5 }, entry));
      const first = await s.anchorNow();
      expect(first).toMatchObject({ size: 5, status: 'confirmed', rootHash: await rootHex(5) });
      await log.append(...Array.from({ length: 7 }, entry));
      const second = await s.anchorNow();
      expect(second).toMatchObject({ size: 12, status: 'confirmed' });
      expect(await chainCheckpoint()).toEqual({ size: 12, root: await rootHex(12) });
      const r = reader();
      const anchors = await r.anchors();
      expect(anchors.map((a) => [a.size, a.previousSize, a.rootHash])).toEqual([
        [5, 0, await rootHex(5)],
        [12, 5, await rootHex(12)],
      ]);
      expect((await r.findCheckpointAnchor(12)).txHash).toBe(second.txHash);
      expect(await codeOf(r.findCheckpointAnchor(7))).toBe('NOT_ANCHORED');
      r.destroy();
    });

    it('anchors every N entries, at once for a release, and after T seconds for a remainder', async () => {
      const s = service({ batchSize: 10, intervalMs: 400 });
      s.start();
      const waitFor = async (size: number) => {
        for (let i = 0; i < 200 && !(await s.anchorCovering(size - 1)); i++)
          await new Promise((r) => setTimeout(r, 25));
        return s.anchorCovering(size - 1);
      };
      await log.append(...Array.from({ length: 10 }, entry));
      s.notifyAppended();
      expect((await waitFor(10))?.size).toBe(10);
      await log.append({
        type: 'release',
        metadataVersion: 1,
        metadataHash: '0x' + 'ab'.repeat(32),
        firmware: [],
      });
      s.notifyAppended({ urgent: true });
      expect((await waitFor(11))?.size).toBe(11);
      await log.append(entry(), entry());
      s.notifyAppended();
      expect((await waitFor(13))?.size).toBe(13);
      await s.stop();
    });
  });

  describe('when many reports notify at once', () => {
    it('signs one checkpoint for the batch they complete, not one per notification', async () => {
      const s = service({ batchSize: 10, intervalMs: 60_000 });
      s.start();
      const signed: number[] = [];
      const checkpoint = log.checkpoint.bind(log);
      log.checkpoint = (size?: number) => {
        signed.push(size ?? -1);
        return checkpoint(size);
      };
      try {
        await log.append(...Array.from({ length: 10 }, entry));
        for (let i = 0; i < 50; i++) s.notifyAppended();
        for (let i = 0; i < 200 && !(await s.anchorCovering(9)); i++)
          await new Promise((r) => setTimeout(r, 25));
        expect((await s.anchorCovering(9))?.size).toBe(10);
        expect(signed).toEqual([10]);
      } finally {
        log.checkpoint = checkpoint;
        await s.stop();
      }
    });
  });

  describe('when the RPC endpoint is down', () => {
    it('loses nothing, and after recovery anchors everything exactly once', async () => {
      const errors: TransparencyError[] = [];
      const s = service({}, undefined, errors);
      await log.append(...Array.from({ length: 4 }, entry));
      await s.enqueue();
      proxy.setFailing('all');
      expect(await codeOf(s.flush(300))).toBe('TX_TIMEOUT');
      expect(errors.map((e) => e.code)).toContain('RPC_UNAVAILABLE');
      await log.append(...Array.from({ length: 3 }, entry));
      await s.enqueue();
      expect((await s.outbox.open()).map((r) => r.size)).toEqual([4, 7]);
      proxy.setFailing(null);
      await s.flush(10_000);
      expect(await chainCheckpoint()).toEqual({ size: 7, root: await rootHex(7) });
      const r = reader();
      expect((await r.anchors()).map((a) => a.size)).toEqual([7]);
      r.destroy();
      expect((await s.anchorCovering(0))?.size).toBe(7);
    });

    it('keeps one background loop through an outage, stops it on stop(), and anchors after a restart', async () => {
      const errors: TransparencyError[] = [];
      proxy.setFailing('all');
      const s = service({ intervalMs: 60_000, pollIntervalMs: 20 }, undefined, errors);
      s.start();
      for (let i = 0; i < 10; i++) {
        await log.append(entry());
        s.notifyAppended({ urgent: true });
      }
      await new Promise((r) => setTimeout(r, 200));
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.length).toBeLessThan(30); // one loop polling every 20 ms, not ten
      await s.stop();
      const after = errors.length;
      await new Promise((r) => setTimeout(r, 150));
      expect(errors.length).toBe(after);
      proxy.setFailing(null);
      const restarted = service();
      await restarted.flush(10_000);
      expect(await chainCheckpoint()).toEqual({ size: 10, root: await rootHex(10) });
    });

    it('re-broadcasts the recorded transaction after a failed broadcast and a crash', async () => {
      proxy.setFailing(['eth_sendRawTransaction']);
      const a = service();
      await log.append(...Array.from({ length: 3 }, entry));
      await a.enqueue();
      expect(await a.step()).toBe('waiting');
      const sent = (await a.outbox.get(3))!;
      expect(sent.status).toBe('sent');
      // The process dies here; a new instance opens the same outbox.
      proxy.setFailing(null);
      const b = service();
      await b.flush(10_000);
      expect(await b.outbox.get(3)).toMatchObject({ status: 'confirmed', txHash: sent.txHash });
      const r = reader();
      expect((await r.anchors()).map((x) => [x.size, x.txHash])).toEqual([[3, sent.txHash]]);
      r.destroy();
    });
  });

  describe('when the recorded transaction can never be mined', () => {
    it('re-signs with a fresh nonce after another transaction spent its nonce, and anchors once', async () => {
      proxy.setFailing(['eth_sendRawTransaction']);
      const s = service();
      await log.append(...Array.from({ length: 2 }, entry));
      await s.enqueue();
      await s.step();
      const stale = (await s.outbox.get(2))!;
      expect(stale.status).toBe('sent');
      // Someone else uses the operator key: the recorded transaction's nonce is spent.
      const other = await t.operator.sendTransaction({
        to: t.operator.address,
        value: 0n,
        nonce: stale.nonce!,
      });
      await other.wait();
      proxy.setFailing(null);
      await s.flush(10_000);
      const done = (await s.outbox.get(2))!;
      expect(done.status).toBe('confirmed');
      expect(done.txHash).not.toBe(stale.txHash);
      expect(done.nonce).toBe(stale.nonce! + 1);
      const r = reader();
      expect((await r.anchors()).map((a) => [a.size, a.txHash])).toEqual([[2, done.txHash]]);
      r.destroy();
    });
  });

  describe('when the anchoring transaction is reorged out', () => {
    it('re-submits it and counts it only once it is confirmed on the canonical chain', async () => {
      const s = service({ confirmations: 3 });
      await log.append(...Array.from({ length: 6 }, entry));
      await s.enqueue();
      await s.step();
      const sent = (await s.outbox.get(6))!;
      expect(sent.status).toBe('sent');
      expect((await t.provider.getTransactionReceipt(sent.txHash!))?.blockNumber).toBeGreaterThan(
        0,
      );
      await t.provider.send('anvil_reorg', [1, []]);
      expect((await chainCheckpoint()).size).toBe(0);
      let done = false;
      const flushing = s.flush(20_000).finally(() => (done = true));
      while (!done) {
        await t.mine(1);
        await new Promise((r) => setTimeout(r, 30));
      }
      await flushing;
      const confirmed = (await s.outbox.get(6))!;
      expect(confirmed.status).toBe('confirmed');
      const block = await t.provider.getBlock(confirmed.blockNumber!);
      expect(block?.hash).toBe(confirmed.blockHash);
      expect(await chainCheckpoint()).toEqual({ size: 6, root: await rootHex(6) });
      const r = reader();
      expect((await r.anchors()).map((a) => a.size)).toEqual([6]);
      r.destroy();
    });
  });

  describe('attacks', () => {
    it('refuses to anchor a log whose history differs from the anchored one (CHECKPOINT_INCONSISTENT)', async () => {
      await log.append(...Array.from({ length: 4 }, entry));
      await service().anchorNow();
      const forkDb = openLogDatabase(join(dir, 'fork.sqlite'));
      const fork = new TransparencyLog({
        storage: new SqliteLogStorage(forkDb),
        origin: 'tufchain.test/log',
        signers: [noteSigner],
      });
      await fork.append(...Array.from({ length: 6 }, entry));
      const forked = new AnchorService({
        log: fork,
        outbox: new SqliteAnchorOutbox(forkDb),
        signer: operatorVia(t.chain.rpcUrl),
        contractAddress: address,
        config: { confirmations: 1 },
      });
      expect(await codeOf(forked.anchorNow())).toBe('CHECKPOINT_INCONSISTENT');
      forkDb.close();
    });

    it('is refused on chain with ANCHOR_REJECTED when the consistency proof is forged', async () => {
      await log.append(...Array.from({ length: 4 }, entry));
      await service().anchorNow();
      await log.append(...Array.from({ length: 3 }, entry));
      const proof = (await log.consistencyProof(4, 7)).map(
        (h) => '0x' + Buffer.from(h).toString('hex'),
      );
      proof[0] = '0x' + 'ee'.repeat(32);
      const c = new Contract(address, TUFCHAIN_LOG_ABI as never, t.operator);
      const { mapChainError } = await import('../src/chain/errors.js');
      const code = await c
        .getFunction('anchor')
        .estimateGas(7, await rootHex(7), proof)
        .then(
          () => 'NO_ERROR',
          (err: unknown) => mapChainError(err, 'anchor').code,
        );
      expect(code).toBe('ANCHOR_REJECTED');
    });

    it('throws NOT_LOG_OPERATOR for a signer without the log-operator role', async () => {
      await log.append(entry());
      const s = service({}, operatorVia(t.chain.rpcUrl, t.stranger));
      expect(await codeOf(s.anchorNow())).toBe('NOT_LOG_OPERATOR');
    });

    it('waits instead of paying more than the fee cap (FEE_TOO_HIGH), sending nothing', async () => {
      const errors: TransparencyError[] = [];
      const s = service({ maxFeePerGas: 1n }, undefined, errors);
      await log.append(entry());
      await s.enqueue();
      expect(await codeOf(s.flush(200))).toBe('TX_TIMEOUT');
      expect(errors.map((e) => e.code)).toContain('FEE_TOO_HIGH');
      expect((await s.outbox.get(1))?.status).toBe('pending');
    });
  });
});

describe('proof bundles', () => {
  async function anchoredBundle(index: number): Promise<ProofBundle> {
    await log.append(...Array.from({ length: 9 }, entry));
    const anchor = await service().anchorNow();
    return createProofBundle({
      log,
      index,
      anchor,
      chainId: t.chain.chainId,
      contractAddress: address,
    });
  }
  const trust = () => ({ logVerifiers: [noteVerifier], origin: 'tufchain.test/log' });

  it('verifies offline against the log key, then online against the anchoring transaction', async () => {
    const bundle = await anchoredBundle(3);
    const offline = verifyProofBundleOffline(JSON.parse(JSON.stringify(bundle)), trust());
    expect(offline).toMatchObject({ index: 3, checkpoint: { size: 9 } });
    expect(offline.entry.type).toBe('recall');
    const r = reader();
    const online = await verifyProofBundle(bundle, { ...trust(), chain: r });
    expect(online.anchor.txHash).toBe(bundle.anchor.txHash);
    r.destroy();
  });

  const attacks: {
    desc: string;
    tamper: (b: ProofBundle) => unknown;
    wantCode: string;
    online?: boolean;
  }[] = [
    {
      desc: 'another entry',
      tamper: (b) => ({
        ...b,
        entry: { ...b.entry, data: Buffer.from('{"type":"recall"}').toString('base64') },
      }),
      wantCode: 'INCLUSION_PROOF_INVALID',
    },
    {
      desc: 'another index',
      tamper: (b) => ({ ...b, entry: { ...b.entry, index: b.entry.index + 1 } }),
      wantCode: 'INCLUSION_PROOF_INVALID',
    },
    {
      desc: 'a forged proof hash',
      tamper: (b) => ({
        ...b,
        inclusionProof: {
          ...b.inclusionProof,
          hashes: b.inclusionProof.hashes.map(() => Buffer.alloc(32, 1).toString('base64')),
        },
      }),
      wantCode: 'INCLUSION_PROOF_INVALID',
    },
    {
      desc: 'a checkpoint note with an edited size',
      tamper: (b) => ({ ...b, checkpoint: b.checkpoint.replace('\n9\n', '\n8\n') }),
      wantCode: 'NOTE_SIGNATURE_INVALID',
    },
    {
      desc: 'an anchor root that is not the checkpoint root',
      tamper: (b) => ({ ...b, anchor: { ...b.anchor, rootHash: '0x' + 'ab'.repeat(32) } }),
      wantCode: 'PROOF_BUNDLE_MISMATCH',
    },
    {
      desc: 'not a bundle',
      tamper: () => ({ mediaType: 'x' }),
      wantCode: 'MALFORMED_PROOF_BUNDLE',
    },
    {
      desc: 'an anchoring transaction that is not the one on chain',
      tamper: (b) => ({ ...b, anchor: { ...b.anchor, txHash: '0x' + 'cd'.repeat(32) } }),
      wantCode: 'PROOF_BUNDLE_MISMATCH',
      online: true,
    },
  ];
  for (const { desc, tamper, wantCode, online } of attacks) {
    it(`throws ${wantCode} for ${desc}`, async () => {
      const bundle = tamper(await anchoredBundle(2));
      const r = reader();
      const code = await codeOf(
        online
          ? verifyProofBundle(bundle, { ...trust(), chain: r })
          : Promise.resolve().then(() => verifyProofBundleOffline(bundle, trust())),
      );
      r.destroy();
      expect(code).toBe(wantCode);
    });
  }

  it('throws NOT_ANCHORED online once the anchor is reorged out', async () => {
    const bundle = await anchoredBundle(0);
    await t.provider.send('anvil_reorg', [1, []]);
    const r = reader();
    expect(await codeOf(verifyProofBundle(bundle, { ...trust(), chain: r }))).toBe('NOT_ANCHORED');
    r.destroy();
  });
});
