import { createHash, generateKeyPairSync } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { Key, Metadata, MetadataKind, Root, Targets } from '@tufjs/models';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from './generate.js';
import { createKeySigner } from './signer.js';
import { computeKeyId, toTufPublicKey } from './tuf-key.js';
import { signMetadata } from './tuf/sign-metadata.js';
import type { KeyType } from './key-type.js';

const KEY_TYPES: KeyType[] = ['ed25519', 'ecdsa-p256'];
type JsonObject = Parameters<typeof Metadata.fromJSON>[1];
const toJsonObject = (value: unknown) => JSON.parse(JSON.stringify(value)) as JsonObject;

describe('toTufPublicKey', () => {
  it('encodes an ed25519 key as 32 raw bytes in hex', () => {
    const { publicKey } = generateKeyPair('ed25519');
    const tuf = toTufPublicKey(publicKey);
    expect(tuf.keytype).toBe('ed25519');
    expect(tuf.scheme).toBe('ed25519');
    expect(tuf.keyval.public).toMatch(/^[0-9a-f]{64}$/);
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    expect(tuf.keyval.public).toBe(spki.subarray(-32).toString('hex'));
  });

  it('encodes an ECDSA P-256 key as SPKI PEM with the nistp256 scheme', () => {
    const { publicKey, privateKey } = generateKeyPair('ecdsa-p256');
    const tuf = toTufPublicKey(privateKey);
    expect(tuf).toEqual({
      keytype: 'ecdsa',
      scheme: 'ecdsa-sha2-nistp256',
      keyval: { public: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
    });
  });

  describe('when the key is of another type', () => {
    it.each([
      {
        desc: 'RSA',
        key: () => generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey,
        wantCode: 'UNSUPPORTED_KEY_TYPE',
      },
      {
        desc: 'ECDSA P-384',
        key: () => generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey,
        wantCode: 'UNSUPPORTED_KEY_TYPE',
      },
      {
        desc: 'x25519',
        key: () => generateKeyPairSync('x25519').publicKey,
        wantCode: 'UNSUPPORTED_KEY_TYPE',
      },
    ])('throws $wantCode for $desc', ({ key, wantCode }) => {
      expect(() => toTufPublicKey(key())).toThrow(
        expect.objectContaining({ name: 'KeysError', code: wantCode }),
      );
    });
  });
});

describe('computeKeyId', () => {
  it('is the sha256 of the canonical JSON of the key object, as the TUF spec says', () => {
    const key = toTufPublicKey(generateKeyPair('ed25519').publicKey);
    const expected = createHash('sha256')
      .update(`{"keytype":"ed25519","keyval":{"public":"${key.keyval.public}"},"scheme":"ed25519"}`)
      .digest('hex');
    expect(computeKeyId(key)).toBe(expected);
  });

  it('matches a hash over canonicalize() for any key material (property)', () => {
    fc.assert(
      fc.property(fc.string(), (material) => {
        const key = {
          keytype: 'ecdsa',
          scheme: 'ecdsa-sha2-nistp256',
          keyval: { public: material },
        } as const;
        expect(computeKeyId(key)).toBe(
          createHash('sha256').update(canonicalize(key)).digest('hex'),
        );
      }),
    );
  });
});

describe.each(KEY_TYPES)('TUF metadata signed by a %s key signer', (keyType) => {
  async function signedRoot() {
    const signer = createKeySigner(generateKeyPair(keyType).privateKey);
    const key = Key.fromJSON(signer.keyId, {
      ...signer.publicKey,
      keyval: { ...signer.publicKey.keyval },
    });
    const root = new Metadata(
      new Root({
        version: 1,
        specVersion: '1.0.31',
        expires: new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        keys: { [signer.keyId]: key },
        consistentSnapshot: true,
      }),
    );
    for (const role of ['root', 'targets', 'snapshot', 'timestamp']) root.signed.addKey(key, role);
    await signMetadata(root, signer);
    return { signer, root };
  }

  it('verifies with @tufjs/models Metadata.verifyDelegate after a JSON round trip', async () => {
    const { root } = await signedRoot();
    const reparsed = Metadata.fromJSON(MetadataKind.Root, toJsonObject(root.toJSON()));
    expect(() => reparsed.verifyDelegate('root', reparsed)).not.toThrow();
  });

  it('verifies delegated targets metadata too', async () => {
    const { root, signer } = await signedRoot();
    const targets = new Metadata(
      new Targets({ version: 1, specVersion: '1.0.31', expires: '2030-01-01T00:00:00Z' }),
    );
    await signMetadata(targets, signer);
    const parsed = Metadata.fromJSON(MetadataKind.Targets, toJsonObject(targets.toJSON()));
    expect(() => root.verifyDelegate('targets', parsed)).not.toThrow();
  });

  it('fails verification once the signed part changes', async () => {
    const { root } = await signedRoot();
    const json = root.toJSON() as { signed: { version: number } };
    json.signed.version = 2;
    const tampered = Metadata.fromJSON(MetadataKind.Root, toJsonObject(json));
    expect(() => root.verifyDelegate('root', tampered)).toThrow(/signed by 0\/1/);
  });
});
