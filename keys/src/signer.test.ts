import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fastScrypt, tempDir } from '../test/helpers.js';
import { generateKeyPair } from './generate.js';
import { writeEncryptedKeyFile } from './key-file.js';
import type { KeyType } from './key-type.js';
import { encryptPrivateKeyPem, encryptPrivateKeyPkcs8 } from './pkcs8.js';
import { createEnvSigner, createFileSigner, createKeySigner } from './signer.js';
import { computeKeyId, toTufPublicKey } from './tuf-key.js';

const KEY_TYPES: KeyType[] = ['ed25519', 'ecdsa-p256'];
let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

describe.each(KEY_TYPES)('createKeySigner with a %s key', (keyType) => {
  it('names the key by its TUF key id and signs in the TUF wire format', async () => {
    const { privateKey, publicKey } = generateKeyPair(keyType);
    const signer = createKeySigner(privateKey);
    expect(signer.keyType).toBe(keyType);
    expect(signer.publicKey).toEqual(toTufPublicKey(publicKey));
    expect(signer.keyId).toBe(computeKeyId(toTufPublicKey(publicKey)));
    expect(createPublicKey(signer.publicKeyPem()).equals(publicKey)).toBe(true);
    const data = Buffer.from('firmware metadata');
    const sig = await signer.sign(data);
    if (keyType === 'ed25519') {
      expect(sig.length).toBe(64);
      expect(verify(null, data, publicKey, sig)).toBe(true);
    } else {
      expect(sig[0]).toBe(0x30); // DER SEQUENCE
      expect(verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, sig)).toBe(true);
    }
    expect(
      verify(keyType === 'ed25519' ? null : 'sha256', Buffer.from('other'), publicKey, sig),
    ).toBe(false);
  });
});

describe('createKeySigner', () => {
  it.each([
    {
      desc: 'a public key',
      key: () => generateKeyPair('ed25519').publicKey,
      wantCode: 'WRONG_KEY_TYPE',
    },
    {
      desc: 'an RSA key',
      key: () => generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey,
      wantCode: 'UNSUPPORTED_KEY_TYPE',
    },
    {
      desc: 'a P-384 key',
      key: () => generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey,
      wantCode: 'UNSUPPORTED_KEY_TYPE',
    },
  ])('throws $wantCode for $desc', ({ key, wantCode }) => {
    expect(() => createKeySigner(key())).toThrow(expect.objectContaining({ code: wantCode }));
  });
});

describe('createFileSigner', () => {
  it('signs with the key from an encrypted key file', async () => {
    const { privateKey, publicKey } = generateKeyPair('ecdsa-p256');
    const path = join(dir, 'targets.key');
    await writeEncryptedKeyFile(path, privateKey, 'pw', { scrypt: fastScrypt });
    const signer = await createFileSigner(path, 'pw');
    const sig = await signer.sign(Buffer.from('x'));
    expect(verify('sha256', Buffer.from('x'), publicKey, sig)).toBe(true);
  });

  it('throws WRONG_PASSPHRASE with the wrong passphrase', async () => {
    const path = join(dir, 'targets.key');
    await writeEncryptedKeyFile(path, generateKeyPair('ed25519').privateKey, 'pw', {
      scrypt: fastScrypt,
    });
    await expect(createFileSigner(path, 'nope')).rejects.toMatchObject({
      code: 'WRONG_PASSPHRASE',
    });
  });
});

describe('createEnvSigner', () => {
  it.each([
    { desc: 'the PEM itself', encode: (pem: string, _der: Buffer) => pem },
    {
      desc: 'base64 of the PEM',
      encode: (pem: string, _der: Buffer) => Buffer.from(pem).toString('base64'),
    },
    { desc: 'base64 of the DER', encode: (_pem: string, der: Buffer) => der.toString('base64') },
  ])('accepts $desc', async ({ encode }) => {
    const { privateKey, publicKey } = generateKeyPair('ed25519');
    const pem = await encryptPrivateKeyPem(privateKey, 'pw', fastScrypt);
    const der = await encryptPrivateKeyPkcs8(privateKey, 'pw', fastScrypt);
    const signer = createEnvSigner(encode(pem, der), 'pw');
    expect(signer.keyId).toBe(computeKeyId(toTufPublicKey(publicKey)));
  });

  it.each([
    {
      desc: 'the value is empty',
      value: () => Promise.resolve('  '),
      passphrase: 'pw',
      wantCode: 'MALFORMED_PEM',
    },
    {
      desc: 'the value is neither PEM nor base64',
      value: () => Promise.resolve('not a key!'),
      passphrase: 'pw',
      wantCode: 'MALFORMED_PEM',
    },
    {
      desc: 'the passphrase is wrong',
      value: () => encryptPrivateKeyPem(generateKeyPair('ed25519').privateKey, 'pw', fastScrypt),
      passphrase: 'other',
      wantCode: 'WRONG_PASSPHRASE',
    },
    {
      desc: 'the key is unencrypted',
      value: () =>
        Promise.resolve(
          generateKeyPair('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        ),
      passphrase: 'pw',
      wantCode: 'NOT_ENCRYPTED',
    },
  ])('throws $wantCode when $desc', async ({ value, passphrase, wantCode }) => {
    const v = await value();
    expect(() => createEnvSigner(v, passphrase)).toThrow(
      expect.objectContaining({ code: wantCode }),
    );
  });
});
