import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../test/helpers.js';
import { writeEncryptedKeyFile } from './key-file.js';
import {
  createExternalSecp256k1Signer,
  createSecp256k1FileSigner,
  createSecp256k1KeySigner,
  generateSecp256k1KeyPair,
  importSecp256k1PrivateKey,
  secp256k1Address,
} from './secp256k1-signer.js';
import { createKeySigner } from './signer.js';

// anvil's first development account: a public test vector (anvil prints it at start).
const ANVIL_0_KEY = 'ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
const ANVIL_0_ADDRESS = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

const digest = () => new Uint8Array(createHash('sha256').update(randomBytes(16)).digest());

describe('Secp256k1Signer over an encrypted key file', () => {
  it('signs a digest with low s that verifies against its public key, and never stores the key in clear', async () => {
    const { privateKey } = generateSecp256k1KeyPair();
    const path = join(dir, 'operator.key');
    await writeEncryptedKeyFile(path, privateKey, 'operator pass');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, 'utf8')).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    const signer = await createSecp256k1FileSigner(path, 'operator pass');
    expect(signer.keyType).toBe('secp256k1');
    expect(signer.publicKey).toHaveLength(65);
    expect(signer.address).toMatch(/^0x[0-9a-fA-F]{40}$/);
    const d = digest();
    const sig = await signer.signDigest(d);
    expect(sig).toHaveLength(64);
    const parsed = secp256k1.Signature.fromCompact(sig);
    expect(parsed.hasHighS()).toBe(false);
    expect(secp256k1.verify(sig, d, signer.publicKey)).toBe(true);
  });

  it('derives the account address of a known key (EIP-55)', () => {
    const signer = createSecp256k1KeySigner(
      importSecp256k1PrivateKey(Buffer.from(ANVIL_0_KEY, 'hex')),
    );
    expect(signer.address).toBe(ANVIL_0_ADDRESS);
    expect(secp256k1Address(signer.publicKey)).toBe(ANVIL_0_ADDRESS);
  });

  it('throws WRONG_PASSPHRASE for the wrong passphrase', async () => {
    const path = join(dir, 'k.key');
    await writeEncryptedKeyFile(path, generateSecp256k1KeyPair().privateKey, 'right');
    await expect(createSecp256k1FileSigner(path, 'wrong')).rejects.toMatchObject({
      code: 'WRONG_PASSPHRASE',
    });
  });

  it.each([
    {
      desc: 'a digest that is not 32 bytes',
      input: new Uint8Array(31),
      wantCode: 'INVALID_ARGUMENT',
    },
  ])('throws $wantCode for $desc', async ({ input, wantCode }) => {
    const signer = createSecp256k1KeySigner(generateSecp256k1KeyPair().privateKey);
    await expect(signer.signDigest(input)).rejects.toMatchObject({ code: wantCode });
  });

  it('is not a TUF key: the TUF signer refuses it with UNSUPPORTED_KEY_TYPE', () => {
    expect(() => createKeySigner(generateSecp256k1KeyPair().privateKey)).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_KEY_TYPE' }),
    );
  });

  it.each([
    { desc: 'an all-zero key', raw: new Uint8Array(32) },
    { desc: 'a 31-byte key', raw: new Uint8Array(31).fill(1) },
  ])('refuses to import $desc with INVALID_ARGUMENT', ({ raw }) => {
    expect(() => importSecp256k1PrivateKey(raw)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('createExternalSecp256k1Signer (HSM/KMS adapter)', () => {
  const { privateKey, publicKey } = generateSecp256k1KeyPair();
  const inner = createSecp256k1KeySigner(privateKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();

  it('normalizes a DER signature with high s to raw low-s r || s', async () => {
    const d = digest();
    const raw = secp256k1.Signature.fromCompact(await inner.signDigest(d));
    // What a KMS may return: DER, and s on either side of n/2.
    const high = new secp256k1.Signature(raw.r, secp256k1.CURVE.n - raw.s);
    const external = createExternalSecp256k1Signer({
      publicKeyPem,
      signDigest: () => Promise.resolve(high.toDERRawBytes()),
    });
    expect(external.address).toBe(inner.address);
    const sig = await external.signDigest(d);
    expect(secp256k1.Signature.fromCompact(sig).hasHighS()).toBe(false);
    expect(secp256k1.verify(sig, d, external.publicKey)).toBe(true);
  });

  it.each([
    { desc: 'a private key PEM', pem: () => 'PRIVATE KEY', wantCode: 'WRONG_KEY_TYPE' },
    {
      desc: 'a P-256 public key',
      pem: () =>
        createKeySigner(
          generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey,
        ).publicKeyPem(),
      wantCode: 'WRONG_KEY_TYPE',
    },
  ])('throws $wantCode for $desc', ({ pem, wantCode }) => {
    expect(() =>
      createExternalSecp256k1Signer({
        publicKeyPem: pem(),
        signDigest: () => Promise.resolve(new Uint8Array()),
      }),
    ).toThrow(expect.objectContaining({ code: wantCode }));
  });

  it('throws INVALID_ARGUMENT when the device answers something that is not a signature', async () => {
    const external = createExternalSecp256k1Signer({
      publicKeyPem,
      signDigest: () => Promise.resolve(new Uint8Array([1, 2, 3])),
    });
    await expect(external.signDigest(digest())).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
