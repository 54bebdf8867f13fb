import { createHash } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import type { Command } from 'commander';
import type { ApiClient } from '../api-client.js';
import {
  addJsonOption,
  addServerOptions,
  type CliRun,
  createApiClient,
  emit,
  type JsonOption,
  type ServerOptions,
} from '../context.js';
import { CliError } from '../error.js';
import type { ReleaseManifest } from '../manifest.js';
import { releaseText, type ReleaseView } from '../release-view.js';

export interface PublishOptions extends JsonOption, ServerOptions {
  idempotencyKey?: string;
  offlineTargets?: boolean;
  out?: string;
  signedTargets?: string;
  expires: string;
  targetsVersion?: string;
}

async function publishOnline(
  run: CliRun,
  api: ApiClient,
  manifest: ReleaseManifest,
  opts: PublishOptions,
) {
  const { publishRequestOf } = await import('../manifest.js');
  const body = publishRequestOf(manifest);
  // Same manifest, same key: re-running after a lost answer replays instead of publishing twice.
  const key =
    opts.idempotencyKey ??
    `tufchain-cli-${createHash('sha256').update(canonicalize(body)).digest('hex')}`;
  if (!opts.json) {
    run.io.stderr(
      `publishing ${manifest.targets.length} target(s) to ${api.baseUrl}: the server signs targets, logs it on chain and waits for confirmation...`,
    );
  }
  const res = await api.json<{ release: ReleaseView }>('POST', '/api/v1/releases', {
    body,
    headers: { 'idempotency-key': key },
  });
  const replayed = res.headers.get('idempotent-replayed') === 'true';
  // A replayed answer is the one stored at publish time; show the release as it is now.
  const release = replayed
    ? (await api.json<{ release: ReleaseView }>('GET', `/api/v1/releases/${res.body.release.id}`))
        .body.release
    : res.body.release;
  emit(
    run,
    opts,
    { release, idempotencyKey: key, replayed },
    `${releaseText(release)}${replayed ? '\n(replayed: this manifest was already published with the same Idempotency-Key)' : ''}`,
  );
}

export function registerPublishCommand(program: Command, run: CliRun): void {
  const publish = program
    .command('publish')
    .description(
      'publish a staged release: the server signs targets, logs it on chain and serves it once confirmed.\n' +
        'Offline targets: --offline-targets --out FILE prepares the targets metadata, holders `tufchain sign --role targets FILE`, then --signed-targets FILE uploads it.',
    )
    .argument('[manifest]', 'release manifest written by `tufchain targets add`')
    .option(
      '--idempotency-key <key>',
      'Idempotency-Key header (default: derived from the manifest)',
    )
    .option(
      '--offline-targets',
      'prepare targets metadata for offline k-of-n signing instead of publishing',
    )
    .option('--out <file>', 'targets signing file to write (with --offline-targets)')
    .option('--expires <when>', 'expiry of offline targets metadata (date or duration)', '90d')
    .option(
      '--targets-version <n>',
      'version of the offline targets metadata (default: current + 1)',
    )
    .option('--signed-targets <file>', 'upload a signed targets signing file');
  addServerOptions(publish);
  addJsonOption(publish).action(async (manifestPath: string | undefined, opts: PublishOptions) => {
    if (opts.signedTargets !== undefined) {
      if (manifestPath !== undefined || opts.offlineTargets) {
        throw new CliError(
          'USAGE_ERROR',
          '--signed-targets takes no manifest and no --offline-targets',
        );
      }
      const { uploadSigned } = await import('./publish-offline.js');
      await uploadSigned(run, await createApiClient(run, opts), opts.signedTargets, opts);
      return;
    }
    if (manifestPath === undefined)
      throw new CliError('USAGE_ERROR', 'a release manifest is required');
    const { readManifest } = await import('../manifest.js');
    const manifest = await readManifest(manifestPath);
    if (manifest.targets.length === 0) {
      throw new CliError('MALFORMED_MANIFEST', `${manifestPath} stages no targets`);
    }
    const api = await createApiClient(run, opts);
    if (opts.offlineTargets) {
      const { prepareOffline } = await import('./publish-offline.js');
      await prepareOffline(run, api, manifest, opts);
    } else await publishOnline(run, api, manifest, opts);
  });
}
