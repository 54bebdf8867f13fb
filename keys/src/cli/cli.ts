import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { readCeremonyFile, writeCeremonyFile } from '../ceremony/ceremony-file.js';
import {
  describeRootCeremony,
  finalizeRootCeremony,
  initRootCeremony,
  rotateRootCeremony,
  signRootCeremony,
  type RoleKeys,
} from '../ceremony/root-ceremony.js';
import { KeysError } from '../error.js';
import { generateKeyPair } from '../generate.js';
import { writeEncryptedKeyFile } from '../key-file.js';
import {
  createSecp256k1KeySigner,
  generateSecp256k1KeyPair,
  importSecp256k1PrivateKey,
} from '../secp256k1-signer.js';
import { createFileSigner } from '../signer.js';
import { computeKeyId, toTufPublicKey, type TufPublicKey } from '../tuf-key.js';

export interface CliIo {
  env: Record<string, string | undefined>;
  out(line: string): void;
  err(line: string): void;
  /** All of standard input (keygen --import reads a private key from it, never from argv). */
  readStdin?: () => Promise<string>;
}

const USAGE = `usage: tufchain-keys <command> [options]
  keygen   --type ed25519|ecdsa-p256 --out KEY_FILE [--public-out PUB_JSON]
  keygen   --type secp256k1 --out KEY_FILE [--import]   chain account (publisher, log operator);
           prints its address; --import encrypts an existing 0x-hex private key read from stdin
  ceremony init     --out FILE --root PUB_JSON... --threshold K --targets PUB_JSON... --snapshot PUB_JSON... --timestamp PUB_JSON... [--expires-days N]
  ceremony rotate   --previous ROOT_JSON --out FILE [--root PUB_JSON... --threshold K] [--expires-days N]
  ceremony status   --file FILE
  ceremony sign     --file FILE --key KEY_FILE
  ceremony finalize --file FILE --out ROOT_JSON
The key passphrase is read from the environment variable named by --passphrase-env (default TUFCHAIN_KEY_PASSPHRASE).`;

class UsageError extends Error {}

const DAY_MS = 86_400_000;

function passphrase(io: CliIo, name: string): string {
  const value = io.env[name];
  if (!value) throw new UsageError(`set the key passphrase in $${name}`);
  return value;
}

async function readPublicKey(path: string): Promise<TufPublicKey> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new KeysError('INVALID_ARGUMENT', `${path} is not a TUF public key JSON file`, {
      cause: error,
    });
  }
  const key = json as Partial<TufPublicKey>;
  if (
    (key.keytype !== 'ed25519' && key.keytype !== 'ecdsa') ||
    (key.scheme !== 'ed25519' && key.scheme !== 'ecdsa-sha2-nistp256') ||
    typeof key.keyval?.public !== 'string'
  ) {
    throw new KeysError('INVALID_ARGUMENT', `${path} is not a TUF public key`);
  }
  return { keytype: key.keytype, scheme: key.scheme, keyval: { public: key.keyval.public } };
}

async function role(
  paths: string[] | undefined,
  threshold: number,
  name: string,
): Promise<RoleKeys> {
  if (!paths || paths.length === 0)
    throw new UsageError(`--${name} needs at least one public key file`);
  return { keys: await Promise.all(paths.map(readPublicKey)), threshold };
}

function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer`);
  return n;
}

function required(value: string | undefined, name: string): string {
  if (!value) throw new UsageError(`--${name} is required`);
  return value;
}

/** A chain-account key file: generated, or an existing key read from stdin (--import). */
async function keygenSecp256k1(
  io: CliIo,
  out: string,
  pass: string,
  values: { import?: boolean },
): Promise<void> {
  let privateKey;
  if (values.import) {
    if (!io.readStdin) throw new UsageError('--import needs the key on standard input');
    const hex = (await io.readStdin()).trim().replace(/^0x/i, '');
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
      throw new KeysError('INVALID_ARGUMENT', 'stdin must hold a 32-byte private key in hex');
    }
    privateKey = importSecp256k1PrivateKey(Buffer.from(hex, 'hex'));
  } else {
    privateKey = generateSecp256k1KeyPair().privateKey;
  }
  await writeEncryptedKeyFile(out, privateKey, pass);
  const signer = createSecp256k1KeySigner(privateKey);
  io.out(
    JSON.stringify({
      keyType: 'secp256k1',
      address: signer.address,
      publicKey: `0x${Buffer.from(signer.publicKey).toString('hex')}`,
      file: out,
    }),
  );
}

async function run(argv: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      type: { type: 'string' },
      out: { type: 'string' },
      'public-out': { type: 'string' },
      file: { type: 'string' },
      key: { type: 'string' },
      previous: { type: 'string' },
      root: { type: 'string', multiple: true },
      targets: { type: 'string', multiple: true },
      snapshot: { type: 'string', multiple: true },
      timestamp: { type: 'string', multiple: true },
      threshold: { type: 'string' },
      'expires-days': { type: 'string' },
      'passphrase-env': { type: 'string', default: 'TUFCHAIN_KEY_PASSPHRASE' },
      import: { type: 'boolean', default: false },
    },
  });
  const passphraseEnv = values['passphrase-env'];
  const [command, sub] = positionals;
  const expires = () =>
    new Date(Date.now() + positiveInt(values['expires-days'], 'expires-days', 365) * DAY_MS);

  if (command === 'keygen' && values.type === 'secp256k1') {
    await keygenSecp256k1(io, required(values.out, 'out'), passphrase(io, passphraseEnv), values);
    return;
  }
  if (command === 'keygen') {
    if (values.import) throw new UsageError('--import is for --type secp256k1 only');
    const type = values.type;
    if (type !== 'ed25519' && type !== 'ecdsa-p256')
      throw new UsageError('--type must be ed25519, ecdsa-p256 or secp256k1');
    const { privateKey, publicKey } = generateKeyPair(type);
    await writeEncryptedKeyFile(
      required(values.out, 'out'),
      privateKey,
      passphrase(io, passphraseEnv),
    );
    const tufKey = toTufPublicKey(publicKey);
    if (values['public-out'])
      await writeFile(values['public-out'], JSON.stringify(tufKey, null, 2) + '\n', { flag: 'wx' });
    io.out(JSON.stringify({ keyid: computeKeyId(tufKey), publicKey: tufKey }));
    return;
  }
  if (command !== 'ceremony') throw new UsageError(`unknown command ${command ?? '(none)'}`);
  switch (sub) {
    case 'init': {
      const threshold = positiveInt(values.threshold, 'threshold', 1);
      const ceremony = initRootCeremony({
        root: await role(values.root, threshold, 'root'),
        targets: await role(values.targets, 1, 'targets'),
        snapshot: await role(values.snapshot, 1, 'snapshot'),
        timestamp: await role(values.timestamp, 1, 'timestamp'),
        expires: expires(),
      });
      await writeCeremonyFile(required(values.out, 'out'), ceremony);
      io.out(JSON.stringify(describeRootCeremony(ceremony)));
      return;
    }
    case 'rotate': {
      const previous: unknown = JSON.parse(
        await readFile(required(values.previous, 'previous'), 'utf8'),
      );
      const rootKeys = values.root
        ? await role(values.root, positiveInt(values.threshold, 'threshold', 1), 'root')
        : undefined;
      const ceremony = rotateRootCeremony(previous, {
        expires: expires(),
        ...(rootKeys ? { root: rootKeys } : {}),
      });
      await writeCeremonyFile(required(values.out, 'out'), ceremony);
      io.out(JSON.stringify(describeRootCeremony(ceremony)));
      return;
    }
    case 'status':
      io.out(
        JSON.stringify(describeRootCeremony(await readCeremonyFile(required(values.file, 'file')))),
      );
      return;
    case 'sign': {
      const file = required(values.file, 'file');
      const signer = await createFileSigner(
        required(values.key, 'key'),
        passphrase(io, passphraseEnv),
      );
      const signed = await signRootCeremony(await readCeremonyFile(file), signer);
      await writeCeremonyFile(file, signed);
      io.out(JSON.stringify(describeRootCeremony(signed)));
      return;
    }
    case 'finalize': {
      const root = finalizeRootCeremony(await readCeremonyFile(required(values.file, 'file')));
      await writeFile(required(values.out, 'out'), JSON.stringify(root, null, 2) + '\n', {
        flag: 'wx',
      });
      io.out(
        JSON.stringify({
          version: (root.signed as { version?: unknown }).version,
          out: values.out,
        }),
      );
      return;
    }
    default:
      throw new UsageError(`unknown ceremony step ${sub ?? '(none)'}`);
  }
}

/** Runs one CLI command; returns the exit code (0 ok, 1 refused with a KeysError code, 2 usage). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    await run(argv, io);
    return 0;
  } catch (error) {
    if (error instanceof KeysError) {
      io.err(`error ${error.code}: ${error.message}`);
      return 1;
    }
    if (
      error instanceof UsageError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      io.err(`${(error as Error).message}\n${USAGE}`);
      return 2;
    }
    // file system and JSON errors: report them without a stack trace
    const code = (error as { code?: unknown }).code;
    io.err(
      `error${typeof code === 'string' ? ` ${code}` : ''}: ${error instanceof Error ? error.message : String(error)}`,
    );
    return 1;
  }
}
