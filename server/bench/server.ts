/**
 * Server benchmark (not a test): npm run bench -w @tufchain/server
 * Real parts: anvil + TufchainLog, SQLite in a temp dir, the server on loopback.
 * Prints a markdown table and writes <repo>/bench/results/server.json.
 */
import { spawn } from 'node:child_process';
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
import { BaseFetcher, Updater } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { Agent, request } from 'undici';
import { createApiToken, initRepository, openRepository, startServer } from '../src/index.js';
import { startTestChain } from '../test/support/chain.js';
import { compareWithNginx, type NginxComparison, type SideBySide } from './nginx-compare.js';
import { seedBins } from './seed-bins.js';

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

/** bench/server-replica.ts on `dataDir`, in a process of its own; resolves once it listens. */
async function startReplica(dataDir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const script = fileURLToPath(new URL('./server-replica.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--conditions=@tufchain/source', '--import', 'tsx', script, dataDir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\S+)/.exec(out);
      if (m) resolve(m[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`server replica exited (${String(code)})`)));
  });
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** tuf-js's fetcher over undici, counting the bytes of every response body. */
class CountingFetcher extends BaseFetcher {
  #bytes = 0;
  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    const res = await request(url);
    if (res.statusCode !== 200) {
      await res.body.dump();
      // tuf-js ends its probe for the next root on this error with a 404 status.
      throw new DownloadHTTPError(`GET ${url}: ${res.statusCode}`, res.statusCode);
    }
    const body = new Uint8Array(await res.body.arrayBuffer());
    this.#bytes += body.byteLength;
    return new Blob([body]).stream() as ReadableStream<Uint8Array<ArrayBuffer>>;
  }
  async fetchText(url: string): Promise<string> {
    const res = await request(url);
    const text = await res.body.text();
    this.#bytes += Buffer.byteLength(text);
    return text;
  }
  /** Bytes counted since the last call. */
  take(): number {
    const n = this.#bytes;
    this.#bytes = 0;
    return n;
  }
}

const progress = (what: string): void => {
  process.stderr.write(`[bench] ${what}\n`);
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

const ratio = (side: SideBySide): number =>
  Math.round((side.server.requestsPerSecond / side.nginx.requestsPerSecond) * 100) / 100;

/** {key}RpsWrk, {key}RpsNginx, {key}RpsRatioNginx (server/nginx) and p99s; null when not compared. */
function nginxKeys(
  c: NginxComparison,
  key: 'timestamp' | 'bin' | 'rangedTarget',
): Record<string, number | null> {
  const side = c.compared ? c.results[key] : undefined;
  return {
    [`${key}RpsWrk`]: side ? Math.round(side.server.requestsPerSecond) : null,
    [`${key}RpsNginx`]: side ? Math.round(side.nginx.requestsPerSecond) : null,
    [`${key}RpsRatioNginx`]: side ? ratio(side) : null,
    [`${key}P99MsWrk`]: side ? Math.round(side.server.p99Ms * 100) / 100 : null,
    [`${key}P99MsNginx`]: side ? Math.round(side.nginx.p99Ms * 100) / 100 : null,
  };
}

function nginxRow(
  c: NginxComparison,
  key: 'timestamp' | 'bin' | 'rangedTarget',
  what: string,
): [string, string] {
  const label = `${what}, wrk 1 thread 64 connections: server vs nginx serving the same export (goal ≥ 0.5× nginx)`;
  if (!c.compared) return [label, `${c.missing}: not compared`];
  const side = c.results[key];
  const rps = (r: { requestsPerSecond: number }): number => Math.round(r.requestsPerSecond);
  return [
    label,
    `${rps(side.server)} vs ${rps(side.nginx)} req/s = ${ratio(side).toFixed(2)}× (p99 ${side.server.p99Ms.toFixed(2)} vs ${side.nginx.p99Ms.toFixed(2)} ms)`,
  ];
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
  const { service } = server.context;
  const { token } = await createApiToken(repo.store, { name: 'bench', scopes: ['admin'] });
  const auth = { authorization: `Bearer ${token}` };

  let counter = 0;
  let counterHardwareId = 'bench-ecu';
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
        hardwareIds: [counterHardwareId],
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
  // The same bytes served by nginx: export the repository now, while it is small, and run one
  // wrk load against one replica process (bench/server-replica.ts, on this repository) and then
  // against nginx, one worker.
  const replica = await startReplica(dir);
  const vsNginx = await compareWithNginx({
    serverUrl: replica.url,
    chain: {
      rpcUrl: chain.chain.rpcUrl,
      chainId: chain.chain.chainId,
      contractAddress: chain.contractAddress,
      deployBlock: chain.deployBlock,
    },
    rangedTargetPath: `/targets/${rangedSha}.ranged.bin`,
    progress,
  });
  await replica.stop();
  if (!vsNginx.compared) progress(`${vsNginx.missing}: not compared (${vsNginx.reason})`);

  // Metadata bytes per refresh with 100,000 targets in the repository (TAP 15 bins).
  // Seeding (seed-bins.ts): 50,000 releases (image + Sigstore bundle = 100,000 targets) go
  // straight into their bins and are logged in one snapshot. This skips 50,000 uploads and
  // attestation checks; everything measured after it runs the product's code paths (HTTP API
  // publish, chain log, tuf-js on the vehicle side).
  const seededBins = await seedBins(service.core, online.snapshot, 50_000);
  progress(`100,000 targets signed into ${seededBins} bins`);

  // A vehicle of hw-7 that refreshed and resolved its firmware before the latest publish.
  const vehicleDir = await mkdtemp(join(tmpdir(), 'tufchain-bench-vehicle-'));
  const fetcher = new CountingFetcher();
  const rootBytes = (await repo.store.publishedMetadata('root', 1))!.bytes;
  await writeFile(join(vehicleDir, 'root.json'), rootBytes);
  const vehicle = (): Updater =>
    new Updater({
      metadataBaseUrl: `${server.url}/metadata`,
      targetBaseUrl: `${server.url}/targets`,
      metadataDir: vehicleDir,
      fetcher,
      config: { targetsMaxLength: 64 * 1024 * 1024 },
    });
  const lookUp = async (hardwareId: string): Promise<string> => {
    const hint = await fetcher.fetchText(`${server.url}/api/v1/hardware/${hardwareId}/latest`);
    const name = (JSON.parse(hint) as { name: string }).name;
    const updater = vehicle();
    await updater.refresh();
    if (!(await updater.getTargetInfo(name))) throw new Error(`tuf-js cannot resolve ${name}`);
    if (!(await updater.getTargetInfo(`${name}.sigstore.json`)))
      throw new Error(`tuf-js cannot resolve ${name}.sigstore.json`);
    return name;
  };
  await lookUp('hw-7');
  const firstContactBytes = fetcher.take();
  // Another hardware ID's release lands; the vehicle comes back.
  const publish100kMs = await timedPublish(await releaseBody(['other-ecu-9.bin'], 1024));
  await lookUp('hw-7');
  const refreshBytes100k = fetcher.take();
  // Its own new release lands: it also fetches the bins that list the image and its bundle.
  counterHardwareId = 'hw-7';
  counter = 1_000_000; // above every seeded release counter of hw-7
  await timedPublish(await releaseBody(['hw7-next.bin'], 1024));
  if ((await lookUp('hw-7')) !== 'hw7-next.bin') throw new Error('the hint missed the release');
  const refreshWithOwnReleaseBytes100k = fetcher.take();
  await rm(vehicleDir, { recursive: true, force: true });
  progress(`refresh at 100k: ${refreshBytes100k} B (first contact ${firstContactBytes} B)`);

  const results = {
    timestampRps: Math.round(timestampRps),
    rangedTargetRps: Math.round(rangedTargetRps),
    publishLatencyMs: Math.round(publishLatencyMs),
    publish1000LatencyMs: Math.round(publish1000LatencyMs),
    refreshBytes100k,
    refreshWithOwnReleaseBytes100k,
    firstContactBytes100k: firstContactBytes,
    publishLatencyMs100k: Math.round(publish100kMs),
    ...nginxKeys(vsNginx, 'timestamp'),
    ...nginxKeys(vsNginx, 'bin'),
    ...nginxKeys(vsNginx, 'rangedTarget'),
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
      'metadata bytes per refresh, 100,000 targets, returning vehicle (nothing new for it)',
      `${results.refreshBytes100k} B`,
    ],
    [
      'same, when its own new release landed (+ the bins listing it)',
      `${results.refreshWithOwnReleaseBytes100k} B`,
    ],
    ['first contact of a new vehicle, 100,000 targets', `${results.firstContactBytes100k} B`],
    ['publish 1 target with 100,000 in the repository', `${results.publishLatencyMs100k} ms`],
    nginxRow(vsNginx, 'timestamp', 'GET timestamp.json'),
    nginxRow(vsNginx, 'bin', 'GET a versioned bin ({N}.bins-XX.json)'),
    nginxRow(vsNginx, 'rangedTarget', 'GET 1 MiB target with Range'),
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
