import { canonicalize } from '@tufjs/canonical-json';
import type { Command } from 'commander';
import { Option } from 'commander';
import {
  addJsonOption,
  addPassphraseOption,
  type CliRun,
  emit,
  type JsonOption,
  readJsonFile,
} from '../context.js';
import { CliError } from '../error.js';
import { writeJsonFile } from '../files.js';
import { openKeyFile } from '../key-input.js';
import { ceremonyText, rootRoleChanges } from '../root-ceremony.js';

/** A rotation must replace exactly the root this holder trusts; a server could hand out another. */
async function assertRotatesTrustedRoot(ceremony: unknown, trustedRootFile: string): Promise<void> {
  const previous = (ceremony as { previousRoot?: { signed?: unknown } }).previousRoot;
  if (previous === undefined) {
    throw new CliError('USAGE_ERROR', '--root checks rotations; this ceremony starts a first root');
  }
  const trusted = (await readJsonFile(trustedRootFile, 'trusted root', 'INVALID_ARGUMENT')) as {
    signed?: unknown;
  };
  const signed = trusted.signed as { _type?: unknown } | undefined;
  if (typeof signed !== 'object' || signed === null || signed._type !== 'root') {
    throw new CliError('INVALID_ARGUMENT', `${trustedRootFile} is not TUF root metadata`);
  }
  if (canonicalize(previous.signed) !== canonicalize(trusted.signed)) {
    throw new CliError(
      'ROOT_NOT_TRUSTED',
      `the rotation replaces a root other than ${trustedRootFile}`,
    );
  }
}

interface SignOptions extends JsonOption {
  role: 'root' | 'targets' | 'supplier';
  key: string;
  passphraseFile?: string;
  root?: string;
}

export function registerSignCommand(program: Command, run: CliRun): void {
  const sign = program
    .command('sign')
    .description(
      "add one holder's signature to a root ceremony file (repo init, rotate-root prepare), an offline targets signing file (publish --offline-targets) or a supplier signing file (supplier prepare)",
    )
    .argument(
      '<file>',
      'ceremony, targets or supplier signing file; rewritten atomically with the new signature',
    )
    .addOption(
      new Option('--role <role>', 'role being signed')
        .choices(['root', 'targets', 'supplier'])
        .makeOptionMandatory(),
    )
    .requiredOption('--key <keyfile>', "this holder's encrypted private key file")
    .option(
      '--root <file>',
      'the root you trust (e.g. 1.root.json): a rotation must replace exactly it; a targets or supplier file must carry it or its signed successor',
    );
  addPassphraseOption(sign);
  addJsonOption(sign).action(async (file: string, opts: SignOptions) => {
    if (opts.role === 'root') {
      const keys = await import('@tufchain/keys');
      const ceremony = await readJsonFile(file, 'ceremony file', 'MALFORMED_SIGNING_FILE');
      keys.describeRootCeremony(ceremony);
      if (opts.root !== undefined) await assertRotatesTrustedRoot(ceremony, opts.root);
      const signer = await openKeyFile(run, opts.key, opts);
      const next = await keys.signRootCeremony(ceremony, signer);
      await keys.writeCeremonyFile(file, next);
      const status = keys.describeRootCeremony(next);
      const roles = rootRoleChanges(next);
      emit(
        run,
        opts,
        { file, role: 'root', keyId: signer.keyId, status, roles },
        `signed ${file} with ${signer.keyId}\n${ceremonyText(status, roles)}`,
      );
      return;
    }
    if (opts.role === 'supplier') {
      await signSupplierFile(run, file, opts);
      return;
    }
    const { Metadata, MetadataKind } = await import('@tufjs/models');
    const { loadSigningFile, targetsSigningStatus, targetsStatusText } =
      await import('../targets-signing.js');
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

async function readTrustedRoot(path: string | undefined) {
  if (path === undefined) return undefined;
  const { Metadata, MetadataKind } = await import('@tufjs/models');
  const json = await readJsonFile(path, 'trusted root', 'INVALID_ARGUMENT');
  try {
    return Metadata.fromJSON(MetadataKind.Root, json as never);
  } catch (error) {
    throw new CliError('INVALID_ARGUMENT', `${path} is not TUF root metadata`, { cause: error });
  }
}

/** One supplier key holder's signature on the supplier role's next version. */
async function signSupplierFile(run: CliRun, file: string, opts: SignOptions): Promise<void> {
  const { loadSupplierFile, supplierDelegationOf, supplierSigningStatus, supplierStatusText } =
    await import('../supplier-signing.js');
  const loaded = loadSupplierFile(
    await readJsonFile(file, 'supplier signing file', 'MALFORMED_SIGNING_FILE'),
  );
  const trustedRoot = await readTrustedRoot(opts.root);
  supplierSigningStatus(loaded, trustedRoot);
  const signer = await openKeyFile(run, opts.key, opts);
  if (!supplierDelegationOf(loaded.delegator, loaded.role).keyIDs.includes(signer.keyId)) {
    throw new CliError('NOT_A_SUPPLIER_KEY', `key ${signer.keyId} is not a key of ${loaded.role}`);
  }
  if (loaded.targets.signatures[signer.keyId]) {
    throw new CliError('ALREADY_SIGNED', `key ${signer.keyId} has already signed`);
  }
  const { signMetadata } = await import('@tufchain/keys');
  await signMetadata(loaded.targets, signer);
  const status = supplierSigningStatus(loaded, trustedRoot);
  await writeJsonFile(file, { ...loaded.file, targets: loaded.targets.toJSON() });
  emit(
    run,
    opts,
    { file, role: 'supplier', supplier: status.supplier, keyId: signer.keyId, status },
    `signed ${file} with ${signer.keyId}\n${supplierStatusText(status, file)}`,
  );
}
