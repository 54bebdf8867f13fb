import { createPublicKey, sign, verify } from 'node:crypto';
import { Key, Metadata, Targets } from '@tufjs/models';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createExternalSigner, ecdsaRawToDer } from './external-signer.js';
import { generateKeyPair } from './generate.js';
import { createKeySigner } from './signer.js';
import { signMetadata } from './tuf/sign-metadata.js';

describe('createExternalSigner', () => {
  // Stands in for a KMS: the private key stays behind the callback, which answers like AWS KMS (raw r||s).
  const { privateKey } = generateKeyPair('ecdsa-p256');
  const publicKeyPem = createPublicKey(privateKey)
    .export({ type: 'spki', format: 'pem' })
    .toString();
  const kmsRaw = (data: Uint8Array) =>
    Promise.resolve(
      new Uint8Array(sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })),
    );

  it('turns a raw-ECDSA device into a Signer whose TUF signatures verify', async () => {
    const signer = createExternalSigner({
      publicKeyPem,
      sign: kmsRaw,
      ecdsaSignatureFormat: 'raw',
    });
    expect(signer.keyId).toBe(createKeySigner(privateKey).keyId);
    const targets = new Metadata(
      new Targets({ version: 1, specVersion: '1.0.31', expires: '2030-01-01T00:00:00Z' }),
    );
    await signMetadata(targets, signer);
    const key = Key.fromJSON(signer.keyId, {
      ...signer.publicKey,
      keyval: { ...signer.publicKey.keyval },
    });
    expect(() => key.verifySignature(targets)).not.toThrow();
  });

  it('passes DER signatures through unchanged', async () => {
    const der = (data: Uint8Array) =>
      Promise.resolve(new Uint8Array(sign('sha256', data, privateKey)));
    const signer = createExternalSigner({ publicKeyPem, sign: der });
    const sig = await signer.sign(Buffer.from('x'));
    expect(verify('sha256', Buffer.from('x'), createPublicKey(publicKeyPem), sig)).toBe(true);
  });

  it.each([
    {
      desc: 'a garbled public key',
      publicKeyPem: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n',
      wantCode: 'MALFORMED_PEM',
    },
    {
      desc: 'a private key in place of the public key',
      publicKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      wantCode: 'WRONG_KEY_TYPE',
    },
  ])('throws $wantCode for $desc', ({ publicKeyPem: pem, wantCode }) => {
    expect(() => createExternalSigner({ publicKeyPem: pem, sign: kmsRaw })).toThrow(
      expect.objectContaining({ code: wantCode }),
    );
  });
});

describe('ecdsaRawToDer', () => {
  it('matches node for every signature (property)', async () => {
    const { privateKey, publicKey } = generateKeyPair('ecdsa-p256');
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), async (data) => {
        const raw = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
        const der = ecdsaRawToDer(raw);
        expect(verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, der)).toBe(true);
        await Promise.resolve();
      }),
      { numRuns: 100 },
    );
  });

  it('handles r and s with leading zero bytes and high bits', () => {
    const raw = new Uint8Array(64);
    raw[31] = 1; // r = 1
    raw[32] = 0x80; // s has the high bit set
    expect(Buffer.from(ecdsaRawToDer(raw)).toString('hex')).toBe(
      '3026020101022100' + '80' + '00'.repeat(31),
    );
  });

  it('throws INVALID_ARGUMENT for a signature that is not 64 bytes', () => {
    expect(() => ecdsaRawToDer(new Uint8Array(63))).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});
