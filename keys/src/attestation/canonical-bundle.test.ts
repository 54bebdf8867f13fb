// The tamper steps edit bundle JSON freely, as an attacker replaying a public report would.
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment */
import { createPublicKey, verify as cryptoVerify, X509Certificate } from 'node:crypto';
import type { SerializedBundle } from '@sigstore/bundle';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../generate.js';
import { createKeySigner, type Signer } from '../signer.js';
import { createVehicleCsr, issueVehicleCertificateFromCsr } from '../vehicle/csr.js';
import {
  createVehicleCa,
  createVehicleIdentity,
  type VehicleCa,
  type VehicleIdentity,
} from '../vehicle/ca.js';
import { signStatementBundle, verifyStatementBundleDetailed } from './bundle.js';
import { isCanonicalEcdsaSignature, normalizeEcdsaSignature } from './ecdsa-signature.js';
import { IN_TOTO_STATEMENT_TYPE, type InTotoStatement } from './statement.js';

// Built here independently of the code under test: the order of P-256 and a DER writer.
const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

function derInteger(n: bigint, pad = false): Buffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if ((bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  if (pad) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
}

function derSequence(...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

function readSignature(der: Uint8Array): { r: bigint; s: bigint } {
  const b = Buffer.from(der);
  const rLen = b[3] ?? 0;
  const r = BigInt(`0x${b.subarray(4, 4 + rLen).toString('hex')}`);
  const sLen = b[5 + rLen] ?? 0;
  const s = BigInt(`0x${b.subarray(6 + rLen, 6 + rLen + sLen).toString('hex')}`);
  return { r, s };
}

/** The other valid signature over the same message: (r, n - s). */
function twinSignature(der: Uint8Array): Buffer {
  const { r, s } = readSignature(der);
  return derSequence(derInteger(r), derInteger(P256_N - s));
}

const statement: InTotoStatement = {
  _type: IN_TOTO_STATEMENT_TYPE,
  subject: [{ name: 'ecu-gw-1.2.0.bin', digest: { sha256: 'ab'.repeat(32) } }],
  predicateType: 'https://tufchain.dev/attestation/install/v1',
  predicate: { result: 'SUCCESS', counter: 7 },
};

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const clone = (b: unknown): Json => JSON.parse(JSON.stringify(b)) as Json;
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Base64 that decodes to the same bytes but sets the unused low bits of the last symbol. */
function withTrailingBits(b64: string): string {
  const padding = /=*$/.exec(b64)?.[0].length ?? 0;
  if (padding === 0) throw new Error('needs a padded base64 string');
  const at = b64.length - padding - 1;
  const symbol = B64.indexOf(b64[at]!);
  return `${b64.slice(0, at)}${B64[symbol ^ 1]}${b64.slice(at + 1)}`;
}

/** The first of the bundle's base64 fields that is padded. */
function paddedField(b: Json): { get: () => string; set: (v: string) => void } {
  const fields = [
    {
      get: () => b.dsseEnvelope.signatures[0].sig as string,
      set: (v: string) => (b.dsseEnvelope.signatures[0].sig = v),
    },
    {
      get: () => b.dsseEnvelope.payload as string,
      set: (v: string) => (b.dsseEnvelope.payload = v),
    },
    {
      get: () => b.verificationMaterial.certificate.rawBytes as string,
      set: (v: string) => (b.verificationMaterial.certificate.rawBytes = v),
    },
  ];
  const found = fields.find((f) => f.get().endsWith('='));
  if (!found) throw new Error('no padded base64 field');
  return found;
}

/** A signer that always hands out the high-s signature, as Node's crypto may do half the time. */
function highSSigner(inner: Signer): Signer {
  return {
    ...inner,
    publicKeyPem: () => inner.publicKeyPem(),
    sign: async (data) => {
      const der = await inner.sign(data);
      const { s } = readSignature(der);
      return s > P256_N / 2n ? der : new Uint8Array(twinSignature(der));
    },
  };
}

describe('a vehicle install report verified with canonicalOnly', () => {
  let ca: VehicleCa;
  let vehicle: VehicleIdentity;
  let bundle: SerializedBundle;
  const verify = (input: unknown) =>
    verifyStatementBundleDetailed(
      input,
      { caCertificatePem: ca.certificatePem },
      { canonicalOnly: true },
    );

  beforeAll(async () => {
    ca = await createVehicleCa({ commonName: 'ACME Vehicle CA' });
    vehicle = await createVehicleIdentity(ca, { vin: '1HGCM82633A004352', ecuSerial: 'GW-1' });
    bundle = await signStatementBundle(statement, createKeySigner(vehicle.privateKey), {
      certificatePem: vehicle.certificatePem,
    });
  });

  it('accepts the bundle signStatementBundle wrote, also as text with other whitespace', async () => {
    const result = await verify(bundle);
    expect(result.statement).toEqual(statement);
    expect(result.signedContentDigest).toMatch(/^[0-9a-f]{64}$/);
    const pretty = await verify(JSON.stringify(bundle, null, 2));
    expect(pretty.signedContentDigest).toBe(result.signedContentDigest);
  });

  it.each([
    {
      desc: 'an extra top-level field',
      tamper: (b: Json) => ({ ...b, note: 'replayed\u0000' }),
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
    {
      desc: 'an extra field in the DSSE envelope',
      tamper: (b: Json) => ({ ...b, dsseEnvelope: { ...b.dsseEnvelope, x: 1 } }),
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
    {
      desc: 'an extra field in the verification material',
      tamper: (b: Json) => ({
        ...b,
        verificationMaterial: { ...b.verificationMaterial, x: 'y' },
      }),
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
    {
      desc: 'an extra field in the signature',
      tamper: (b: Json) => {
        b.dsseEnvelope.signatures[0].extra = true;
        return b;
      },
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
    {
      desc: 'an own __proto__ field',
      tamper: (b: Json) =>
        JSON.parse(JSON.stringify(b).replace(/^\{/, '{"__proto__":{"x":1},')) as Json,
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
    {
      desc: 'a DSSE keyid',
      tamper: (b: Json) => {
        b.dsseEnvelope.signatures[0].keyid = 'replay-1';
        return b;
      },
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
    {
      desc: 'an explicit empty DSSE keyid',
      tamper: (b: Json) => {
        b.dsseEnvelope.signatures[0].keyid = '';
        return b;
      },
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
    {
      desc: 'a numeric DSSE keyid',
      tamper: (b: Json) => {
        b.dsseEnvelope.signatures[0].keyid = 7;
        return b;
      },
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
    {
      desc: 'the high-s twin of the signature (r, n - s)',
      tamper: (b: Json) => {
        const sig = Buffer.from(b.dsseEnvelope.signatures[0].sig as string, 'base64');
        b.dsseEnvelope.signatures[0].sig = twinSignature(sig).toString('base64');
        return b;
      },
      wantCode: 'SIGNATURE_NOT_CANONICAL',
    },
    {
      desc: 'the signature with a needless leading zero in r (BER, not DER)',
      tamper: (b: Json) => {
        const { r, s } = readSignature(
          Buffer.from(b.dsseEnvelope.signatures[0].sig as string, 'base64'),
        );
        b.dsseEnvelope.signatures[0].sig = derSequence(derInteger(r, true), derInteger(s)).toString(
          'base64',
        );
        return b;
      },
      wantCode: 'SIGNATURE_NOT_CANONICAL',
      // OpenSSL refuses BER too; canonicalOnly says why before it is asked.
      lenientCode: 'BUNDLE_SIGNATURE_INVALID',
    },
    {
      desc: 'a newline inside the base64 payload',
      tamper: (b: Json) => {
        const p = b.dsseEnvelope.payload as string;
        b.dsseEnvelope.payload = `${p.slice(0, 40)}\n${p.slice(40)}`;
        return b;
      },
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
    {
      desc: 'a space inside the base64 signature',
      tamper: (b: Json) => {
        const s = b.dsseEnvelope.signatures[0].sig as string;
        b.dsseEnvelope.signatures[0].sig = `${s.slice(0, 8)} ${s.slice(8)}`;
        return b;
      },
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
    {
      desc: 'base64 padding left out',
      tamper: (b: Json) => {
        const f = paddedField(b);
        f.set(f.get().replace(/=+$/, ''));
        return b;
      },
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
    {
      desc: 'extra base64 padding',
      tamper: (b: Json) => {
        b.dsseEnvelope.payload = `${b.dsseEnvelope.payload as string}==`;
        return b;
      },
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
    {
      desc: 'base64 with non-zero trailing bits',
      tamper: (b: Json) => {
        const f = paddedField(b);
        f.set(withTrailingBits(f.get()));
        return b;
      },
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
    {
      desc: 'the URL-safe base64 alphabet in the certificate',
      tamper: (b: Json) => {
        const raw = b.verificationMaterial.certificate.rawBytes as string;
        b.verificationMaterial.certificate.rawBytes = raw.replace(/\+/g, '-').replace(/\//g, '_');
        return b;
      },
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
    {
      desc: 'the certificate as a one-element chain (v0.3 bundles carry one certificate)',
      tamper: (b: Json) => {
        b.verificationMaterial = {
          x509CertificateChain: { certificates: [b.verificationMaterial.certificate] },
          timestampVerificationData: {},
        };
        return b;
      },
      wantCode: 'MALFORMED_BUNDLE',
      lenientCode: 'MALFORMED_BUNDLE',
    },
    {
      desc: 'an empty tlog entry list',
      tamper: (b: Json) => {
        b.verificationMaterial.tlogEntries = [];
        return b;
      },
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
    {
      desc: 'an empty RFC 3161 timestamp list',
      tamper: (b: Json) => {
        b.verificationMaterial.timestampVerificationData = { rfc3161Timestamps: [] };
        return b;
      },
      wantCode: 'BUNDLE_NOT_CANONICAL',
    },
  ] as { desc: string; tamper: (b: Json) => Json; wantCode: string; lenientCode?: string }[])(
    'throws $wantCode for $desc',
    async ({ tamper, wantCode, lenientCode }) => {
      const input = tamper(clone(bundle));
      const lenient = verifyStatementBundleDetailed(input, { caCertificatePem: ca.certificatePem });
      // Most variants still carry the vehicle's valid signature over the same statement...
      if (lenientCode) await expect(lenient).rejects.toMatchObject({ code: lenientCode });
      else await expect(lenient).resolves.toBeDefined();
      // ...and each is refused when only the canonical encoding is accepted.
      await expect(verify(input)).rejects.toMatchObject({ name: 'KeysError', code: wantCode });
    },
  );

  it('gives the same statement by the same key the same signedContentDigest under a renewed certificate', async () => {
    const csr = await createVehicleCsr(vehicle.privateKey, {
      vinCommitment: vehicle.vinCommitment,
      ecuSerial: vehicle.ecuSerial,
    });
    const renewed = await issueVehicleCertificateFromCsr(ca, csr, { validDays: 30 });
    const copy = clone(bundle);
    copy.verificationMaterial.certificate.rawBytes = new X509Certificate(renewed).raw.toString(
      'base64',
    );
    const a = await verify(bundle);
    const b = await verify(copy);
    expect(b.signer).toMatchObject({ kind: 'certificate' });
    expect(b.signedContentDigest).toBe(a.signedContentDigest);
    const other = await signStatementBundle(
      { ...statement, predicate: { result: 'SUCCESS', counter: 8 } },
      createKeySigner(vehicle.privateKey),
      { certificatePem: vehicle.certificatePem },
    );
    expect((await verify(other)).signedContentDigest).not.toBe(a.signedContentDigest);
  });

  it('signs low-s even when the signer hands out the high-s signature', async () => {
    const signer = highSSigner(createKeySigner(vehicle.privateKey));
    for (let i = 0; i < 4; i++) {
      const b = await signStatementBundle({ ...statement, predicate: { counter: i } }, signer, {
        certificatePem: vehicle.certificatePem,
      });
      const sig = Buffer.from(b.dsseEnvelope!.signatures[0]!.sig, 'base64');
      expect(readSignature(sig).s <= P256_N / 2n).toBe(true);
      await expect(verify(b)).resolves.toBeDefined();
    }
  });
});

describe('normalizeEcdsaSignature', () => {
  const key = generateKeyPair('ecdsa-p256').privateKey;
  const publicKey = createPublicKey(key);
  const signer = createKeySigner(key);

  it('returns a low-s strict-DER signature that verifies, for any message (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), async (message) => {
        const der = await signer.sign(message);
        for (const candidate of [der, twinSignature(der)]) {
          const low = normalizeEcdsaSignature(candidate);
          expect(isCanonicalEcdsaSignature(low)).toBe(true);
          expect(readSignature(low).s <= P256_N / 2n).toBe(true);
          expect(cryptoVerify('sha256', message, publicKey, low)).toBe(true);
          expect(normalizeEcdsaSignature(low)).toEqual(low);
        }
        expect(isCanonicalEcdsaSignature(twinSignature(normalizeEcdsaSignature(der)))).toBe(false);
      }),
      { numRuns: 50 },
    );
  });

  it.each([
    { desc: 'an empty buffer', der: Buffer.alloc(0) },
    { desc: 'r = 0', der: derSequence(derInteger(0n), derInteger(1n)) },
    { desc: 's = n', der: derSequence(derInteger(1n), derInteger(P256_N)) },
    { desc: 'a negative r', der: derSequence(Buffer.from([0x02, 0x01, 0x80]), derInteger(1n)) },
    {
      desc: 'trailing bytes',
      der: Buffer.concat([derSequence(derInteger(1n), derInteger(1n)), Buffer.from([0])]),
    },
    { desc: 'three integers', der: derSequence(derInteger(1n), derInteger(1n), derInteger(1n)) },
  ])('is false for $desc', ({ der }) => {
    expect(isCanonicalEcdsaSignature(der)).toBe(false);
  });
});
