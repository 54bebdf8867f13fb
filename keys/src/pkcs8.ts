import { createCipheriv, createPrivateKey, randomBytes, scrypt, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { KeysError } from './error.js';
import { requireStorablePrivateKey } from './key-type.js';
import {
  child,
  children,
  decode,
  encode,
  octets,
  oid,
  int,
  readInt,
  readOctets,
  readOid,
  seq,
} from './util/der.js';
import { decodePem, decodePemBlocks, encodePem } from './util/pem.js';

const scryptAsync = promisify(scrypt) as (
  password: string | Buffer,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

const OID_PBES2 = '1.2.840.113549.1.5.13';
const OID_SCRYPT = '1.3.6.1.4.1.11591.4.11';
const OID_PBKDF2 = '1.2.840.113549.1.5.12';
const OID_AES256_CBC = '2.16.840.1.101.3.4.1.42';
const OID_AES128_CBC = '2.16.840.1.101.3.4.1.2';
const OID_AES192_CBC = '2.16.840.1.101.3.4.1.22';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
}

/** The parameters OpenSSL uses for `openssl pkcs8 -scrypt`; 16 MiB of memory per derivation. */
export const defaultScryptParams: ScryptParams = { N: 16384, r: 8, p: 1 };

// OpenSSL refuses scrypt derivations above 32 MiB (its SCRYPT_MAX_MEM) when it reads a key.
const MAX_SCRYPT_MEMORY = 32 * 1024 * 1024;
const MAX_PBKDF2_ITERATIONS = 10_000_000;

function checkPassphrase(passphrase: string): void {
  if (typeof passphrase !== 'string' || passphrase.length === 0) {
    throw new KeysError('EMPTY_PASSPHRASE', 'a non-empty passphrase is required');
  }
}

function checkScryptParams({ N, r, p }: ScryptParams): void {
  const powerOfTwo = Number.isInteger(N) && N > 1 && (N & (N - 1)) === 0;
  if (
    !powerOfTwo ||
    !Number.isInteger(r) ||
    r < 1 ||
    !Number.isInteger(p) ||
    p < 1 ||
    128 * N * r > MAX_SCRYPT_MEMORY
  ) {
    throw new KeysError(
      'INVALID_ARGUMENT',
      'scrypt parameters out of range (N power of two, 128*N*r <= 32 MiB)',
    );
  }
}

/**
 * Encrypted PKCS#8 (RFC 5958 EncryptedPrivateKeyInfo) using PBES2 with id-scrypt (RFC 7914) and
 * AES-256-CBC. Node's own export only offers PBKDF2, so the structure is built here.
 */
export async function encryptPrivateKeyPkcs8(
  privateKey: KeyObject,
  passphrase: string,
  params: ScryptParams = defaultScryptParams,
): Promise<Buffer> {
  requireStorablePrivateKey(privateKey);
  checkPassphrase(passphrase);
  checkScryptParams(params);
  const plain = privateKey.export({ type: 'pkcs8', format: 'der' });
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = await scryptAsync(Buffer.from(passphrase, 'utf8'), salt, 32, {
    ...params,
    maxmem: MAX_SCRYPT_MEMORY * 2,
  });
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
  key.fill(0);
  const info = seq([
    seq([
      oid(OID_PBES2),
      seq([
        seq([oid(OID_SCRYPT), seq([octets(salt), int(params.N), int(params.r), int(params.p)])]),
        seq([oid(OID_AES256_CBC), octets(iv)]),
      ]),
    ]),
    octets(encrypted),
  ]);
  return encode(info);
}

export async function encryptPrivateKeyPem(
  privateKey: KeyObject,
  passphrase: string,
  params: ScryptParams = defaultScryptParams,
): Promise<string> {
  return encodePem(
    'ENCRYPTED PRIVATE KEY',
    await encryptPrivateKeyPkcs8(privateKey, passphrase, params),
  );
}

/** Structure check of an EncryptedPrivateKeyInfo; throws MALFORMED_PEM or UNSUPPORTED_ENCRYPTION. */
function inspectEncryptedPrivateKeyInfo(der: Buffer): void {
  let algorithm: string;
  let kdf: string;
  try {
    const top = children(decode(der), 'EncryptedPrivateKeyInfo');
    const alg = children(child(top, 0, 'encryptionAlgorithm'), 'AlgorithmIdentifier');
    readOctets(child(top, 1, 'encryptedData'));
    algorithm = readOid(alg[0]);
    if (algorithm !== OID_PBES2) {
      throw new KeysError(
        'UNSUPPORTED_ENCRYPTION',
        `unsupported key encryption ${algorithm}; expected PBES2`,
      );
    }
    const params = children(alg[1], 'PBES2-params');
    const kdfAlg = children(child(params, 0, 'keyDerivationFunc'), 'AlgorithmIdentifier');
    kdf = readOid(kdfAlg[0]);
    if (kdf === OID_SCRYPT) {
      const sp = children(kdfAlg[1], 'scrypt-params');
      readOctets(sp[0]);
      const N = readInt(sp[1]);
      const r = readInt(sp[2]);
      const p = readInt(sp[3]);
      checkScryptParams({ N, r, p });
    } else if (kdf === OID_PBKDF2) {
      const pp = children(kdfAlg[1], 'PBKDF2-params');
      readOctets(pp[0]);
      // bounds the work an untrusted key file can demand before the passphrase is even tried
      if (readInt(pp[1]) > MAX_PBKDF2_ITERATIONS) {
        throw new KeysError(
          'UNSUPPORTED_ENCRYPTION',
          'PBKDF2 iteration count is unreasonably high',
        );
      }
    }
    const enc = children(child(params, 1, 'encryptionScheme'), 'AlgorithmIdentifier');
    const cipher = readOid(enc[0]);
    if (![OID_AES128_CBC, OID_AES192_CBC, OID_AES256_CBC].includes(cipher)) {
      throw new KeysError('UNSUPPORTED_ENCRYPTION', `unsupported cipher ${cipher}`);
    }
    readOctets(enc[1]);
  } catch (error) {
    if (error instanceof KeysError) throw error;
    throw new KeysError(
      'MALFORMED_PEM',
      'encrypted private key is not a valid EncryptedPrivateKeyInfo',
      { cause: error },
    );
  }
  if (kdf !== OID_SCRYPT && kdf !== OID_PBKDF2) {
    throw new KeysError('UNSUPPORTED_ENCRYPTION', `unsupported key derivation ${kdf}`);
  }
}

/**
 * Decrypts an encrypted PKCS#8 private key (PEM text or DER). Accepts PBES2 with scrypt or PBKDF2.
 * Codes: MALFORMED_PEM, NOT_ENCRYPTED, UNSUPPORTED_ENCRYPTION, WRONG_PASSPHRASE, UNSUPPORTED_KEY_TYPE.
 */
export function decryptPrivateKey(encrypted: string | Uint8Array, passphrase: string): KeyObject {
  checkPassphrase(passphrase);
  let der: Buffer;
  if (typeof encrypted === 'string') {
    const blocks = decodePemBlocks(encrypted);
    if (blocks.length === 1 && blocks[0]?.label === 'PRIVATE KEY') {
      throw new KeysError('NOT_ENCRYPTED', 'the private key is stored unencrypted');
    }
    der = decodePem(encrypted, 'ENCRYPTED PRIVATE KEY');
  } else {
    der = Buffer.from(encrypted);
  }
  inspectEncryptedPrivateKeyInfo(der);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8', passphrase });
  } catch (error) {
    // A wrong passphrase shows up as bad padding or, rarely, as garbage PKCS#8 after decryption.
    throw new KeysError('WRONG_PASSPHRASE', 'the passphrase does not decrypt this key', {
      cause: error,
    });
  }
  requireStorablePrivateKey(key);
  return key;
}
