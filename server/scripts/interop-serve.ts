/**
 * Serves a real tufchain repository for interoperability checks with other TUF clients
 * (python-tuf's ngclient, go-tuf): anvil + TufchainLog, SQLite, the HTTP server on loopback,
 * one OEM release in the hashed bins and one supplier release under its hardware ID.
 *
 *   npx tsx --conditions=@tufchain/source server/scripts/interop-serve.ts <out-dir>
 *
 * Writes <out-dir>/1.root.json and <out-dir>/server.json ({ url, targets: [{ name, sha256 }] }),
 * then serves until SIGINT or SIGTERM. server/README.md ("Interoperability") shows the client side.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createKeySigner,
  createVehicleCa,
  generateKeyPair,
  signFirmwareAttestation,
} from '@tufchain/keys';
import { TargetFile } from '@tufjs/models';
import {
  buildTargets,
  createApiToken,
  expiryAfter,
  initRepository,
  openRepository,
  serializeMetadata,
  signMetadata,
  startServer,
} from '../src/index.js';
import { startTestChain } from '../test/support/chain.js';

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/** Starts the repository described above and writes OUT/1.root.json and OUT/server.json. */
export async function serveInteropRepository(
  outDir: string,
): Promise<{ url: string; close(): Promise<void> }> {
  await mkdir(outDir, { recursive: true });

  const chain = await startTestChain();
  const dataDir = await mkdtemp(join(tmpdir(), 'tufchain-interop-'));
  const repo = await openRepository({ dataDir });
  const ed = () => createKeySigner(generateKeyPair('ed25519').privateKey);
  const online = {
    targets: ed(),
    snapshot: createKeySigner(generateKeyPair('ecdsa-p256').privateKey),
    timestamp: ed(),
  };
  const build = ed();
  const releaseLog = chain.writer({ confirmations: 1 });
  const { rootBytes } = await initRepository({
    store: repo.store,
    rootSigners: [ed(), createKeySigner(generateKeyPair('ecdsa-p256').privateKey)],
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
      firmwareKey: { publicKeyPem: build.publicKeyPem(), keyId: build.keyId },
      vehicleCaPem: (await createVehicleCa({ commonName: 'Interop CA' })).certificatePem,
      config: { resignIntervalMs: 0 },
    },
  });
  const { token } = await createApiToken(repo.store, { name: 'interop', scopes: ['admin'] });
  const call = async (method: string, path: string, body: string | Uint8Array, json = false) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(json ? { 'content-type': 'application/json' } : {}),
      },
      body,
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res;
  };

  // An OEM release: lands in its hashed bin.
  const oemImage = new TextEncoder().encode('oem gateway firmware 2.0.0');
  await call('PUT', '/api/v1/firmware/gateway-2.0.0.img', oemImage);
  const oemClaims = { hardwareIds: ['oem-gateway'], version: '2.0.0', releaseCounter: 2 };
  await call(
    'POST',
    '/api/v1/releases',
    JSON.stringify({
      targets: [
        {
          name: 'gateway-2.0.0.img',
          ...oemClaims,
          attestation: await signFirmwareAttestation(
            { name: 'gateway-2.0.0.img', sha256: sha256(oemImage), ...oemClaims },
            build,
          ),
        },
      ],
    }),
    true,
  );

  // A supplier release: its own offline-signed role, scoped to its hardware ID.
  const supplierKey = ed();
  await call(
    'POST',
    '/api/v1/suppliers',
    JSON.stringify({
      id: 'acme',
      hardwareIds: ['acme-brake'],
      keys: [supplierKey.publicKey],
      threshold: 1,
    }),
    true,
  );
  const path = 'acme-brake/brake-4.1.0.bin';
  const supImage = new TextEncoder().encode('acme brake firmware 4.1.0');
  const supClaims = { hardwareIds: ['acme-brake'], version: '4.1.0', releaseCounter: 41 };
  const bundle = new TextEncoder().encode(
    JSON.stringify(
      await signFirmwareAttestation({ name: path, sha256: sha256(supImage), ...supClaims }, build),
    ),
  );
  await call('PUT', '/api/v1/firmware/acme-brake-4.1.0.bin', supImage);
  await call('PUT', '/api/v1/firmware/acme-brake-4.1.0.bin.sigstore.json', bundle);
  const file = (p: string, bytes: Uint8Array, custom: Record<string, unknown>) =>
    new TargetFile({
      path: p,
      length: bytes.byteLength,
      hashes: { sha256: sha256(bytes) },
      unrecognizedFields: { custom: custom as never },
    });
  const role = buildTargets({
    version: 1,
    expires: expiryAfter(new Date(), 30 * 86400),
    targets: {
      [path]: file(path, supImage, {
        kind: 'firmware',
        ...supClaims,
        attestation: `${path}.sigstore.json`,
      }),
      [`${path}.sigstore.json`]: file(`${path}.sigstore.json`, bundle, {
        kind: 'attestation',
        subject: path,
      }),
    },
  });
  await signMetadata(role, [supplierKey]);
  await call('PUT', '/api/v1/suppliers/acme/metadata', serializeMetadata(role));

  await writeFile(join(outDir, '1.root.json'), rootBytes);
  await writeFile(
    join(outDir, 'server.json'),
    JSON.stringify({
      url: server.url,
      targets: [
        { name: 'gateway-2.0.0.img', sha256: sha256(oemImage) },
        { name: path, sha256: sha256(supImage) },
      ],
    }),
  );
  return {
    url: server.url,
    close: async () => {
      await server.close();
      await repo.close();
      await chain.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outDir = process.argv[2];
  if (!outDir) throw new Error('usage: interop-serve.ts <out-dir>');
  const served = await serveInteropRepository(outDir);
  process.stdout.write(`serving ${served.url}\n`);
  const stop = async (): Promise<void> => {
    await served.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}
