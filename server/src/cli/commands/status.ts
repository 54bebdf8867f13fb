import type { Command } from 'commander';
import {
  addJsonOption,
  addServerOptions,
  createApiClient,
  emit,
  type JsonOption,
  type ServerOptions,
} from '../context.js';
import { releaseText, type ReleaseView } from '../release-view.js';
import type { CliRun } from '../run.js';

interface RoleStatus {
  role: string;
  version: number;
  expires: string;
  secondsToExpiry: number;
  threshold: number;
  keyIds: string[];
  onlineKeyIds: string[];
  signing: 'online' | 'offline';
}

function days(seconds: number): string {
  return seconds < 0 ? 'EXPIRED' : `${(seconds / 86_400).toFixed(1)} d left`;
}

export function registerStatusCommand(program: Command, run: CliRun): void {
  const status = program
    .command('status')
    .description(
      'roles (version, expiry, threshold, keys, online/offline) and releases with their chain status',
    );
  addServerOptions(status);
  addJsonOption(status).action(async (opts: JsonOption & ServerOptions) => {
    const api = await createApiClient(run, opts);
    const [roles, releases] = await Promise.all([
      api.json<{ roles: RoleStatus[] }>('GET', '/api/v1/status'),
      api.json<{ releases: ReleaseView[] }>('GET', '/api/v1/releases'),
    ]);
    const lines = [`server ${api.baseUrl}`, 'roles:'];
    for (const r of roles.body.roles) {
      lines.push(
        `  ${r.role.padEnd(9)} v${r.version}  expires ${r.expires} (${days(r.secondsToExpiry)})  ${r.threshold} of ${r.keyIds.length} keys, ${r.signing}`,
        ...r.keyIds.map((k) => `    ${k}${r.onlineKeyIds.includes(k) ? ' (online)' : ''}`),
      );
    }
    lines.push(`releases: ${releases.body.releases.length}`);
    for (const rel of releases.body.releases) lines.push(releaseText(rel).replace(/^/gm, '  '));
    emit(
      run,
      opts,
      { server: api.baseUrl, roles: roles.body.roles, releases: releases.body.releases },
      lines.join('\n'),
    );
  });
}
