import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fastScrypt, openssl, runOpenssl, tempDir } from '../test/helpers.js';
import { generateKeyPair } from './generate.js';
import { readEncryptedKeyFile, writeEncryptedKeyFile } from './key-file.js';
import type { KeyType } from './key-type.js';
import { decryptPrivateKey, encryptPrivateKeyPem } from './pkcs8.js';
import { decode, encode, type Asn1 } from './util/der.js';

const KEY_TYPES: KeyType[] = ['ed25519', 'ecdsa-p256'];
let dir: string;
let cleanup: () => void;

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

function samePrivateKey(
  a: ReturnType<typeof createPrivateKey>,
  b: ReturnType<typeof createPrivateKey>,
): boolean {
  return a
    .export({ type: 'pkcs8', format: 'der' })
    .equals(b.export({ type: 'pkcs8', format: 'der' }));
}

describe.each(KEY_TYPES)('writeEncryptedKeyFile with a %s key', (keyType) => {
  it('round-trips through readEncryptedKeyFile and leaves the file at mode 0600', async () => {
    const { privateKey } = generateKeyPair(keyType);
    const path = join(dir, 'key.pem');
    await writeEncryptedKeyFile(path, privateKey, 'correct horse');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const back = await readEncryptedKeyFile(path, 'correct horse');
    expect(samePrivateKey(back, privateKey)).toBe(true);
  });

  it('stores PBES2 with scrypt that node and OpenSSL both decrypt', async () => {
    const { privateKey } = generateKeyPair(keyType);
    const path = join(dir, 'key.pem');
    await writeEncryptedKeyFile(path, privateKey, 'pw-123');
    const pem = await readFile(path, 'utf8');
    expect(pem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    expect(samePrivateKey(createPrivateKey({ key: pem, passphrase: 'pw-123' }), privateKey)).toBe(
      true,
    );
    if (openssl) {
      const parsed = runOpenssl(['asn1parse', '-in', path]);
      expect(parsed).toContain(':PBES2');
      expect(parsed).toContain(':scrypt');
      expect(parsed).toContain(':aes-256-cbc');
      const plain = runOpenssl(['pkcs8', '-in', path, '-passin', 'pass:pw-123']);
      expect(samePrivateKey(createPrivateKey(plain), privateKey)).toBe(true);
    }
  });
});

describe('readEncryptedKeyFile', () => {
  let path: string;
  let pem: string;
  beforeEach(async () => {
    path = join(dir, 'key.pem');
    await writeEncryptedKeyFile(path, generateKeyPair('ed25519').privateKey, 'right', {
      scrypt: fastScrypt,
    });
    pem = await readFile(path, 'utf8');
  });

  const lines = (text: string) => text.trimEnd().split('\n');
  it.each([
    {
      desc: 'the passphrase is wrong',
      tamper: (p: string) => p,
      passphrase: 'wrong',
      wantCode: 'WRONG_PASSPHRASE',
    },
    {
      desc: 'the passphrase is empty',
      tamper: (p: string) => p,
      passphrase: '',
      wantCode: 'EMPTY_PASSPHRASE',
    },
    {
      desc: 'the PEM is truncated',
      tamper: (p: string) => lines(p).slice(0, 2).join('\n'),
      passphrase: 'right',
      wantCode: 'MALFORMED_PEM',
    },
    {
      desc: 'the PEM lost its last base64 line',
      tamper: (p: string) => [...lines(p).slice(0, -2), lines(p).at(-1)].join('\n') + '\n',
      passphrase: 'right',
      wantCode: 'MALFORMED_PEM',
    },
    {
      desc: 'the base64 is garbled',
      tamper: (p: string) => p.replace(/\n(.)(.)/, '\n*$2'),
      passphrase: 'right',
      wantCode: 'MALFORMED_PEM',
    },
    {
      desc: 'the file is not PEM at all',
      tamper: () => 'hello world\n',
      passphrase: 'right',
      wantCode: 'MALFORMED_PEM',
    },
    {
      desc: 'the key is stored unencrypted',
      tamper: () =>
        generateKeyPair('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      passphrase: 'right',
      wantCode: 'NOT_ENCRYPTED',
    },
    {
      desc: 'the encrypted key is an RSA key',
      tamper: () =>
        generateKeyPairSync('rsa', { modulusLength: 1024 })
          .privateKey.export({
            type: 'pkcs8',
            format: 'pem',
            cipher: 'aes-256-cbc',
            passphrase: 'right',
          })
          .toString(),
      passphrase: 'right',
      wantCode: 'UNSUPPORTED_KEY_TYPE',
    },
  ])('throws $wantCode when $desc', async ({ tamper, passphrase, wantCode }) => {
    await writeFile(path, tamper(pem));
    await expect(readEncryptedKeyFile(path, passphrase)).rejects.toMatchObject({
      name: 'KeysError',
      code: wantCode,
    });
  });

  it('throws KEY_FILE_NOT_FOUND for a missing file', async () => {
    await expect(readEncryptedKeyFile(join(dir, 'nope.pem'), 'right')).rejects.toMatchObject({
      code: 'KEY_FILE_NOT_FOUND',
    });
  });

  it('throws KEY_FILE_INSECURE when others can read the file, unless allowed', async () => {
    await chmod(path, 0o644);
    await expect(readEncryptedKeyFile(path, 'right')).rejects.toMatchObject({
      code: 'KEY_FILE_INSECURE',
    });
    await expect(
      readEncryptedKeyFile(path, 'right', { allowGroupReadable: true }),
    ).resolves.toBeDefined();
  });

  it("reads a key from node's own PKCS#8 export (PBES2 with PBKDF2)", async () => {
    const { privateKey } = generateKeyPair('ecdsa-p256');
    await writeFile(
      path,
      privateKey.export({
        type: 'pkcs8',
        format: 'pem',
        cipher: 'aes-128-cbc',
        passphrase: 'right',
      }),
      { mode: 0o600 },
    );
    expect(samePrivateKey(await readEncryptedKeyFile(path, 'right'), privateKey)).toBe(true);
  });
});

describe.runIf(openssl)('keys encrypted by OpenSSL', () => {
  it.each(KEY_TYPES)('reads a %s key from `openssl pkcs8 -topk8 -scrypt`', async (keyType) => {
    const { privateKey } = generateKeyPair(keyType);
    const plain = join(dir, 'plain.pem');
    const path = join(dir, 'scrypt.pem');
    await writeFile(plain, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    runOpenssl([
      'pkcs8',
      '-topk8',
      '-scrypt',
      '-in',
      plain,
      '-out',
      path,
      '-passout',
      'pass:from openssl',
    ]);
    await chmod(path, 0o600);
    expect(samePrivateKey(await readEncryptedKeyFile(path, 'from openssl'), privateKey)).toBe(true);
    await expect(readEncryptedKeyFile(path, 'wrong')).rejects.toMatchObject({
      code: 'WRONG_PASSPHRASE',
    });
  });
});

describe('decryptPrivateKey', () => {
  it('throws UNSUPPORTED_ENCRYPTION for a PBKDF2 key demanding billions of iterations', () => {
    const der = generateKeyPair('ed25519').privateKey.export({
      type: 'pkcs8',
      format: 'der',
      cipher: 'aes-256-cbc',
      passphrase: 'pw',
    });
    // EncryptedPrivateKeyInfo > algorithm > PBES2-params > keyDerivationFunc > PBKDF2-params > iterationCount
    const info = decode(der);
    const pbkdf2Params = (
      (((info.value as Asn1[])[0]?.value as Asn1[])[1]?.value as Asn1[])[0]?.value as Asn1[]
    )[1]?.value as Asn1[];
    const iterations = pbkdf2Params[1] as Asn1;
    iterations.value = Buffer.from('7fffffff', 'hex').toString('binary');
    expect(() => decryptPrivateKey(encode(info), 'pw')).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_ENCRYPTION' }),
    );
  });
});

describe('writeEncryptedKeyFile', () => {
  it('throws KEY_FILE_EXISTS rather than overwrite a key, unless told to', async () => {
    const path = join(dir, 'key.pem');
    const first = generateKeyPair('ed25519').privateKey;
    await writeEncryptedKeyFile(path, first, 'pw', { scrypt: fastScrypt });
    await expect(
      writeEncryptedKeyFile(path, generateKeyPair('ed25519').privateKey, 'pw'),
    ).rejects.toMatchObject({
      code: 'KEY_FILE_EXISTS',
    });
    expect(samePrivateKey(await readEncryptedKeyFile(path, 'pw'), first)).toBe(true);
    const second = generateKeyPair('ed25519').privateKey;
    await writeEncryptedKeyFile(path, second, 'pw', { overwrite: true, scrypt: fastScrypt });
    expect(samePrivateKey(await readEncryptedKeyFile(path, 'pw'), second)).toBe(true);
  });

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
  ])('throws $wantCode for $desc', async ({ key, wantCode }) => {
    await expect(writeEncryptedKeyFile(join(dir, 'k.pem'), key(), 'pw')).rejects.toMatchObject({
      code: wantCode,
    });
  });

  it('throws INVALID_ARGUMENT for scrypt parameters OpenSSL could not read back', async () => {
    await expect(
      writeEncryptedKeyFile(join(dir, 'k.pem'), generateKeyPair('ed25519').privateKey, 'pw', {
        scrypt: { N: 1 << 16, r: 8, p: 1 },
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('encryptPrivateKeyPem', () => {
  it('round-trips any non-empty unicode passphrase (property)', async () => {
    const { privateKey } = generateKeyPair('ed25519');
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }),
        async (passphrase) => {
          const pem = await encryptPrivateKeyPem(privateKey, passphrase, { N: 16, r: 1, p: 1 });
          expect(samePrivateKey(decryptPrivateKey(pem, passphrase), privateKey)).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('produces a fresh salt and IV each time', async () => {
    const { privateKey } = generateKeyPair('ed25519');
    const a = await encryptPrivateKeyPem(privateKey, 'pw', fastScrypt);
    const b = await encryptPrivateKeyPem(privateKey, 'pw', fastScrypt);
    expect(a).not.toBe(b);
  });
});
