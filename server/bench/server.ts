/**
 * Server benchmark (not a test): npm run bench -w @tufchain/server
 * Real parts: anvil + TufchainLog, SQLite in a temp dir, the server on loopback.
 * Prints a markdown table and writes <repo>/bench/results/server.json.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createKeySigner,
  createVehicleCa,
  generateKeyPair,
  signFirmwareAttestation,
  type Signer,
} from '@tufchain/keys';
import { Agent, request } from 'undici';
import { createApiToken, initRepository, openRepository, startServer } from '../src/index.js';
import { startTestChain } from '../test/support/chain.js';

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const ed = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);

async function throughput(
  url: string,
  headers: Record<string, string>,
  seconds: number,
  concurrency: number,
): Promise<number> {
  const agent = new Agent({ connections: concurrency, pipelining: 1 });
  const deadline = performance.now() + seconds * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const res = await request(url, { headers, dispatcher: agent });
        await res.body.arrayBuffer();
        if (res.statusCode >= 300) throw new Error(`GET ${url} answered ${res.statusCode}`);
        count += 1;
      }
    }),
  );
  await agent.close();
  return count / seconds;
}

const progress = (what: string): void => {
  process.stderr.write(`[bench] ${what}\n`);
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const chain = await startTestChain();
  const dir = await mkdtemp(join(tmpdir(), 'tufchain-bench-'));
  const repo = await openRepository({ dataDir: dir });
  const online = { targets: ed(), snapshot: ed(), timestamp: ed() };
  const firmware = ed();
  const releaseLog = chain.writer({ confirmations: 1 });
  await initRepository({
    store: repo.store,
    rootSigners: [ed()],
    onlineSigners: online,
    releaseLog,
  });
  const server = await startServer({
    port: 0,
    deps: {
      store: repo.store,
      blobs: repo.blobs,
      signers: online,
      releaseLog,
      // the attestation check is measured too: real Sigstore bundles, real verification
      firmwareKey: { publicKeyPem: firmware.publicKeyPem(), keyId: firmware.keyId },
      vehicleCaPem: (await createVehicleCa({ commonName: 'Bench CA' })).certificatePem,
      config: { resignIntervalMs: 0, maxJsonBytes: 64 * 1024 * 1024 },
    },
  });
  const { token } = await createApiToken(repo.store, { name: 'bench', scopes: ['admin'] });
  const auth = { authorization: `Bearer ${token}` };

  let counter = 0;
  async function releaseBody(names: string[], size: number): Promise<string> {
    const targets = [];
    for (const name of names) {
      counter += 1;
      const image = new Uint8Array(size);
      image.fill(counter % 251);
      new DataView(image.buffer).setUint32(0, counter);
      const put = await fetch(`${server.url}/api/v1/firmware/${name}`, {
        method: 'PUT',
        headers: auth,
        body: image,
      });
      if (put.status !== 201) throw new Error(`upload ${name}: ${put.status}`);
      const claims = {
        hardwareIds: ['bench-ecu'],
        version: `1.0.${counter}`,
        releaseCounter: counter,
      };
      targets.push({
        name,
        ...claims,
        attestation: await signFirmwareAttestation(
          { name, sha256: sha256(image), ...claims },
          firmware,
        ),
      });
    }
    return JSON.stringify({ targets });
  }
  async function timedPublish(body: string): Promise<number> {
    const started = performance.now();
    const res = await fetch(`${server.url}/api/v1/releases`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body,
    });
    if (res.status !== 201) throw new Error(`publish: ${res.status} ${await res.text()}`);
    return performance.now() - started;
  }

  progress('server up');
  // publish latency, 1 target (anvil automine: one block per transaction, 1 confirmation)
  const single: number[] = [];
  for (let i = 0; i < 5; i++)
    single.push(await timedPublish(await releaseBody([`one-${i}.bin`], 1024)));
  const publishLatencyMs = median(single);

  progress(`publish 1: ${publishLatencyMs} ms`);
  // publish latency, 1000 targets in one release
  const thousand = await releaseBody(
    Array.from({ length: 1000 }, (_, i) => `many-${i}.bin`),
    256,
  );
  progress('1000 targets uploaded and attested');
  const publish1000LatencyMs = await timedPublish(thousand);
  progress(`publish 1000: ${publish1000LatencyMs} ms`);

  // GET throughput
  const timestampRps = await throughput(`${server.url}/metadata/timestamp.json`, {}, 3, 16);
  const mib = await releaseBody(['ranged.bin'], 1024 * 1024);
  await timedPublish(mib);
  const rangedSha = (await repo.store.upload('ranged.bin'))!.sha256;
  const rangedTargetRps = await throughput(
    `${server.url}/targets/${rangedSha}.ranged.bin`,
    { range: 'bytes=0-1048575' },
    3,
    8,
  );

  progress('throughput measured');
  // Metadata bytes per refresh with 100,000 targets: one flat targets.json (no TAP 15 bins yet).
  // Built as plain JSON in the server's exact target format: @tufjs/models' toJSON is quadratic in
  // the number of targets (8,000 targets take ~40 s), so it cannot build this size.
  const flat: Record<string, unknown> = {};
  for (let i = 0; i < 100_000; i++) {
    const h = sha256(`t${i}`);
    flat[`fw-${i}.bin`] = {
      length: 1_000_000 + i,
      hashes: { sha256: h, sha512: h + h },
      custom: {
        kind: 'firmware',
        hardwareIds: [`hw-${i % 97}`],
        version: '1.0.0',
        releaseCounter: i + 1,
        attestation: `fw-${i}.bin.sigstore.json`,
      },
    };
  }
  const bigTargetsBytes = Buffer.byteLength(
    JSON.stringify({
      signatures: [{ keyid: online.targets.keyId, sig: '0'.repeat(128) }],
      signed: {
        _type: 'targets',
        spec_version: '1.0.31',
        version: 2,
        expires: '2030-01-01T00:00:00Z',
        targets: flat,
      },
    }),
  );
  const ts = (await (await fetch(`${server.url}/metadata/timestamp.json`)).arrayBuffer())
    .byteLength;
  const snapshotVersion = (
    (await (await fetch(`${server.url}/metadata/timestamp.json`)).json()) as {
      signed: { meta: Record<string, { version: number }> };
    }
  ).signed.meta['snapshot.json']!.version;
  const snap = (
    await (await fetch(`${server.url}/metadata/${snapshotVersion}.snapshot.json`)).arrayBuffer()
  ).byteLength;
  const refreshBytes100k = ts + snap + bigTargetsBytes;

  const results = {
    timestampRps: Math.round(timestampRps),
    rangedTargetRps: Math.round(rangedTargetRps),
    publishLatencyMs: Math.round(publishLatencyMs),
    publish1000LatencyMs: Math.round(publish1000LatencyMs),
    refreshBytes100k,
  };
  const rows = [
    ['GET timestamp.json (16 connections)', `${results.timestampRps} req/s`],
    ['GET 1 MiB target with Range (8 connections)', `${results.rangedTargetRps} req/s`],
    [
      'publish 1 target (anvil automine, 1 confirmation), median of 5',
      `${results.publishLatencyMs} ms`,
    ],
    ['publish 1,000 targets in one release', `${results.publish1000LatencyMs} ms`],
    [
      'metadata bytes per refresh, 100,000 targets (flat targets.json)',
      `${results.refreshBytes100k} B`,
    ],
  ];
  process.stdout.write(
    `| measurement | result |\n|---|---|\n${rows.map(([a, b]) => `| ${a} | ${b} |`).join('\n')}\n`,
  );
  const out = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'server.json'), `${JSON.stringify(results, null, 2)}\n`);

  await server.close();
  await repo.close();
  await chain.stop();
  await rm(dir, { recursive: true, force: true });
}

await main();
