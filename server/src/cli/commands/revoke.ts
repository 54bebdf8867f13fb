import type { Command } from 'commander';
import {
  addJsonOption,
  addServerOptions,
  type CliRun,
  createApiClient,
  emit,
  type JsonOption,
  parsePositiveInt,
  type ServerOptions,
} from '../context.js';
import { CliError } from '../error.js';
import { releaseText, type ReleaseView } from '../release-view.js';

interface RevokeOptions extends JsonOption, ServerOptions {
  reason: string;
  id?: boolean;
}

export function registerRevokeCommand(program: Command, run: CliRun): void {
  const revoke = program
    .command('revoke')
    .description(
      'revoke the release that published a target: targets is re-signed without it and the revocation is logged on chain',
    )
    .argument('<name>', 'target name of the release (or its release id with --id)')
    .requiredOption('--reason <text>', 'why the release is revoked (logged with the recall)')
    .option('--id', 'treat <name> as a release id');
  addServerOptions(revoke);
  addJsonOption(revoke).action(async (name: string, opts: RevokeOptions) => {
    const api = await createApiClient(run, opts);
    let id: number;
    if (opts.id) {
      id = parsePositiveInt(name, 'the release id');
    } else {
      const { body } = await api.json<{ releases: ReleaseView[] }>('GET', '/api/v1/releases');
      const matching = body.releases.filter(
        (r) => r.targets.includes(name) && r.status !== 'failed',
      );
      const found = matching.find((r) => r.status === 'confirmed') ?? matching[0];
      if (!found) throw new CliError('RELEASE_NOT_FOUND', `no published release contains ${name}`);
      id = found.id;
    }
    const res = await api.json<{ release: ReleaseView }>('POST', `/api/v1/releases/${id}/revoke`, {
      body: { reason: opts.reason },
    });
    emit(run, opts, { release: res.body.release }, releaseText(res.body.release));
  });
}
