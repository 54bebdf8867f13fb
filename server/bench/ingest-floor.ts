/**
 * The intake's floor (not a test): npm run bench:ingest-floor -w @tufchain/server
 *
 * What `ingestRatio` (bench:fleet) could reach on this machine with one HTTP request per report,
 * if the intake did nothing but read it: a bare `node:http` server on loopback reads a real install
 * report (a Sigstore DSSE bundle signed by an enrolled-style vehicle certificate), parses the JSON
 * and verifies the DSSE signature once, with the key held in memory (`verify`) or taken from the
 * certificate the report carries, as the intake must for a vehicle it has not seen lately
 * (`certificate`). Nothing is checked against the CA, stored or logged. Debian's wrk sends the
 * load (1 thread, 64 connections, FLOOR_SECONDS per variant, default 10); the server's CPU is this
 * process's. Prints a markdown table and writes <repo>/bench/results/ingest-floor.json.
 */
import { X509Certificate, verify, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signInstallReport } from '@tufchain/client-agent';
import { createKeySigner, createVehicleCa, createVehicleIdentity } from '@tufchain/keys';
import { p256VerifyPerSecond } from './p256.js';
import { runWrk, wrkMissing } from './wrk.js';

interface ReportBody {
  dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string }[] };
  verificationMaterial: { certificate: { rawBytes: string } };
}

/** DSSE's pre-authentication encoding, what the report's signature covers. */
function pae(payloadType: string, payload: Buffer): Buffer {
  const head = `DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `;
  return Buffer.concat([Buffer.from(head), payload]);
}

type Variant = 'verify' | 'certificate';

async function measure(
  variant: Variant,
  body: string,
  key: KeyObject,
  seconds: number,
  dir: string,
): Promise<{ requests: number; cpuSeconds: number; perCore: number; rps: number }> {
  let requests = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const report = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReportBody;
      const envelope = report.dsseEnvelope;
      const signer =
        variant === 'verify'
          ? key
          : new X509Certificate(
              Buffer.from(report.verificationMaterial.certificate.rawBytes, 'base64'),
            ).publicKey;
      const ok = verify(
        'sha256',
        pae(envelope.payloadType, Buffer.from(envelope.payload, 'base64')),
        signer,
        Buffer.from(envelope.signatures[0]?.sig ?? '', 'base64'),
      );
      requests += 1;
      res.writeHead(ok ? 201 : 422, { 'content-type': 'application/json' });
      res.end(ok ? '{"id":1}' : '{"error":{"code":"INVALID"}}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/attestations`;
    const bodyFile = join(dir, 'report.json');
    const script = join(dir, 'post.lua');
    await writeFile(bodyFile, body);
    await writeFile(
      script,
      [
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
        `local f = io.open(${JSON.stringify(bodyFile)}, "r"); wrk.body = f:read("*a"); f:close()`,
      ].join('\n'),
    );
    await runWrk(url, { threads: 1, connections: 64, seconds: 2, script }); // warm-up
    const before = requests;
    const started = process.cpuUsage();
    const run = await runWrk(url, { threads: 1, connections: 64, seconds, script });
    const used = process.cpuUsage(started);
    const cpuSeconds = (used.user + used.system) / 1e6;
    const counted = requests - before;
    return {
      requests: counted,
      cpuSeconds,
      perCore: counted / cpuSeconds,
      rps: run.requestsPerSecond,
    };
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function main(): Promise<void> {
  const missing = wrkMissing();
  if (missing) {
    console.log(`bench:ingest-floor did not run: ${missing}`);
    return;
  }
  const seconds = Number(process.env.FLOOR_SECONDS ?? 10);
  const ca = await createVehicleCa({ commonName: 'Floor Bench Vehicle CA' });
  const vehicle = await createVehicleIdentity(ca, { vin: 'WVWZZZ1JZXW000001', ecuSerial: 'GW-1' });
  const digest = 'ab'.repeat(32);
  const dir = await mkdtemp(join(tmpdir(), 'tufchain-floor-'));
  // Signed by the client agent's report signer, as the fleet bench's vehicles sign theirs.
  const { bundle } = await signInstallReport({
    stateDir: dir,
    vehicle: {
      signer: createKeySigner(vehicle.privateKey),
      certificatePem: vehicle.certificatePem,
      vinCommitment: vehicle.vinCommitment,
    },
    ecu: { serial: vehicle.ecuSerial, hardwareId: 'gw' },
    from: null,
    to: { name: 'gw.img', version: '1.0.0', releaseCounter: 1, digest },
    result: 'SUCCESS',
    startedAt: new Date(),
    finishedAt: new Date(),
    odometerKm: 1,
    metadata: { targetsVersion: 1, targetsHash: `0x${'c'.repeat(64)}` },
    checkpoint: { chainId: 31337, blockNumber: 1, blockHash: `0x${'d'.repeat(64)}`, timestamp: 1 },
  });
  const body = JSON.stringify(bundle);
  const key = new X509Certificate(vehicle.certificatePem).publicKey;
  try {
    const rows: Record<string, unknown>[] = [];
    for (const variant of ['verify', 'certificate'] as const) {
      const verifyPerSecond = p256VerifyPerSecond(2);
      const m = await measure(variant, body, key, seconds, dir);
      rows.push({
        variant,
        requests: m.requests,
        requestsPerSecond: Math.round(m.rps),
        perCore: Math.round(m.perCore),
        p256VerifyPerSecond: Math.round(verifyPerSecond),
        ratio: Math.round((m.perCore / verifyPerSecond) * 1000) / 1000,
      });
    }
    const results = { reportBytes: Buffer.byteLength(body), seconds, variants: rows };
    console.log('| variant | requests/s | per server core | P-256 verify/s | ratio |');
    console.log('|---|---|---|---|---|');
    for (const r of rows) {
      console.log(
        `| ${String(r.variant)} | ${String(r.requestsPerSecond)} | ${String(r.perCore)} | ${String(r.p256VerifyPerSecond)} | ${String(r.ratio)} |`,
      );
    }
    const out = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'ingest-floor.json'), `${JSON.stringify(results, null, 2)}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
