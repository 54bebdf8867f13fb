import { basename } from 'node:path';
import type {
  Metadata as TufMetadata,
  TargetFile as TufTargetFile,
  Targets as TufTargets,
} from '@tufjs/models';
import type { Command } from 'commander';
import { isValidTargetName, isValidTargetPath } from '../../http/names.js';
import { targetAt } from '../../tuf/metadata.js';
import {
  addJsonOption,
  addPassphraseOption,
  addServerOptions,
  type CliRun,
  createApiClient,
  emit,
  type JsonOption,
  parseExpires,
  parsePositiveInt,
  readJsonFile,
  type ServerOptions,
  collect,
  SEMVER_PATTERN,
} from '../context.js';
import { CliError } from '../error.js';
import { exists, writeJsonFile } from '../files.js';
import { openKeyFile, readPublicKeyFile } from '../key-input.js';
import { releaseText, type ReleaseView } from '../release-view.js';
import {
  SUPPLIER_HARDWARE_ID_PATTERN,
  SUPPLIER_ID_PATTERN,
  SUPPLIER_ROLE_PREFIX,
} from '../supplier-names.js';

function assertSupplierId(id: string): void {
  if (!SUPPLIER_ID_PATTERN.test(id)) {
    throw new CliError(
      'INVALID_ARGUMENT',
      `supplier id ${JSON.stringify(id)} is not 1-40 characters of a-z, 0-9 and - starting with a letter or digit`,
    );
  }
}

function hardwareIdsOf(opts: { hardwareId?: string[] }): string[] {
  const ids = [...new Set(opts.hardwareId ?? [])];
  if (ids.length === 0) throw new CliError('USAGE_ERROR', 'at least one --hardware-id is required');
  const bad = ids.find((h) => !SUPPLIER_HARDWARE_ID_PATTERN.test(h));
  if (bad !== undefined) {
    throw new CliError(
      'INVALID_ARGUMENT',
      `hardware ID ${JSON.stringify(bad)} is not 1-64 characters of [A-Za-z0-9._-] starting alphanumeric`,
    );
  }
  return ids;
}

interface AddOptions extends JsonOption, ServerOptions {
  hardwareId?: string[];
  key?: string[];
  threshold: string;
}

interface PrepareOptions extends JsonOption, ServerOptions {
  hardwareId?: string[];
  name?: string;
  version: string;
  releaseCounter: string;
  minFromVersion?: string;
  buildKey: string;
  passphraseFile?: string;
  expires: string;
  metadataVersion?: string;
  out: string;
  progress: boolean;
}

type PublishOptions = JsonOption & ServerOptions;

export function registerSupplierCommand(program: Command, run: CliRun): void {
  const supplier = program
    .command('supplier')
    .description(
      "supplier delegations scoped by hardware ID: the OEM adds a supplier's keys for its hardware IDs;\n" +
        'the supplier prepares a release, its holders `tufchain sign --role supplier FILE`, then it publishes.',
    );

  const add = supplier
    .command('add')
    .description(
      "delegate hardware IDs to a supplier's keys (OEM, admin token): top-level targets re-signed with a supplier-<id> role for paths <hardware ID>/*, logged on chain",
    )
    .argument('<id>', 'supplier id (a-z, 0-9, -)')
    .option(
      '--hardware-id <id>',
      'hardware ID the supplier may sign firmware for (repeat)',
      collect,
    )
    .option(
      '--key <pubfile>',
      "public key PEM of one of the supplier's signing keys (repeat)",
      collect,
    )
    .requiredOption('--threshold <k>', "how many of the supplier's keys must sign its role");
  addServerOptions(add);
  addJsonOption(add).action(async (id: string, opts: AddOptions) => {
    assertSupplierId(id);
    const hardwareIds = hardwareIdsOf(opts);
    if (!opts.key?.length) throw new CliError('USAGE_ERROR', 'at least one --key is required');
    const keys = await Promise.all(opts.key.map((path) => readPublicKeyFile(path)));
    const keyIds = keys.map((k) => k.keyId);
    if (new Set(keyIds).size !== keyIds.length) {
      throw new CliError('INVALID_ARGUMENT', 'the same key is given twice');
    }
    const threshold = parsePositiveInt(opts.threshold, '--threshold');
    if (threshold > keys.length) {
      throw new CliError(
        'INVALID_ARGUMENT',
        `--threshold ${threshold} is above the ${keys.length} key(s) given`,
      );
    }
    const api = await createApiClient(run, opts);
    const res = await api.json<{ role: string; metadataVersion: number }>(
      'POST',
      '/api/v1/suppliers',
      { body: { id, hardwareIds, keys: keys.map((k) => k.publicKey), threshold } },
    );
    emit(
      run,
      opts,
      { supplier: id, ...res.body, hardwareIds, keyIds, threshold },
      [
        `delegated ${hardwareIds.map((h) => `${h}/*`).join(', ')} to ${res.body.role} (${threshold} of ${keys.length} keys)`,
        ...keyIds.map((k) => `  key ${k}`),
        `logged on chain with snapshot v${res.body.metadataVersion}; next: the supplier runs \`tufchain supplier prepare ${id} IMAGE ...\``,
      ].join('\n'),
    );
  });

  const prepare = supplier
    .command('prepare')
    .description(
      "supplier: stream a firmware image and its firmware attestation to the server, then write a signing file with the supplier role's next version (every released target + <hardware ID>/<name> and its Sigstore bundle) for the supplier's holders to sign",
    )
    .argument('<id>', 'supplier id')
    .argument('<image>', 'firmware image file')
    .option(
      '--hardware-id <id>',
      "hardware ID the image is for (repeat); each must be the supplier's; the target path is under the first",
      collect,
    )
    .option(
      '--name <name>',
      'file name of the target under <hardware ID>/ (default: the image file name)',
    )
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
    .option(
      '--expires <when>',
      "expiry of the supplier role's new version (date or duration)",
      '90d',
    )
    .option(
      '--metadata-version <n>',
      "version of the supplier role's new version (default: current + 1)",
    )
    .requiredOption('--out <file>', 'supplier signing file to write (never overwritten)')
    .option('--no-progress', 'no upload progress on stderr');
  addPassphraseOption(prepare);
  addServerOptions(prepare);
  addJsonOption(prepare).action(async (id: string, image: string, opts: PrepareOptions) => {
    assertSupplierId(id);
    const hardwareIds = hardwareIdsOf(opts);
    const name = opts.name ?? basename(image);
    const path = `${hardwareIds[0]}/${name}`;
    if (!isValidTargetName(name) || !isValidTargetPath(path)) {
      throw new CliError(
        'INVALID_ARGUMENT',
        `target name ${JSON.stringify(name)} is not 1-200 characters of [A-Za-z0-9._+-] starting alphanumeric without ".." (use --name)`,
      );
    }
    if (!SEMVER_PATTERN.test(opts.version))
      throw new CliError('INVALID_ARGUMENT', `--version must be semver, got ${opts.version}`);
    if (opts.minFromVersion !== undefined && !SEMVER_PATTERN.test(opts.minFromVersion)) {
      throw new CliError(
        'INVALID_ARGUMENT',
        `--min-from-version must be semver, got ${opts.minFromVersion}`,
      );
    }
    const releaseCounter = parsePositiveInt(opts.releaseCounter, '--release-counter');
    const expires = parseExpires(opts.expires)
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
    if (await exists(opts.out))
      throw new CliError('FILE_EXISTS', `refusing to overwrite ${opts.out}`);
    const api = await createApiClient(run, opts);

    const { Metadata, TargetFile, Targets } = await import('@tufjs/models');
    const { fetchServedMetadata, fetchTargetsRole } = await import('../served-metadata.js');
    const signing = await import('../supplier-signing.js');
    const served = await fetchServedMetadata(api);
    const role = `${SUPPLIER_ROLE_PREFIX}${id}`;
    const delegation = signing.supplierDelegationOf(served.targets, role);
    // Refused before anything is uploaded: the server would refuse the role anyway.
    signing.assertWithinHardwareIds(role, delegation.hardwareIds, path, hardwareIds);
    const servedVersion = served.roleVersions.get(role) ?? 0;
    const previous = servedVersion > 0 ? await fetchTargetsRole(api, role, servedVersion) : null;
    const bundlePath = `${path}.sigstore.json`;
    if (
      previous &&
      (targetAt(previous.signed.targets, path) || targetAt(previous.signed.targets, bundlePath))
    ) {
      throw new CliError('DUPLICATE_TARGET', `${path} is already released in ${role}`);
    }
    const version =
      opts.metadataVersion === undefined
        ? (previous?.signed.version ?? 0) + 1
        : parsePositiveInt(opts.metadataVersion, '--metadata-version');
    const nextWith = (added: Record<string, TufTargetFile>): TufMetadata<TufTargets> =>
      new Metadata(
        new Targets({
          version,
          specVersion: previous?.signed.specVersion ?? served.targets.signed.specVersion,
          expires,
          targets: { ...previous?.signed.targets, ...added },
        }),
      );
    const fileOf = (next: TufMetadata<TufTargets>) => ({
      format: signing.SUPPLIER_SIGNING_FORMAT,
      server: api.baseUrl,
      supplier: id,
      root: served.root.toJSON(),
      delegator: served.targets.toJSON(),
      previous: previous?.toJSON() ?? null,
      targets: next.toJSON(),
    });
    // Checks the served chain of trust (root -> targets -> supplier role) before uploading.
    signing.supplierSigningStatus(signing.loadSupplierFile(structuredClone(fileOf(nextWith({})))));

    // Open the key before the upload so a wrong passphrase fails fast.
    const buildKey = await openKeyFile(run, opts.buildKey, opts);
    const { uploadFirmware } = await import('../upload.js');
    // Upload names are flat; the signed role places the blobs at <hardware ID>/<name>.
    const flatName = path.replace('/', '--');
    const uploaded = await uploadFirmware(api, run.io, {
      path: image,
      name: flatName,
      progress: opts.progress,
    });
    const { signFirmwareAttestation } = await import('@tufchain/keys');
    const claims = { hardwareIds, version: opts.version, releaseCounter };
    const bundle = await signFirmwareAttestation(
      { name: path, sha256: uploaded.sha256, ...claims },
      buildKey,
    );
    const bundleBytes = new TextEncoder().encode(JSON.stringify(bundle));
    const bundleUpload = await api.put<{ length: number; sha256: string; sha512: string }>(
      `/api/v1/firmware/${encodeURIComponent(`${flatName}.sigstore.json`)}`,
      bundleBytes,
      bundleBytes.byteLength,
    );
    const custom: Record<string, unknown> = {
      kind: 'firmware',
      ...claims,
      attestation: bundlePath,
      ...(opts.minFromVersion === undefined ? {} : { minFromVersion: opts.minFromVersion }),
    };
    const next = nextWith({
      [path]: new TargetFile({
        path,
        length: uploaded.length,
        hashes: { sha256: uploaded.sha256, sha512: uploaded.sha512 },
        unrecognizedFields: { custom: custom as never },
      }),
      [bundlePath]: new TargetFile({
        path: bundlePath,
        length: bundleUpload.length,
        hashes: { sha256: bundleUpload.sha256, sha512: bundleUpload.sha512 },
        unrecognizedFields: { custom: { kind: 'attestation', subject: path } },
      }),
    });
    const file = fileOf(next);
    const status = signing.supplierSigningStatus(signing.loadSupplierFile(structuredClone(file)));
    await writeJsonFile(opts.out, file, { overwrite: false });
    emit(
      run,
      opts,
      {
        signingFile: opts.out,
        supplier: id,
        target: { path, length: uploaded.length, sha256: uploaded.sha256, sha512: uploaded.sha512 },
        attestation: bundlePath,
        attestationKeyId: buildKey.keyId,
        status,
      },
      [
        `uploaded ${path}: ${uploaded.length} bytes, sha256 ${uploaded.sha256}`,
        `firmware attestation signed by build key ${buildKey.keyId}`,
        `wrote ${opts.out}`,
        signing.supplierStatusText(status, opts.out),
      ].join('\n'),
    );
  });

  const publish = supplier
    .command('publish')
    .description(
      "check a supplier signing file's threshold locally, then upload the supplier role (PUT /api/v1/suppliers/{id}/metadata): the server checks it, logs it on chain and serves it once confirmed",
    )
    .argument('<id>', 'supplier id')
    .argument('<file>', 'supplier signing file signed by a threshold of the supplier holders');
  addServerOptions(publish);
  addJsonOption(publish).action(async (id: string, path: string, opts: PublishOptions) => {
    assertSupplierId(id);
    const { loadSupplierFile, supplierSigningStatus } = await import('../supplier-signing.js');
    const { targetsBytes } = await import('../targets-signing.js');
    const loaded = loadSupplierFile(
      await readJsonFile(path, 'supplier signing file', 'MALFORMED_SIGNING_FILE'),
    );
    if (loaded.file.supplier !== id) {
      throw new CliError(
        'INVALID_ARGUMENT',
        `${path} is a signing file for supplier ${loaded.file.supplier}, not ${id}`,
      );
    }
    const status = supplierSigningStatus(loaded);
    if (!status.complete) {
      throw new CliError(
        'THRESHOLD_NOT_MET',
        `${status.role} v${status.version} has ${status.signed.length} of ${status.threshold} required signatures`,
      );
    }
    const api = await createApiClient(run, opts);
    const bytes = targetsBytes(loaded.targets);
    if (!opts.json) {
      run.io.stderr(
        `uploading ${status.role} v${status.version} to ${api.baseUrl}: the server checks it, logs it on chain and waits for confirmation...`,
      );
    }
    const res = await api.put<{ release: ReleaseView }>(
      `/api/v1/suppliers/${encodeURIComponent(id)}/metadata`,
      bytes,
      bytes.byteLength,
    );
    emit(
      run,
      opts,
      { supplier: id, role: status.role, version: status.version, release: res.release },
      `${status.role} v${status.version} published\n${releaseText(res.release)}`,
    );
  });
}
