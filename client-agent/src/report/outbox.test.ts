import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PROOF_BUNDLE_MEDIA_TYPE } from '@tufchain/transparency';
import { serveHuge, serveTrickle, type HostileAnswer } from '../../test/helpers/hostile.js';
import { ReportOutbox } from './outbox.js';
import { collectInclusionProofs, fetchProofBundle, storedInclusionProof } from './proofs.js';

const MiB = 1024 * 1024;
/** Files under the outbox's `sub` folder (none when it does not exist). */
const filesIn = async (sub: string): Promise<string[]> =>
  readdir(join(dir, 'outbox', sub)).catch(() => []);

let answer: (req: IncomingMessage, res: ServerResponse, body: string) => void;
const received: string[] = [];
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    received.push(body);
    answer(req, res, body);
  });
});
let url = '';
let dir: string;

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(async () => {
  received.length = 0;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = await mkdtemp(join(tmpdir(), 'outbox-'));
});

describe('ReportOutbox', () => {
  describe('when the server accepts reports', () => {
    it('sends them in counter order and keeps the server answer as a receipt', async () => {
      answer = (_req, res, body) =>
        res.writeHead(202).end(JSON.stringify({ promise: body.length }));
      const outbox = new ReportOutbox(dir);
      await outbox.enqueue(2, 'bbbb', { n: 2 });
      await outbox.enqueue(1, 'aaaa', { n: 1 });
      const result = await outbox.flush(url);
      expect(result.sent).toEqual(['000000000001-aaaa', '000000000002-bbbb']);
      expect(received.map((b) => JSON.parse(b) as unknown)).toEqual([{ n: 1 }, { n: 2 }]);
      expect(await outbox.receipt('000000000001-aaaa')).toEqual({ promise: 7 });
      expect(await outbox.list()).toEqual([]);
      expect(await outbox.findByKey('bbbb')).toBe('000000000002-bbbb');
    });
  });

  describe('when the server is unreachable or answers 404 or 503', () => {
    it('keeps every report queued', async () => {
      const outbox = new ReportOutbox(dir);
      await outbox.enqueue(1, 'aaaa', { n: 1 });
      expect((await outbox.flush('http://127.0.0.1:1')).pending).toEqual(['000000000001-aaaa']);
      for (const status of [404, 503]) {
        answer = (_req, res) => res.writeHead(status).end();
        expect((await outbox.flush(url)).pending).toEqual(['000000000001-aaaa']);
      }
      expect(await outbox.list()).toHaveLength(1);
    });
  });

  describe('when the server refuses a report as invalid', () => {
    it('moves it to rejected/ (never deletes it) and goes on with the next one', async () => {
      let first = true;
      answer = (_req, res) => {
        res.writeHead(first ? 400 : 202).end('{}');
        first = false;
      };
      const outbox = new ReportOutbox(dir);
      await outbox.enqueue(1, 'aaaa', { n: 1 });
      await outbox.enqueue(2, 'bbbb', { n: 2 });
      const result = await outbox.flush(url);
      expect(result).toMatchObject({
        rejected: ['000000000001-aaaa'],
        sent: ['000000000002-bbbb'],
      });
      expect(await outbox.get('000000000001-aaaa')).toEqual({ n: 1 });
    });
  });

  describe('when the server answers with a log index', () => {
    it('stores the inclusion proof bundle once the entry is anchored', async () => {
      const h = '0x' + 'ab'.repeat(32);
      const proofBundle = {
        mediaType: PROOF_BUNDLE_MEDIA_TYPE,
        entry: { index: 7, data: 'AAAA' },
        inclusionProof: { treeSize: 8, hashes: ['AAAA'] },
        checkpoint: 'log.example\n8\nAAAA\n\n— log.example sig\n',
        anchor: {
          chainId: 31337,
          contractAddress: '0x' + '12'.repeat(20),
          size: 8,
          rootHash: h,
          txHash: h,
          blockNumber: 9,
          blockHash: h,
        },
      };
      let anchored = false;
      answer = (req, res) => {
        if (req.method === 'POST')
          return void res.writeHead(201).end(JSON.stringify({ id: 1, logIndex: 7 }));
        expect(req.url).toBe('/api/v1/log/proof-bundle?index=7');
        if (!anchored) return void res.writeHead(404).end('{"error":{"code":"NOT_ANCHORED"}}');
        res.writeHead(200).end(JSON.stringify(proofBundle));
      };
      const outbox = new ReportOutbox(dir);
      const id = await outbox.enqueue(1, 'aaaa', { n: 1 });
      await outbox.flush(url);
      expect(await collectInclusionProofs(outbox, url)).toEqual([]);
      expect(await storedInclusionProof(outbox, id)).toBeUndefined();
      anchored = true;
      expect(await collectInclusionProofs(outbox, url)).toEqual([id]);
      expect(await storedInclusionProof(outbox, id)).toEqual(proofBundle);
      expect(await collectInclusionProofs(outbox, url)).toEqual([]);
    });
  });

  describe('a hostile server answering 256 MiB', () => {
    // The server streams the answer as fast as the agent reads it; `sent` is how much the agent
    // let through before it hung up (the socket buffers hold a few MiB of it).
    let huge: HostileAnswer | undefined;
    beforeEach(() => {
      huge = undefined;
    });

    for (const status of [202, 400]) {
      it(`cuts a ${status} answer at answerMaxLength, keeps the report queued and writes nothing of it`, async () => {
        answer = (_req, res) => void (huge = serveHuge(res, 256 * MiB, status));
        const outbox = new ReportOutbox(dir);
        await outbox.enqueue(1, 'aaaa', { n: 1 });
        const result = await outbox.flush(url);
        expect(result).toMatchObject({
          sent: [],
          rejected: [],
          pending: ['000000000001-aaaa'],
          failure: { id: '000000000001-aaaa', code: 'ENDLESS_DATA' },
        });
        await huge?.closed;
        expect(huge?.sent).toBeLessThan(64 * MiB);
        expect(await filesIn('receipts')).toEqual([]);
        expect(await outbox.list()).toHaveLength(1);
      });
    }

    it('cuts a proof bundle at answerMaxLength and keeps nothing', async () => {
      answer = (req, res) => {
        if (req.method === 'POST') return void res.writeHead(201).end('{"logIndex":3}');
        huge = serveHuge(res, 256 * MiB);
      };
      const outbox = new ReportOutbox(dir);
      const id = await outbox.enqueue(1, 'aaaa', { n: 1 });
      await outbox.flush(url);
      await expect(fetchProofBundle(url, 3, { limits: outbox.limits })).rejects.toMatchObject({
        code: 'ENDLESS_DATA',
      });
      expect(await collectInclusionProofs(outbox, url)).toEqual([]);
      await huge?.closed;
      expect(huge?.sent).toBeLessThan(64 * MiB);
      expect(await storedInclusionProof(outbox, id)).toBeUndefined();
      expect(await filesIn('proofs')).toEqual([]);
    });
  });

  describe('a hostile server trickling its answer', () => {
    it('cuts it with DOWNLOAD_TOO_SLOW and keeps the report queued', async () => {
      answer = (_req, res) => void serveTrickle(res, Buffer.from('{"logIndex":1}'.repeat(50)), 50);
      const outbox = new ReportOutbox(dir, {
        downloadGraceMs: 200,
        minDownloadBytesPerSecond: 1000,
      });
      await outbox.enqueue(1, 'aaaa', { n: 1 });
      const result = await outbox.flush(url);
      expect(result).toMatchObject({
        pending: ['000000000001-aaaa'],
        failure: { code: 'DOWNLOAD_TOO_SLOW' },
      });
      expect(await filesIn('receipts')).toEqual([]);
    });
  });
});
