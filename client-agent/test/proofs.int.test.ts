import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestChain, type TestChain } from '@tufchain/contracts/dev';
import { createKeySigner, generateKeyPair, signStatementBundle } from '@tufchain/keys';
import {
  ChainReader,
  createNoteSigner,
  formatVerifierKey,
  LogService,
  type ProofBundle,
} from '@tufchain/transparency';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectInclusionProofs, ReportOutbox, storedInclusionProof } from '../src/index.js';

const ORIGIN = 'tufchain.test/agent-proofs';

/**
 * The agent's side of the log on real parts: a real anvil with the contract, a real LogService
 * (SQLite) anchoring as the log operator, and a loopback HTTP server in front of it that can turn
 * hostile (point a receipt at someone else's entry, rewrite the anchor) or go away.
 */
describe('collectInclusionProofs', () => {
  let chain: TestChain;
  let reader: ChainReader;
  let dir: string;
  let log: LogService;
  let http: Server;
  let url: string;
  let mode: 'honest' | 'other-entry' | 'rewrite-anchor' = 'honest';
  let otherIndex = 0;
  const noteKey = generateKeyPairSync('ed25519');
  const logKey = formatVerifierKey(ORIGIN, noteKey.publicKey);
  const strangerKey = formatVerifierKey(ORIGIN, generateKeyPairSync('ed25519').publicKey);
  const vehicle = createKeySigner(generateKeyPair('ecdsa-p256').privateKey);
  let n = 0;

  beforeAll(async () => {
    chain = await startTestChain();
    dir = await mkdtemp(join(tmpdir(), 'tufchain-agent-proofs-'));
    log = new LogService({
      database: join(dir, 'log.sqlite'),
      origin: ORIGIN,
      signers: [createNoteSigner(ORIGIN, noteKey.privateKey)],
      anchoring: {
        signer: chain.operator,
        contractAddress: chain.address,
        chainId: chain.chain.chainId,
        fromBlock: chain.deployBlock,
        config: { confirmations: 1, pollIntervalMs: 20, intervalMs: 600_000 },
      },
    });
    reader = new ChainReader({
      rpcUrls: [chain.chain.rpcUrl],
      quorum: 1,
      contractAddress: chain.address,
      confirmations: 1,
      chainId: chain.chain.chainId,
      fromBlock: chain.deployBlock,
    });
    http = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          const u = new URL(req.url ?? '/', 'http://x');
          if (req.method === 'POST' && u.pathname === '/api/v1/attestations') {
            const index = await log.appendInstallAttestation(
              JSON.parse(Buffer.concat(chunks).toString()),
            );
            const logIndex = mode === 'other-entry' ? otherIndex : index;
            res.writeHead(201, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ id: index, logIndex }));
            return;
          }
          if (u.pathname === '/api/v1/log/proof-bundle') {
            try {
              const bundle: ProofBundle = await log.proofBundle(
                Number(u.searchParams.get('index')),
              );
              if (mode === 'rewrite-anchor') bundle.anchor.txHash = `0x${'ab'.repeat(32)}`;
              res.writeHead(200, { 'content-type': 'application/json' });
              res.end(JSON.stringify(bundle));
            } catch (e) {
              res.writeHead(404, { 'content-type': 'application/json' });
              res.end(JSON.stringify({ error: { code: (e as { code?: string }).code } }));
            }
            return;
          }
          res.writeHead(404).end();
        })();
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
    reader?.destroy();
    await log?.close();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A fresh outbox with one real signed report, sent (receipt kept) but not yet anchored. */
  async function sentReport(): Promise<{ outbox: ReportOutbox; id: string }> {
    n += 1;
    const outbox = new ReportOutbox(join(dir, `vehicle-${n}`));
    const bundle = await signStatementBundle(
      {
        _type: 'https://in-toto.io/Statement/v1',
        subject: [{ name: `gw-${n}.img`, digest: { sha256: 'c'.repeat(64) } }],
        predicateType: 'https://tufchain.dev/attestation/install/v1',
        predicate: { counter: n },
      },
      vehicle,
    );
    const id = await outbox.enqueue(n, `k${n}`, bundle);
    const flushed = await outbox.flush(url);
    expect(flushed.sent).toEqual([id]);
    return { outbox, id };
  }

  const verify = (keys = [logKey]) => ({ logKeys: keys, origin: ORIGIN, chain: reader });

  describe('when the entry is not anchored yet', () => {
    it('keeps the receipt, stores no proof, and gets it on a later call once anchored', async () => {
      mode = 'honest';
      const { outbox, id } = await sentReport();
      expect(await collectInclusionProofs(outbox, url, undefined, verify())).toEqual([]);
      expect(await storedInclusionProof(outbox, id)).toBeUndefined();
      expect(((await outbox.receipt(id)) as { logIndex: number }).logIndex).toBeTypeOf('number');
      await log.anchors!.anchorNow();
      expect(await collectInclusionProofs(outbox, url, undefined, verify())).toEqual([id]);
      const kept = await storedInclusionProof(outbox, id);
      expect(kept?.anchor.txHash).toMatch(/^0x[0-9a-f]{64}$/);
      // Once kept, it is not asked for again.
      expect(await collectInclusionProofs(outbox, url, undefined, verify())).toEqual([]);
    });
  });

  describe('when the server is unreachable', () => {
    it('loses nothing and throws nothing', async () => {
      mode = 'honest';
      const { outbox, id } = await sentReport();
      await log.anchors!.anchorNow();
      expect(
        await collectInclusionProofs(outbox, 'http://127.0.0.1:9', undefined, verify()),
      ).toEqual([]);
      expect(await readdir(join(outbox.dir, 'sent'))).toEqual([`${id}.json`]);
      expect(await collectInclusionProofs(outbox, url, undefined, verify())).toEqual([id]);
    });
  });

  describe('when the proof bundle must not be kept', () => {
    it.each([
      {
        desc: 'it is signed by a log key the vehicle does not pin',
        mode: 'honest' as const,
        keys: [strangerKey],
      },
      {
        desc: "the receipt points at another vehicle's entry (a genuine, anchored one)",
        mode: 'other-entry' as const,
        keys: [logKey],
      },
      {
        desc: 'the anchor names a transaction the chain does not have',
        mode: 'rewrite-anchor' as const,
        keys: [logKey],
      },
    ])('stores nothing when $desc', async ({ mode: m, keys }) => {
      otherIndex = 0; // the first report of this file, anchored above
      mode = m;
      const { outbox, id } = await sentReport();
      await log.anchors!.anchorNow();
      expect(await collectInclusionProofs(outbox, url, undefined, verify(keys))).toEqual([]);
      expect(await storedInclusionProof(outbox, id)).toBeUndefined();
      // The same bundle from an honest server with the right key is kept: the refusal was the tamper.
      mode = 'honest';
      if (m !== 'other-entry') {
        expect(await collectInclusionProofs(outbox, url, undefined, verify())).toEqual([id]);
      }
    });
  });
});
