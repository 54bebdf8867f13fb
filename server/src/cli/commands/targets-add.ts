import { basename } from 'node:path';
import type { Command } from 'commander';
import {
  addJsonOption,
  addPassphraseOption,
  addServerOptions,
  type CliRun,
  createApiClient,
  emit,
  type JsonOption,
  parsePositiveInt,
  type ServerOptions,
  collect,
  SEMVER_PATTERN,
} from '../context.js';
import { isValidHardwareId, isValidTargetName } from '../../http/names.js';
import { CliError } from '../error.js';
import type { ManifestTarget } from '../manifest.js';
import { openKeyFile } from '../key-input.js';
import { uploadFirmware } from '../upload.js';

interface AddOptions extends JsonOption, ServerOptions {
  name?: string;
  hardwareId?: string[];
  version: string;
  releaseCounter: string;
  minFromVersion?: string;
  buildKey: string;
  passphraseFile?: string;
  manifest: string;
  progress: boolean;
}

export function registerTargetsCommand(program: Command, run: CliRun): void {
  const targets = program.command('targets').description('stage firmware for a release');
  const add = targets
    .command('add')
    .description(
      'stream a firmware image to the server, sign its firmware attestation with the build key, and stage it in the release manifest',
    )
    .argument('<image>', 'firmware image file')
    .option('--name <name>', 'target name (default: the file name)')
    .option('--hardware-id <id>', 'hardware ID the image is for (repeat)', collect)
    .requiredOption('--version <semver>', 'firmware version (semver)')
    .requiredOption(
      '--release-counter <n>',
      'monotonic release counter (the on-chain anti-rollback version)',
    )
    .option(
      '--min-from-version <semver>',
      'lowest installed version this image may be installed over',
    )
    .requiredOption('--build-key <keyfile>', 'encrypted build (firmware attestation) key file')
    .option('--manifest <file>', 'release manifest to add the target to', 'release.json')
    .option('--no-progress', 'no upload progress on stderr');
  addPassphraseOption(add);
  addServerOptions(add);
  addJsonOption(add).action(async (image: string, opts: AddOptions) => {
    const hardwareIds = opts.hardwareId ?? [];
    const name = opts.name ?? basename(image);
    if (!isValidTargetName(name)) {
      throw new CliError(
        'INVALID_ARGUMENT',
        `target name ${JSON.stringify(name)} is not 1-200 characters of [A-Za-z0-9._+-] starting alphanumeric without ".." (use --name)`,
      );
    }
    const badId = hardwareIds.find((id) => !isValidHardwareId(id));
    if (badId !== undefined) {
      throw new CliError('INVALID_ARGUMENT', `invalid hardware ID ${JSON.stringify(badId)}`);
    }
    if (hardwareIds.length === 0)
      throw new CliError('USAGE_ERROR', 'at least one --hardware-id is required');
    if (!SEMVER_PATTERN.test(opts.version))
      throw new CliError('INVALID_ARGUMENT', `--version must be semver, got ${opts.version}`);
    if (opts.minFromVersion !== undefined && !SEMVER_PATTERN.test(opts.minFromVersion)) {
      throw new CliError(
        'INVALID_ARGUMENT',
        `--min-from-version must be semver, got ${opts.minFromVersion}`,
      );
    }
    const releaseCounter = parsePositiveInt(opts.releaseCounter, '--release-counter');
    const api = await createApiClient(run, opts);
    const { readOrCreateManifest, writeManifest } = await import('../manifest.js');
    const manifest = await readOrCreateManifest(opts.manifest);
    if (manifest.targets.some((t) => t.name === name)) {
      throw new CliError(
        'DUPLICATE_TARGET',
        `${opts.manifest} already stages a target named ${name}`,
      );
    }
    // Open the key before the upload so a wrong passphrase fails fast.
    const buildKey = await openKeyFile(run, opts.buildKey, opts);
    const uploaded = await uploadFirmware(api, run.io, {
      path: image,
      name,
      progress: opts.progress,
    });
    const { signFirmwareAttestation } = await import('@tufchain/keys');
    const attestation = await signFirmwareAttestation(
      {
        name,
        sha256: uploaded.sha256,
        hardwareIds: hardwareIds,
        version: opts.version,
        releaseCounter,
      },
      buildKey,
    );
    const target: ManifestTarget = {
      name,
      hardwareIds: hardwareIds,
      version: opts.version,
      releaseCounter,
      ...(opts.minFromVersion === undefined ? {} : { minFromVersion: opts.minFromVersion }),
      length: uploaded.length,
      sha256: uploaded.sha256,
      sha512: uploaded.sha512,
      attestation: attestation,
    };
    manifest.targets.push(target);
    await writeManifest(opts.manifest, manifest);
    emit(
      run,
      opts,
      {
        manifest: opts.manifest,
        target: { name, length: uploaded.length, sha256: uploaded.sha256, sha512: uploaded.sha512 },
        attestationKeyId: buildKey.keyId,
        staged: manifest.targets.map((t) => t.name),
      },
      [
        `uploaded ${name}: ${uploaded.length} bytes, sha256 ${uploaded.sha256}`,
        `firmware attestation signed by build key ${buildKey.keyId}`,
        `staged in ${opts.manifest} (${manifest.targets.length} target(s)); next: tufchain publish ${opts.manifest}`,
      ].join('\n'),
    );
  });
}
