import { Metadata, MetadataKind } from '@tufjs/models';
import type { Command } from 'commander';
import { Option } from 'commander';
import {
  addJsonOption,
  addPassphraseOption,
  emit,
  readJsonFile,
  type JsonOption,
} from '../context.js';
import { CliError } from '../error.js';
import { writeJsonFile } from '../files.js';
import { openKeyFile } from '../key-input.js';
import type { CliRun } from '../run.js';
import { loadSigningFile, targetsSigningStatus, targetsStatusText } from '../targets-signing.js';
import { ceremonyText } from './repo-init.js';

interface SignOptions extends JsonOption {
  role: 'root' | 'targets';
  key: string;
  passphraseFile?: string;
  root?: string;
}

export function registerSignCommand(program: Command, run: CliRun): void {
  const sign = program
    .command('sign')
    .description(
      "add one holder's signature to a root ceremony file (repo init, rotate-root prepare) or an offline targets signing file (publish --offline-targets)",
    )
    .argument(
      '<file>',
      'ceremony or targets signing file; rewritten atomically with the new signature',
    )
    .addOption(
      new Option('--role <role>', 'role being signed')
        .choices(['root', 'targets'])
        .makeOptionMandatory(),
    )
    .requiredOption('--key <keyfile>', "this holder's encrypted private key file")
    .option(
      '--root <file>',
      'targets only: the root you trust (e.g. 1.root.json); the file must carry it or its signed successor',
    );
  addPassphraseOption(sign);
  addJsonOption(sign).action(async (file: string, opts: SignOptions) => {
    if (opts.role === 'root') {
      const keys = await import('@tufchain/keys');
      const ceremony = await readJsonFile(file, 'ceremony file', 'MALFORMED_SIGNING_FILE');
      keys.describeRootCeremony(ceremony);
      const signer = await openKeyFile(run, opts.key, opts);
      const next = await keys.signRootCeremony(ceremony, signer);
      await keys.writeCeremonyFile(file, next);
      const status = keys.describeRootCeremony(next);
      emit(
        run,
        opts,
        { file, role: 'root', keyId: signer.keyId, status },
        `signed ${file} with ${signer.keyId}\n${ceremonyText(status)}`,
      );
      return;
    }
    const loaded = loadSigningFile(
      await readJsonFile(file, 'targets signing file', 'MALFORMED_SIGNING_FILE'),
    );
    const trustedRoot =
      opts.root === undefined
        ? undefined
        : Metadata.fromJSON(
            MetadataKind.Root,
            (await readJsonFile(opts.root, 'trusted root', 'INVALID_ARGUMENT')) as never,
          );
    targetsSigningStatus(loaded, trustedRoot);
    const signer = await openKeyFile(run, opts.key, opts);
    if (!loaded.root.signed.roles.targets?.keyIDs.includes(signer.keyId)) {
      throw new CliError(
        'NOT_A_TARGETS_KEY',
        `key ${signer.keyId} is not a targets key of the root`,
      );
    }
    if (loaded.targets.signatures[signer.keyId]) {
      throw new CliError('ALREADY_SIGNED', `key ${signer.keyId} has already signed`);
    }
    const { signMetadata } = await import('@tufchain/keys');
    await signMetadata(loaded.targets, signer);
    const status = targetsSigningStatus(loaded, trustedRoot);
    await writeJsonFile(file, { ...loaded.file, targets: loaded.targets.toJSON() });
    emit(
      run,
      opts,
      { file, role: 'targets', keyId: signer.keyId, status },
      `signed ${file} with ${signer.keyId}\n${targetsStatusText(status)}`,
    );
  });
}
