// The offline targets half of `tufchain publish`, loaded only when used (it pulls in @tufjs/models).
import { Metadata, TargetFile, Targets } from '@tufjs/models';
import type { ApiClient } from '../api-client.js';
import {
  type CliRun,
  emit,
  type JsonOption,
  parseExpires,
  parsePositiveInt,
  readJsonFile,
} from '../context.js';
import { CliError } from '../error.js';
import { writeJsonFile } from '../files.js';
import type { ReleaseManifest } from '../manifest.js';
import { addOfflineDeltas, signersListDeltas } from '../offline-deltas.js';
import { deltaLines, releaseText, type ReleaseDelta, type ReleaseView } from '../release-view.js';
import { fetchServedMetadata } from '../served-metadata.js';
import { targetAt } from '../../tuf/metadata.js';
import {
  loadSigningFile,
  TARGETS_SIGNING_FORMAT,
  targetsBytes,
  targetsSigningStatus,
  targetsStatusText,
  type TargetsSigningFile,
} from '../targets-signing.js';

/** The `tufchain publish` options this half reads (publish.ts owns the command). */
export interface OfflineTargetsOptions extends JsonOption {
  out?: string;
  expires: string;
  targetsVersion?: string;
}

const attestationTargetName = (name: string): string => `${name}.sigstore.json`;

export async function prepareOffline(
  run: CliRun,
  api: ApiClient,
  manifest: ReleaseManifest,
  opts: OfflineTargetsOptions,
) {
  if (!opts.out)
    throw new CliError(
      'USAGE_ERROR',
      '--offline-targets needs --out FILE for the targets signing file',
    );
  const { root, targets: current } = await fetchServedMetadata(api);
  const targets = { ...current.signed.targets };
  const added: string[] = [];
  for (const t of manifest.targets) {
    const bundleName = attestationTargetName(t.name);
    if (targetAt(targets, t.name) || targetAt(targets, bundleName)) {
      throw new CliError(
        'DUPLICATE_TARGET',
        `${t.name} is already in the server's targets metadata`,
      );
    }
    // The bundle is a TUF target too: upload its exact bytes so the server holds the blob it names.
    const bundleBytes = new TextEncoder().encode(JSON.stringify(t.attestation));
    const bundle = await api.put<{ length: number; sha256: string; sha512: string }>(
      `/api/v1/firmware/${encodeURIComponent(bundleName)}`,
      bundleBytes,
      bundleBytes.byteLength,
    );
    const custom: Record<string, unknown> = {
      kind: 'firmware',
      hardwareIds: t.hardwareIds,
      version: t.version,
      releaseCounter: t.releaseCounter,
      attestation: bundleName,
    };
    if (t.minFromVersion !== undefined) custom.minFromVersion = t.minFromVersion;
    targets[t.name] = new TargetFile({
      path: t.name,
      length: t.length,
      hashes: { sha256: t.sha256, sha512: t.sha512 },
      unrecognizedFields: { custom: custom as never },
    });
    targets[bundleName] = new TargetFile({
      path: bundleName,
      length: bundle.length,
      hashes: { sha256: bundle.sha256, sha512: bundle.sha512 },
      unrecognizedFields: { custom: { kind: 'attestation', subject: t.name } },
    });
    added.push(t.name, bundleName);
  }
  // In a flat repository no role the server signs can list a delta: these targets do, the
  // server makes them now (a bins repository gets them in the online bins after the upload).
  const listsDeltas = signersListDeltas(current.signed);
  const deltas: ReleaseDelta[] = listsDeltas
    ? await addOfflineDeltas(
        api,
        targets,
        manifest.targets.map((t) => ({
          name: t.name,
          sha256: t.sha256,
          hardwareIds: t.hardwareIds,
          releaseCounter: t.releaseCounter,
        })),
      )
    : [];
  added.push(...deltas.map((d) => d.target));
  const version =
    opts.targetsVersion === undefined
      ? current.signed.version + 1
      : parsePositiveInt(opts.targetsVersion, '--targets-version');
  const next = new Metadata(
    new Targets({
      version,
      specVersion: current.signed.specVersion,
      expires: parseExpires(opts.expires)
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z'),
      targets,
      ...(current.signed.delegations ? { delegations: current.signed.delegations } : {}),
    }),
  );
  const file: TargetsSigningFile = {
    format: TARGETS_SIGNING_FORMAT,
    server: api.baseUrl,
    root: root.toJSON(),
    previous: current.toJSON(),
    targets: next.toJSON(),
  };
  // Refuses to build on served targets that the root's targets keys did not sign.
  const status = targetsSigningStatus(loadSigningFile(JSON.parse(JSON.stringify(file))));
  await writeJsonFile(opts.out, file, { overwrite: false });
  const deltaText = listsDeltas
    ? deltaLines(deltas)
    : ["  deltas: the server's online bins list them when the signed targets are uploaded"];
  emit(
    run,
    opts,
    { signingFile: opts.out, added, status, ...(listsDeltas ? { deltas } : {}) },
    [
      `wrote ${opts.out}: targets v${version} adding ${added.join(', ')}`,
      ...deltaText,
      targetsStatusText(status),
      `next: each targets holder runs \`tufchain sign --role targets ${opts.out} --key KEYFILE\``,
    ].join('\n'),
  );
}

export async function uploadSigned(run: CliRun, api: ApiClient, path: string, opts: JsonOption) {
  const loaded = loadSigningFile(
    await readJsonFile(path, 'targets signing file', 'MALFORMED_SIGNING_FILE'),
  );
  const status = targetsSigningStatus(loaded);
  if (!status.complete) {
    throw new CliError(
      'THRESHOLD_NOT_MET',
      `targets v${status.version} has ${status.signed.length} of ${status.threshold} required signatures`,
    );
  }
  const bytes = targetsBytes(loaded.targets);
  const res = await api.put<{ release: ReleaseView }>(
    '/api/v1/metadata/targets',
    bytes,
    bytes.byteLength,
  );
  emit(run, opts, { release: res.release }, releaseText(res.release));
}
