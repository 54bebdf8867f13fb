import type { Command } from 'commander';
import { Option } from 'commander';
import {
  addJsonOption,
  addServerOptions,
  type CliRun,
  createApiClient,
  emit,
  type JsonOption,
  parseExpires,
  type ServerOptions,
} from '../context.js';
import { TOKEN_SCOPES } from '../../storage/store.js';
import { CliError } from '../error.js';
import { writeFileAtomic } from '../files.js';

const SCOPES = TOKEN_SCOPES;

/** An API token as the server lists it: never its secret. */
interface TokenView {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  status: string;
}

interface CreateOptions extends JsonOption, ServerOptions {
  name: string;
  scope: string[];
  expires?: string;
  out?: string;
}

function tokenLine(t: TokenView): string {
  return [
    t.id,
    t.status.padEnd(7),
    t.name,
    `[${t.scopes.join(',')}]`,
    `created ${t.createdAt}`,
    `expires ${t.expiresAt ?? 'never'}`,
    `last used ${t.lastUsedAt ?? 'never'}`,
    ...(t.revokedAt ? [`revoked ${t.revokedAt}`] : []),
  ].join('  ');
}

export function registerTokenCommand(program: Command, run: CliRun): void {
  const token = program
    .command('token')
    .description('API tokens of the server (admin token): create, list, revoke');

  const create = token
    .command('create')
    .description(
      'create an API token; its secret is shown once (or written to --out, mode 0600) and never again',
    )
    .requiredOption('--name <name>', 'what the token is for, e.g. release-ci or line-4')
    .addOption(
      new Option('--scope <scope...>', 'scopes (admin implies every scope)')
        .choices(SCOPES)
        .makeOptionMandatory(),
    )
    .option('--expires <when>', 'a date, an ISO time or a duration from now such as 90d, 12h')
    .option('--out <file>', 'write the token to this file (mode 0600, never overwritten)');
  addServerOptions(create);
  addJsonOption(create).action(async (opts: CreateOptions) => {
    const api = await createApiClient(run, opts);
    const expiresAt = opts.expires === undefined ? undefined : parseExpires(opts.expires);
    if (expiresAt && expiresAt.getTime() <= Date.now()) {
      throw new CliError('INVALID_ARGUMENT', `--expires ${opts.expires} is in the past`);
    }
    const { body } = await api.json<
      Omit<TokenView, 'lastUsedAt' | 'revokedAt' | 'status'> & {
        token: string;
      }
    >('POST', '/api/v1/tokens', {
      body: {
        name: opts.name,
        scopes: opts.scope,
        ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
      },
    });
    const { token: secret, ...view } = body;
    if (opts.out !== undefined) {
      await writeFileAtomic(opts.out, `${secret}\n`, { mode: 0o600, overwrite: false });
      run.io.stderr(`token written to ${opts.out}`);
    }
    const shown = opts.out === undefined ? { ...view, token: secret } : { ...view, file: opts.out };
    emit(
      run,
      opts,
      shown,
      [
        `created API token ${view.id} (${view.name}) [${view.scopes.join(',')}], expires ${view.expiresAt ?? 'never'}`,
        opts.out === undefined
          ? `${secret}\n(shown once: the server keeps only its hash)`
          : `the token is in ${opts.out}`,
      ].join('\n'),
    );
  });

  const list = token
    .command('list')
    .description('every API token with its scopes, expiry, last use and status (no secrets)');
  addServerOptions(list);
  addJsonOption(list).action(async (opts: JsonOption & ServerOptions) => {
    const api = await createApiClient(run, opts);
    const { body } = await api.json<{ tokens: TokenView[] }>('GET', '/api/v1/tokens');
    emit(
      run,
      opts,
      body,
      body.tokens.length === 0 ? 'no API tokens' : body.tokens.map(tokenLine).join('\n'),
    );
  });

  const revoke = token
    .command('revoke')
    .description('revoke an API token: every later request with it answers 401 TOKEN_REVOKED')
    .argument('<id>', 'the token id (the 16 hex digits after tct_)');
  addServerOptions(revoke);
  addJsonOption(revoke).action(async (id: string, opts: JsonOption & ServerOptions) => {
    if (!/^[0-9a-f]{16}$/.test(id)) {
      throw new CliError('INVALID_ARGUMENT', `a token id is 16 hex digits, got ${id}`);
    }
    const api = await createApiClient(run, opts);
    const { body } = await api.json<{ token: TokenView }>('POST', `/api/v1/tokens/${id}/revoke`);
    emit(run, opts, body, `revoked ${tokenLine(body.token)}`);
  });
}
