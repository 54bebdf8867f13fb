import { createPublicKey } from 'node:crypto';
import type { Command } from 'commander';
import { Option } from 'commander';
import {
  addJsonOption,
  addPassphraseOption,
  type CliRun,
  emit,
  type JsonOption,
  readTextFile,
  resolvePassphrase,
} from '../context.js';
import { CliError } from '../error.js';
import { writeFileAtomic } from '../files.js';
import { openKeyFile, readPublicKeyFile, type PublicKeyInfo } from '../key-input.js';

interface GenerateOptions extends JsonOption {
  type: 'ed25519' | 'ecdsa-p256';
  out: string;
  publicOut?: string;
  passphraseFile?: string;
}

interface ShowOptions extends JsonOption {
  passphraseFile?: string;
}

function keyView(info: PublicKeyInfo): Record<string, unknown> {
  return {
    keyId: info.keyId,
    type: info.keyType,
    publicKey: info.publicKey,
    publicKeyPem: info.publicKeyPem,
  };
}

function keyText(info: PublicKeyInfo): string {
  return [
    `key id:     ${info.keyId}`,
    `type:       ${info.keyType}`,
    `TUF key:    ${JSON.stringify(info.publicKey)}`,
    info.publicKeyPem.trimEnd(),
  ].join('\n');
}

export function registerKeysCommand(program: Command, run: CliRun): void {
  const keys = program.command('keys').description('generate and inspect signing keys');

  const generate = keys
    .command('generate')
    .description(
      'generate a key pair: the private key as scrypt-encrypted PKCS#8 (mode 0600), the public key as SPKI PEM in <out>.pub',
    )
    .addOption(
      new Option('--type <type>', 'key type')
        .choices(['ed25519', 'ecdsa-p256'])
        .makeOptionMandatory(),
    )
    .requiredOption('--out <file>', 'where to write the encrypted private key (never overwritten)')
    .option('--public-out <file>', 'where to write the public key PEM (default: <out>.pub)');
  addPassphraseOption(generate);
  addJsonOption(generate).action(async (opts: GenerateOptions) => {
    const passphrase = await resolvePassphrase(run, opts, { confirm: true, what: opts.out });
    const { generateKeyPair, writeEncryptedKeyFile } = await import('@tufchain/keys');
    const pair = generateKeyPair(opts.type);
    const publicOut = opts.publicOut ?? `${opts.out}.pub`;
    const publicKeyPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    // The public file first: it is harmless, and FILE_EXISTS then stops before a private key is written.
    await writeFileAtomic(publicOut, publicKeyPem, { overwrite: false });
    await writeEncryptedKeyFile(opts.out, pair.privateKey, passphrase);
    const info = await readPublicKeyFile(publicOut);
    emit(
      run,
      opts,
      { ...keyView(info), privateKeyFile: opts.out, publicKeyFile: publicOut },
      `${keyText(info)}\nprivate key: ${opts.out} (encrypted PKCS#8, 0600)\npublic key:  ${publicOut}`,
    );
  });

  const show = keys
    .command('show')
    .description(
      'show the key id, type and public key of a public key PEM or an encrypted private key file',
    )
    .argument('<file>', 'public key PEM, or encrypted private key (needs the passphrase)');
  addPassphraseOption(show);
  addJsonOption(show).action(async (file: string, opts: ShowOptions) => {
    const text = await readTextFile(file, 'key file');
    let info: PublicKeyInfo;
    if (text.includes('-----BEGIN PUBLIC KEY-----')) {
      info = await readPublicKeyFile(file);
    } else if (text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
      const signer = await openKeyFile(run, file, opts);
      const pem = signer.publicKeyPem();
      const { detectKeyType } = await import('@tufchain/keys');
      info = {
        keyId: signer.keyId,
        keyType: detectKeyType(createPublicKey(pem)),
        publicKey: signer.publicKey,
        publicKeyPem: pem,
      };
    } else {
      throw new CliError(
        'MALFORMED_PUBLIC_KEY',
        `${file} is neither a public key PEM nor an encrypted PKCS#8 private key`,
      );
    }
    emit(run, opts, keyView(info), keyText(info));
  });
}
