import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deployTufchainLog } from '@tufchain/contracts/dev';
import { generateKeyPair, toTufPublicKey } from '@tufchain/keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/run.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { createTufClient } from './support/http.js';
import { NGINX, nginxMissing, startNginx, type RunningNginx } from './support/nginx.js';
import { startWiredServer, type WiredServer } from './support/wired-server.js';

const launcher = fileURLToPath(new URL('../bin/tufchain', import.meta.url));
const noNginx = nginxMissing();
const hasNginx = noNginx === undefined;
if (!hasNginx) console.warn(`export-static.int.test.ts: the nginx test is skipped, ${noNginx}`);

/** The release startWiredServer seeds (in the bins). */
const TARGET = 'gw-1.0.0.img';
const IMMUTABLE = 'public, max-age=31536000, immutable';

interface ExportRun {
  code: number;
  json: Record<string, unknown>;
  stderr: string;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A static file server over `root` (node:http, no framework): what a plain web server does. */
async function serveDirectory(root: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, path));
    if (!file.startsWith(root + sep) || path.split('/').some((p) => p.startsWith('.'))) {
      res.writeHead(404).end();
      return;
    }
    stat(file).then(
      (st) => {
        if (!st.isFile()) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-length': st.size });
        createReadStream(file).pipe(res);
      },
      () => void res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A tuf-js client trusting the server's 1.root.json refreshes from `baseUrl` and downloads TARGET. */
async function updateFrom(
  baseUrl: string,
  rootBytes: Uint8Array,
): Promise<{ image: Buffer; targetSha256: string | undefined }> {
  const { updater, dir } = await createTufClient(baseUrl, rootBytes);
  try {
    await updater.refresh();
    const info = await updater.getTargetInfo(TARGET);
    if (!info) throw new Error(`${TARGET} not found through the export`);
    const path = await updater.downloadTarget(info);
    return { image: await readFile(path), targetSha256: info.hashes.sha256 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('tufchain export-static', () => {
  let chain: TestChain;
  let wired: WiredServer;
  /** A TufchainLog with no entry at all, on the same chain. */
  let emptyLog: { address: string; blockNumber: number };
  let rootBytes: Uint8Array;
  let image: Buffer;
  const temps: string[] = [];

  const tempDir = async (prefix: string): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    temps.push(dir);
    return dir;
  };

  const exportArgs = (dir: string, contract: string, fromBlock: number): string[] => [
    'export-static',
    dir,
    '--server',
    wired.server.url,
    '--rpc',
    chain.chain.rpcUrl,
    '--contract',
    contract,
    '--from-block',
    String(fromBlock),
    '--chain-id',
    String(chain.chain.chainId),
    '--json',
  ];

  /** Runs the command in this process (the same runCli the executable runs). */
  function exportStatic(
    dir: string,
    log: { address: string; blockNumber: number } = {
      address: chain.contractAddress,
      blockNumber: chain.deployBlock,
    },
  ): Promise<ExportRun> {
    return runExport(exportArgs(dir, log.address, log.blockNumber));
  }

  async function runExport(args: string[]): Promise<ExportRun> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(args, {
      env: {},
      io: {
        stdout: (t) => out.push(t),
        stderr: (t) => err.push(t),
        stderrRaw: (t) => err.push(t),
        stderrIsTty: false,
      },
      fetch: globalThis.fetch,
    });
    return {
      code,
      json: JSON.parse(out.join('\n')) as Record<string, unknown>,
      stderr: err.join('\n'),
    };
  }

  /** `export-static --watch 1` in this process until `stop` is aborted (SIGINT/SIGTERM in main.ts). */
  function watchExport(
    dir: string,
    log: { address: string; blockNumber: number },
    stop: AbortController,
  ): { done: Promise<number>; out: string[]; err: string[]; requested: string[] } {
    const out: string[] = [];
    const err: string[] = [];
    const requested: string[] = [];
    const done = runCli([...exportArgs(dir, log.address, log.blockNumber), '--watch', '1'], {
      env: {},
      io: {
        stdout: (t) => out.push(t),
        stderr: (t) => err.push(t),
        stderrRaw: (t) => err.push(t),
        stderrIsTty: false,
      },
      // The real fetch, recording each path asked for.
      fetch: (input, init) => {
        requested.push(new URL(input instanceof Request ? input.url : input).pathname);
        return globalThis.fetch(input, init);
      },
      stopSignal: () => stop.signal,
    });
    return { done, out, err, requested };
  }

  async function waitFor(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** A new snapshot version on the server (a supplier delegation), logged on chain by the publish. */
  async function publishNewSnapshot(id: string): Promise<void> {
    const res = await fetch(`${wired.server.url}/api/v1/suppliers`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${wired.tokens.admin}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        id,
        hardwareIds: [`${id}-ecu`],
        keys: [toTufPublicKey(generateKeyPair('ed25519').privateKey)],
        threshold: 1,
      }),
    });
    expect(res.status).toBe(201);
  }

  const servedTimestamp = async (): Promise<Buffer> =>
    Buffer.from(await (await fetch(`${wired.server.url}/metadata/timestamp.json`)).arrayBuffer());

  beforeAll(async () => {
    chain = await startTestChain();
    // Deployed before the server starts, so the operator's nonce is not shared with anchoring.
    const operator = chain.operator();
    emptyLog = await deployTufchainLog(operator, { admin: operator.address });
    wired = await startWiredServer(chain);
    rootBytes = new Uint8Array(
      await (await fetch(`${wired.server.url}/metadata/1.root.json`)).arrayBuffer(),
    );
    ({ image } = await updateFrom(wired.server.url, rootBytes));
  });

  afterAll(async () => {
    await wired?.close();
    await chain?.stop();
    for (const dir of temps) await rm(dir, { recursive: true, force: true });
  });

  describe('when the snapshot the timestamp pins is confirmed on chain', () => {
    it('mirrors the server URL layout, so a tuf-js client updates from a plain static server exactly as from the server', async () => {
      const dir = await tempDir('tufchain-export-');
      // The real executable once: the command is registered and exits 0.
      const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          launcher,
          exportArgs(dir, chain.contractAddress, chain.deployBlock),
          { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir }, timeout: 60_000 },
          (error, stdout, stderr) =>
            resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr }),
        );
      });
      expect(run.code, run.stderr).toBe(0);
      const result = JSON.parse(run.stdout) as Record<string, unknown>;
      expect(result.timestampWritten).toBe(true);
      expect(result.targetsWritten).toBeGreaterThan(0);
      expect(await readFile(join(dir, 'metadata/timestamp.json'))).toEqual(await servedTimestamp());
      expect(await readFile(join(dir, 'metadata/1.root.json'))).toEqual(Buffer.from(rootBytes));
      expect((result.chain as { txHash: string }).txHash).toMatch(/^0x[0-9a-f]{64}$/);

      const site = await serveDirectory(dir);
      try {
        const viaExport = await updateFrom(site.url, rootBytes);
        expect(viaExport.image).toEqual(image);
        expect(viaExport.targetSha256).toBe(sha256(image));
      } finally {
        await site.close();
      }
    });

    it('a second run leaves every file alone; a new snapshot adds its files and then replaces timestamp.json', async () => {
      const dir = await tempDir('tufchain-export-');
      expect((await exportStatic(dir)).code).toBe(0);
      const again = await exportStatic(dir);
      expect(again.code, again.stderr).toBe(0);
      expect(again.json).toMatchObject({
        metadataWritten: 0,
        targetsWritten: 0,
        timestampWritten: false,
      });

      const before = again.json.snapshotVersion as number;
      await publishNewSnapshot('export-one');
      const next = await exportStatic(dir);
      expect(next.code, next.stderr).toBe(0);
      expect(next.json.snapshotVersion).toBeGreaterThan(before);
      expect(next.json.timestampWritten).toBe(true);
      // The new snapshot and top-level targets; images unchanged.
      expect(next.json.metadataWritten).toBeGreaterThanOrEqual(2);
      expect(next.json.targetsWritten).toBe(0);
      expect(await readFile(join(dir, 'metadata/timestamp.json'))).toEqual(await servedTimestamp());
      expect(existsSync(join(dir, `metadata/${before}.snapshot.json`))).toBe(true);
    });

    it('replaces a corrupted target (its hash is checked) and refuses VERSIONED_FILE_CHANGED for an altered metadata version, writing no timestamp', async () => {
      const dir = await tempDir('tufchain-export-');
      expect((await exportStatic(dir)).code).toBe(0);
      const targetFile = join(dir, `targets/${sha256(image)}.${TARGET}`);
      await writeFile(targetFile, Buffer.from('not the image'));
      const repaired = await exportStatic(dir);
      expect(repaired.code, repaired.stderr).toBe(0);
      expect(repaired.json.targetsWritten).toBe(1);
      expect(await readFile(targetFile)).toEqual(image);
      const sha512 = createHash('sha512').update(image).digest('hex');
      expect(await readFile(join(dir, `targets/${sha512}.${TARGET}`))).toEqual(image);

      await publishNewSnapshot('export-two');
      const timestamp = await readFile(join(dir, 'metadata/timestamp.json'));
      const root = join(dir, 'metadata/1.root.json');
      await writeFile(root, Buffer.concat([await readFile(root), Buffer.from(' ')]));
      const refused = await exportStatic(dir);
      expect(refused.code).toBe(1);
      expect(refused.json).toMatchObject({ error: { code: 'VERSIONED_FILE_CHANGED' } });
      expect(await readFile(join(dir, 'metadata/timestamp.json'))).toEqual(timestamp);
    });
  });

  describe('when the chain has no entry for the snapshot the timestamp pins', () => {
    it('throws METADATA_NOT_LOGGED and keeps the previous timestamp.json (none in a fresh export)', async () => {
      const fresh = await tempDir('tufchain-export-');
      const none = await exportStatic(fresh, emptyLog);
      expect(none.code).toBe(1);
      expect(none.json).toMatchObject({ error: { code: 'METADATA_NOT_LOGGED' } });
      expect(existsSync(join(fresh, 'metadata/timestamp.json'))).toBe(false);
      expect(existsSync(join(fresh, 'metadata/root.json'))).toBe(false);

      const dir = await tempDir('tufchain-export-');
      expect((await exportStatic(dir)).code).toBe(0);
      const previous = await readFile(join(dir, 'metadata/timestamp.json'));
      await publishNewSnapshot('export-three');
      const refused = await exportStatic(dir, emptyLog);
      expect(refused.code).toBe(1);
      expect(refused.json).toMatchObject({ error: { code: 'METADATA_NOT_LOGGED' } });
      expect(await readFile(join(dir, 'metadata/timestamp.json'))).toEqual(previous);
      // The same export against the contract that logged it goes through.
      const logged = await exportStatic(dir);
      expect(logged.code, logged.stderr).toBe(0);
      expect(await readFile(join(dir, 'metadata/timestamp.json'))).not.toEqual(previous);
    });
  });

  describe('when the export already holds a newer timestamp than the server answers (a lagging replica)', () => {
    it('throws TIMESTAMP_ROLLBACK and keeps the newer timestamp.json', async () => {
      const dir = await tempDir('tufchain-export-');
      expect((await exportStatic(dir)).code).toBe(0);
      const path = join(dir, 'metadata/timestamp.json');
      const newer = JSON.parse(await readFile(path, 'utf8')) as { signed: { version: number } };
      newer.signed.version += 100;
      await writeFile(path, JSON.stringify(newer));
      const kept = await readFile(path);
      const refused = await exportStatic(dir);
      expect(refused.code).toBe(1);
      expect(refused.json).toMatchObject({ error: { code: 'TIMESTAMP_ROLLBACK' } });
      expect(await readFile(path)).toEqual(kept);
    });
  });

  describe('when the RPC endpoint serves another chain than --chain-id', () => {
    it('fails before writing anything', async () => {
      const dir = await tempDir('tufchain-export-');
      const args = exportArgs(dir, chain.contractAddress, chain.deployBlock);
      args[args.indexOf('--chain-id') + 1] = String(chain.chain.chainId + 1);
      const refused = await runExport(args);
      expect(refused.code).toBe(1);
      expect(refused.json).toMatchObject({ error: { code: 'CHAIN_ID_MISMATCH' } });
      expect(existsSync(join(dir, 'metadata'))).toBe(false);
    });
  });

  describe('with --watch', () => {
    it('brings each new snapshot into the export once it is confirmed, and exits 0 when stopped', async () => {
      const dir = await tempDir('tufchain-export-');
      const stop = new AbortController();
      const watch = watchExport(
        dir,
        { address: chain.contractAddress, blockNumber: chain.deployBlock },
        stop,
      );
      try {
        await waitFor('the first export', () => watch.out.length === 1);
        await waitFor(
          'a round with nothing new',
          () => watch.requested.filter((p) => p === '/metadata/timestamp.json').length >= 3,
        );
        await publishNewSnapshot('export-watch');
        const served = await servedTimestamp();
        await waitFor('the new timestamp is exported', async () =>
          (await readFile(join(dir, 'metadata/timestamp.json'))).equals(served),
        );
      } finally {
        stop.abort();
      }
      expect(await watch.done, watch.err.join('\n')).toBe(0);
      const rounds = watch.out.map((l) => JSON.parse(l) as { snapshotVersion: number });
      expect(rounds.length).toBeGreaterThanOrEqual(2);
      expect(rounds.at(-1)!.snapshotVersion).toBeGreaterThan(rounds[0]!.snapshotVersion);
      // Each round asks for the timestamp and root.json; a versioned file or target only once.
      const timestampReads = watch.requested.filter((p) => p === '/metadata/timestamp.json');
      expect(timestampReads.length).toBeGreaterThan(rounds.length);
      const onceOnly = watch.requested.filter((p) => /^\/(metadata\/\d|targets\/)/.test(p));
      expect(onceOnly.length).toBeGreaterThan(0);
      expect(onceOnly).toEqual([...new Set(onceOnly)]);
    });

    it('the executable stops on SIGTERM with exit 0', async () => {
      const dir = await tempDir('tufchain-export-');
      const child = spawn(
        launcher,
        [...exportArgs(dir, chain.contractAddress, chain.deployBlock), '--watch', '1'],
        { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir }, stdio: 'pipe' },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      try {
        await waitFor('the first export', () => stdout.includes('\n') || child.exitCode !== null);
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited, stderr).toBe(0);
      expect(existsSync(join(dir, 'metadata/timestamp.json'))).toBe(true);
    });

    it('keeps retrying METADATA_NOT_LOGGED without ever writing timestamp.json', async () => {
      const dir = await tempDir('tufchain-export-');
      const stop = new AbortController();
      const watch = watchExport(dir, emptyLog, stop);
      try {
        await waitFor(
          'two refused rounds',
          () => watch.err.filter((l) => l.includes('METADATA_NOT_LOGGED')).length >= 2,
        );
      } finally {
        stop.abort();
      }
      expect(await watch.done).toBe(0);
      expect(watch.out).toEqual([]);
      expect(existsSync(join(dir, 'metadata/timestamp.json'))).toBe(false);
    });
  });

  describe.skipIf(!hasNginx)(
    `served by nginx (${NGINX}) with deploy/nginx-static.conf.example`,
    () => {
      let nginx: RunningNginx | undefined;
      let baseUrl: string;
      let exportDir: string;

      beforeAll(async () => {
        exportDir = await tempDir('tufchain-export-');
        expect((await exportStatic(exportDir)).code).toBe(0);
        nginx = await startNginx({ root: exportDir });
        baseUrl = nginx.url;
      });

      afterAll(async () => {
        await nginx?.stop();
      });

      it('a tuf-js client updates through nginx as through the server', async () => {
        const viaNginx = await updateFrom(baseUrl, rootBytes);
        expect(viaNginx.image).toEqual(image);
      });

      it('answers the cache rules: versioned files and targets immutable, timestamp.json and root.json short', async () => {
        const header = async (path: string) => {
          const res = await fetch(`${baseUrl}${path}`);
          await res.arrayBuffer();
          return {
            status: res.status,
            cacheControl: res.headers.get('cache-control'),
            etag: res.headers.get('etag'),
            type: res.headers.get('content-type'),
          };
        };
        expect(await header('/metadata/timestamp.json')).toMatchObject({
          status: 200,
          cacheControl: 'public, max-age=10, must-revalidate',
          type: 'application/json',
        });
        expect(await header('/metadata/root.json')).toMatchObject({
          status: 200,
          cacheControl: 'no-cache',
        });
        const versioned = await header('/metadata/1.root.json');
        expect(versioned).toMatchObject({ status: 200, cacheControl: IMMUTABLE });
        expect(versioned.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
        expect(await header(`/targets/${sha256(image)}.${TARGET}`)).toMatchObject({
          status: 200,
          cacheControl: IMMUTABLE,
          type: 'application/octet-stream',
        });
        expect((await header('/metadata/no-such.json')).status).toBe(404);

        const revalidated = await fetch(`${baseUrl}/metadata/1.root.json`, {
          headers: { 'if-none-match': versioned.etag ?? '' },
        });
        expect(revalidated.status).toBe(304);
      });

      it('answers a byte range of an image with 206 and exactly those bytes, and one past the end with 416', async () => {
        const res = await fetch(`${baseUrl}/targets/${sha256(image)}.${TARGET}`, {
          headers: { range: 'bytes=100-1099' },
        });
        expect(res.status).toBe(206);
        expect(res.headers.get('content-range')).toBe(`bytes 100-1099/${image.byteLength}`);
        expect(Buffer.from(await res.arrayBuffer())).toEqual(image.subarray(100, 1100));
        const beyond = await fetch(`${baseUrl}/targets/${sha256(image)}.${TARGET}`, {
          headers: { range: `bytes=${image.byteLength}-` },
        });
        await beyond.arrayBuffer();
        expect(beyond.status).toBe(416);
      });

      it('never serves the export’s temp files', async () => {
        const temp = join(exportDir, 'metadata/.timestamp.json.0123456789ab.tmp');
        await writeFile(temp, '{}');
        expect((await fetch(`${baseUrl}/metadata/.timestamp.json.0123456789ab.tmp`)).status).toBe(
          404,
        );
      });
    },
  );
});
