import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifyStatementBundle } from './attestation/bundle.js';
import { signFirmwareAttestation } from './attestation/firmware.js';
import { describeRootCeremony } from './ceremony/root-ceremony.js';
import { KeysError } from './error.js';
import { generateKeyPair } from './generate.js';
import { decryptPrivateKey, encryptPrivateKeyPkcs8 } from './pkcs8.js';
import { createEnvSigner, createKeySigner } from './signer.js';
import { createVehicleCa, createVehicleIdentity, type VehicleCa } from './vehicle/ca.js';
import { verifyVehicleCsr } from './vehicle/csr.js';
import { createPkcs12Bundle, readPkcs12Bundle } from './vehicle/pkcs12.js';
import { createRevocationList, loadRevocationList } from './vehicle/revocation.js';
import { verifyVehicleCertificate } from './vehicle/verify.js';

// Every input a server or agent receives may be hostile: parsers must fail with a KeysError (which
// callers map to a specific code), never with a stray TypeError or a crash.
async function failsWithKeysError(run: () => unknown): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof KeysError)) throw error;
    return;
  }
}

const pemOf = (label: string, bytes: Uint8Array) =>
  `-----BEGIN ${label}-----\n${Buffer.from(bytes).toString('base64')}\n-----END ${label}-----\n`;

/** Flip, cut or extend a valid encoding: nearby garbage finds more parser bugs than random bytes. */
const mutated = (valid: Uint8Array) =>
  fc.oneof(
    fc
      .record({ at: fc.nat(valid.length - 1), bit: fc.integer({ min: 0, max: 7 }) })
      .map(({ at, bit }) => {
        const copy = Uint8Array.from(valid);
        copy[at] = (copy[at] ?? 0) ^ (1 << bit);
        return copy;
      }),
    fc.nat(valid.length - 1).map((n) => valid.slice(0, n)),
    fc.uint8Array({ maxLength: 16 }).map((tail) => Uint8Array.from([...valid, ...tail])),
    fc.uint8Array({ maxLength: 300 }),
  );

let ca: VehicleCa;
let p12: Uint8Array;
let encryptedKey: Uint8Array;
let certDer: Uint8Array;
let crlDer: Uint8Array;
beforeAll(async () => {
  ca = await createVehicleCa({ commonName: 'Fuzz CA' });
  const identity = await createVehicleIdentity(ca, { vin: '1HGCM82633A004352', ecuSerial: 'F-1' });
  p12 = createPkcs12Bundle(identity, ca.certificatePem, 'pw');
  encryptedKey = await encryptPrivateKeyPkcs8(generateKeyPair('ed25519').privateKey, 'pw', {
    N: 16,
    r: 1,
    p: 1,
  });
  certDer = Buffer.from(identity.certificatePem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const crlPem = await createRevocationList(ca, {
    crlNumber: 9,
    revoked: [{ serialNumber: '4a5b', reason: 'keyCompromise' }, { serialNumber: '77' }],
  });
  crlDer = Buffer.from(crlPem.replace(/-----[A-Z0-9 ]+-----|\s/g, ''), 'base64');
});

describe('parsers given damaged or hostile input (property)', () => {
  it('decryptPrivateKey and createEnvSigner throw only KeysError', async () => {
    await fc.assert(
      fc.asyncProperty(mutated(encryptedKey), async (bytes) => {
        await failsWithKeysError(() =>
          decryptPrivateKey(pemOf('ENCRYPTED PRIVATE KEY', bytes), 'pw'),
        );
        await failsWithKeysError(() => decryptPrivateKey(bytes, 'pw'));
        await failsWithKeysError(() =>
          createEnvSigner(Buffer.from(bytes).toString('base64'), 'pw'),
        );
      }),
      { numRuns: 150 },
    );
  });

  it('decryptPrivateKey rejects arbitrary text with KeysError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string(), async (text) =>
        failsWithKeysError(() => decryptPrivateKey(text, 'pw')),
      ),
      { numRuns: 200 },
    );
  });

  it('readPkcs12Bundle throws only KeysError', async () => {
    await fc.assert(
      fc.asyncProperty(mutated(p12), async (bytes) =>
        failsWithKeysError(() => readPkcs12Bundle(bytes, 'pw')),
      ),
      { numRuns: 60 },
    );
  });

  it('verifyVehicleCertificate, verifyVehicleCsr and loadRevocationList throw only KeysError', async () => {
    await fc.assert(
      fc.asyncProperty(mutated(certDer), async (bytes) => {
        await failsWithKeysError(() =>
          verifyVehicleCertificate(pemOf('CERTIFICATE', bytes), ca.certificatePem),
        );
        await failsWithKeysError(() =>
          verifyVehicleCertificate(ca.certificatePem, pemOf('CERTIFICATE', bytes)),
        );
        await failsWithKeysError(() => verifyVehicleCsr(pemOf('CERTIFICATE REQUEST', bytes)));
        await failsWithKeysError(() =>
          loadRevocationList(pemOf('X509 CRL', bytes), ca.certificatePem),
        );
      }),
      { numRuns: 100 },
    );
  });

  it('loadRevocationList throws only KeysError for mutated CRLs', async () => {
    await fc.assert(
      fc.asyncProperty(mutated(crlDer), async (bytes) =>
        failsWithKeysError(() => loadRevocationList(pemOf('X509 CRL', bytes), ca.certificatePem)),
      ),
      { numRuns: 200 },
    );
  });

  it('verifyStatementBundle throws only KeysError for arbitrary JSON and for mutated bundles', async () => {
    const signer = createKeySigner(generateKeyPair('ed25519').privateKey);
    const trust = { publicKeyPem: signer.publicKeyPem(), keyId: signer.keyId };
    const bundle = JSON.stringify(
      await signFirmwareAttestation(
        { name: 'a', sha256: '00'.repeat(32), hardwareIds: ['h'], version: '1', releaseCounter: 1 },
        signer,
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (json) => {
        await failsWithKeysError(() => verifyStatementBundle(json, trust));
        await failsWithKeysError(() =>
          verifyStatementBundle(json, { caCertificatePem: ca.certificatePem }),
        );
      }),
      { numRuns: 200 },
    );
    await fc.assert(
      fc.asyncProperty(mutated(new TextEncoder().encode(bundle)), async (bytes) => {
        await failsWithKeysError(() =>
          verifyStatementBundle(Buffer.from(bytes).toString('utf8'), trust),
        );
      }),
      { numRuns: 200 },
    );
  });

  it('describeRootCeremony throws only KeysError for arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (json) => {
        try {
          describeRootCeremony(json);
        } catch (error) {
          expect(error).toBeInstanceOf(KeysError);
        }
        try {
          describeRootCeremony({ format: 'tufchain/root-ceremony/v1', root: json });
        } catch (error) {
          expect(error).toBeInstanceOf(KeysError);
        }
      }),
      { numRuns: 200 },
    );
  });
});
