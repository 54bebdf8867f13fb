import { createHash, createPublicKey } from 'node:crypto';
import { bundleFromJSON, type SerializedBundle } from '@sigstore/bundle';
import { PublicKeyDetails, type TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../generate.js';
import { createKeySigner, type Signer } from '../signer.js';
import { signFirmwareAttestation, verifyFirmwareAttestation } from './firmware.js';
import { signStatementBundle } from './bundle.js';
import { FIRMWARE_PREDICATE_TYPE, IN_TOTO_STATEMENT_TYPE } from './statement.js';

const image = Buffer.from('firmware image bytes v1.2.0');
const sha256 = createHash('sha256').update(image).digest('hex');
const input = {
  name: 'gateway-1.2.0.bin',
  sha256,
  hardwareIds: ['acme-gw-r2'],
  version: '1.2.0',
  releaseCounter: 12,
  build: { commit: 'deadbeef', builder: 'ci-runner-7' },
};

describe.each(['ed25519', 'ecdsa-p256'] as const)(
  'a firmware attestation by a %s build key',
  (keyType) => {
    let signer: Signer;
    let bundle: SerializedBundle;
    let trust: { publicKeyPem: string; keyId: string };
    beforeAll(async () => {
      signer = createKeySigner(generateKeyPair(keyType).privateKey);
      trust = { publicKeyPem: signer.publicKeyPem(), keyId: signer.keyId };
      bundle = await signFirmwareAttestation(input, signer);
    });

    it('verifies and returns the firmware predicate', async () => {
      const statement = await verifyFirmwareAttestation(bundle, trust, {
        sha256,
        name: input.name,
      });
      expect(statement).toEqual({
        _type: IN_TOTO_STATEMENT_TYPE,
        subject: [{ name: input.name, digest: { sha256 } }],
        predicateType: FIRMWARE_PREDICATE_TYPE,
        predicate: {
          hardwareIds: ['acme-gw-r2'],
          version: '1.2.0',
          releaseCounter: 12,
          build: input.build,
        },
      });
    });

    it('accepts the expected digest with a 0x prefix or in upper case', async () => {
      await expect(
        verifyFirmwareAttestation(bundle, trust, { sha256: `0x${sha256.toUpperCase()}` }),
      ).resolves.toBeDefined();
    });

    it('is accepted by a stock @sigstore/verify Verifier given only the OEM public key', () => {
      const emptyRoot: TrustedRoot = {
        mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
        tlogs: [],
        certificateAuthorities: [],
        ctlogs: [],
        timestampAuthorities: [],
      };
      const keyDetails =
        keyType === 'ed25519'
          ? PublicKeyDetails.PKIX_ED25519
          : PublicKeyDetails.PKIX_ECDSA_P256_SHA_256;
      const rawBytes = createPublicKey(signer.publicKeyPem()).export({
        type: 'spki',
        format: 'der',
      });
      const trustMaterial = toTrustMaterial(emptyRoot, {
        [signer.keyId]: { rawBytes, keyDetails },
      });
      const verifier = new Verifier(trustMaterial, {
        tlogThreshold: 0,
        ctlogThreshold: 0,
        timestampThreshold: 0,
      });
      const entity = toSignedEntity(bundleFromJSON(bundle));
      expect(verifier.verify(entity).key.equals(createPublicKey(signer.publicKeyPem()))).toBe(true);

      const otherKey = createPublicKey(
        createKeySigner(generateKeyPair(keyType).privateKey).publicKeyPem(),
      );
      const wrong = toTrustMaterial(emptyRoot, {
        [signer.keyId]: { rawBytes: otherKey.export({ type: 'spki', format: 'der' }), keyDetails },
      });
      expect(() =>
        new Verifier(wrong, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(
          entity,
        ),
      ).toThrow(expect.objectContaining({ code: 'SIGNATURE_ERROR' }));
    });

    describe('when it does not match what the vehicle is about to install', () => {
      it.each([
        {
          desc: 'the image digest differs',
          expected: { sha256: 'ee'.repeat(32) },
          wantCode: 'SUBJECT_DIGEST_MISMATCH',
        },
        {
          desc: 'the target name differs',
          expected: { sha256, name: 'other.bin' },
          wantCode: 'SUBJECT_NAME_MISMATCH',
        },
        {
          desc: 'the expected digest is not hex',
          expected: { sha256: 'xyz' },
          wantCode: 'INVALID_ARGUMENT',
        },
      ])('throws $wantCode when $desc', async ({ expected, wantCode }) => {
        await expect(verifyFirmwareAttestation(bundle, trust, expected)).rejects.toMatchObject({
          name: 'KeysError',
          code: wantCode,
        });
      });
    });

    it('throws WRONG_PREDICATE_TYPE for another statement signed by the same key', async () => {
      const other = await signStatementBundle(
        {
          _type: IN_TOTO_STATEMENT_TYPE,
          subject: [{ name: input.name, digest: { sha256 } }],
          predicateType: 'https://slsa.dev/provenance/v1',
          predicate: {},
        },
        signer,
      );
      await expect(verifyFirmwareAttestation(other, trust, { sha256 })).rejects.toMatchObject({
        code: 'WRONG_PREDICATE_TYPE',
      });
    });

    it('throws MALFORMED_STATEMENT for a firmware statement with a broken predicate', async () => {
      const other = await signStatementBundle(
        {
          _type: IN_TOTO_STATEMENT_TYPE,
          subject: [{ name: input.name, digest: { sha256 } }],
          predicateType: FIRMWARE_PREDICATE_TYPE,
          predicate: { version: 3 },
        },
        signer,
      );
      await expect(verifyFirmwareAttestation(other, trust, { sha256 })).rejects.toMatchObject({
        code: 'MALFORMED_STATEMENT',
      });
    });

    it('throws KEY_HINT_MISMATCH when checked against another OEM key', async () => {
      const other = createKeySigner(generateKeyPair(keyType).privateKey);
      await expect(
        verifyFirmwareAttestation(
          bundle,
          { publicKeyPem: other.publicKeyPem(), keyId: other.keyId },
          { sha256 },
        ),
      ).rejects.toMatchObject({ code: 'KEY_HINT_MISMATCH' });
    });
  },
);

describe('signFirmwareAttestation', () => {
  it.each([
    { desc: 'no hardware IDs', patch: { hardwareIds: [] } },
    { desc: 'a negative release counter', patch: { releaseCounter: -1 } },
    { desc: 'a digest that is not sha256 hex', patch: { sha256: 'abc' } },
    { desc: 'an empty name', patch: { name: '' } },
  ])('throws INVALID_ARGUMENT for $desc', async ({ patch }) => {
    const signer = createKeySigner(generateKeyPair('ed25519').privateKey);
    await expect(signFirmwareAttestation({ ...input, ...patch }, signer)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
