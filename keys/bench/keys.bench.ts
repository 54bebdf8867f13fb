// Benchmarks for @tufchain/keys: prints a markdown table and writes bench/results/keys.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Key, Metadata, Targets } from '@tufjs/models';
import {
  checkRevoked,
  createKeySigner,
  createPkcs12Bundle,
  createRevocationList,
  createVehicleCa,
  createVehicleIdentity,
  decryptPrivateKey,
  encryptPrivateKeyPem,
  generateKeyPair,
  loadRevocationList,
  readPkcs12Bundle,
  signFirmwareAttestation,
  signMetadata,
  verifyFirmwareAttestation,
  verifyVehicleCertificate,
  type KeyType,
} from '../src/index.js';

interface Result {
  name: string;
  iterations: number;
  meanMs: number;
  opsPerSecond: number;
}

async function measure(name: string, run: () => unknown, minMs = 400): Promise<Result> {
  await run(); // warm-up
  let iterations = 0;
  const start = performance.now();
  while (performance.now() - start < minMs || iterations < 3) {
    await run();
    iterations++;
  }
  const meanMs = (performance.now() - start) / iterations;
  return { name, iterations, meanMs, opsPerSecond: 1000 / meanMs };
}

const results: Result[] = [];
const sha256 = 'ab'.repeat(32);
for (const type of ['ed25519', 'ecdsa-p256'] as KeyType[]) {
  const signer = createKeySigner(generateKeyPair(type).privateKey);
  const key = Key.fromJSON(signer.keyId, {
    ...signer.publicKey,
    keyval: { ...signer.publicKey.keyval },
  });
  const targets = new Metadata(
    new Targets({ version: 1, specVersion: '1.0.31', expires: '2030-01-01T00:00:00Z' }),
  );
  await signMetadata(targets, signer);
  results.push(await measure(`generate ${type} key pair`, () => generateKeyPair(type)));
  results.push(await measure(`sign TUF targets (${type})`, () => signMetadata(targets, signer)));
  results.push(await measure(`verify TUF targets (${type})`, () => key.verifySignature(targets)));
  const input = {
    name: 'fw.bin',
    sha256,
    hardwareIds: ['hw'],
    version: '1.0.0',
    releaseCounter: 1,
  };
  const bundle = await signFirmwareAttestation(input, signer);
  const trust = { publicKeyPem: signer.publicKeyPem(), keyId: signer.keyId };
  results.push(
    await measure(`sign firmware bundle (${type})`, () => signFirmwareAttestation(input, signer)),
  );
  results.push(
    await measure(`verify firmware bundle (${type})`, () =>
      verifyFirmwareAttestation(bundle, trust, { sha256 }),
    ),
  );
}

const { privateKey } = generateKeyPair('ed25519');
const pem = await encryptPrivateKeyPem(privateKey, 'pw');
results.push(
  await measure('encrypt key file (scrypt N=2^14)', () => encryptPrivateKeyPem(privateKey, 'pw')),
);
results.push(await measure('decrypt key file (scrypt N=2^14)', () => decryptPrivateKey(pem, 'pw')));

const ca = await createVehicleCa({ commonName: 'Bench CA' });
const vehicle = await createVehicleIdentity(ca, { vin: '1HGCM82633A004352', ecuSerial: 'B-1' });
results.push(
  await measure('create vehicle identity (key + cert)', () =>
    createVehicleIdentity(ca, { vin: '1HGCM82633A004352', ecuSerial: 'B-1' }),
  ),
);
results.push(
  await measure('verify vehicle certificate', () =>
    verifyVehicleCertificate(vehicle.certificatePem, ca.certificatePem),
  ),
);
const p12 = createPkcs12Bundle(vehicle, ca.certificatePem, 'pw');
results.push(
  await measure('create PKCS#12 bundle', () =>
    createPkcs12Bundle(vehicle, ca.certificatePem, 'pw'),
  ),
);
results.push(await measure('read PKCS#12 bundle', () => readPkcs12Bundle(p12, 'pw')));

const revoked = Array.from({ length: 10_000 }, (_, i) => ({
  serialNumber: (0x40000000 + i).toString(16),
}));
const crlPem = await createRevocationList(ca, { crlNumber: 1, revoked });
results.push(
  await measure(
    'create CRL with 10k entries',
    () => createRevocationList(ca, { crlNumber: 1, revoked }),
    1000,
  ),
);
const crl = await loadRevocationList(crlPem, ca.certificatePem);
results.push(
  await measure(
    'load + verify CRL with 10k entries',
    () => loadRevocationList(crlPem, ca.certificatePem),
    1000,
  ),
);
results.push(
  await measure('checkRevoked against 10k entries', () =>
    checkRevoked(vehicle.certificatePem, crl),
  ),
);

const lines = ['| operation | mean (ms) | ops/s | iterations |', '|---|---:|---:|---:|'];
for (const r of results)
  lines.push(
    `| ${r.name} | ${r.meanMs.toFixed(3)} | ${r.opsPerSecond.toFixed(1)} | ${r.iterations} |`,
  );
console.log(lines.join('\n'));
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(
  `${dir}keys.json`,
  JSON.stringify({ node: process.version, date: new Date().toISOString(), results }, null, 2) +
    '\n',
);
console.log(`\nwrote ${dir}keys.json`);
