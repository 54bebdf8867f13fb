import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ApiClient } from './api-client.js';
import { CliError } from './error.js';

/** The environment values the CLI uses; only main.ts reads process.env. */
export interface CliEnv {
  /** TUFCHAIN_KEY_PASSPHRASE */
  keyPassphrase?: string | undefined;
  /** TUFCHAIN_SERVER */
  server?: string | undefined;
  /** TUFCHAIN_TOKEN */
  token?: string | undefined;
  /** The whole environment, for `serve` alone: the daemon's variables override its config file. */
  daemon?: Readonly<Record<string, string | undefined>> | undefined;
}

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Writes without a newline (progress lines). */
  stderrRaw(text: string): void;
  /** Whether stderr is a terminal (progress redraws in place). */
  stderrIsTty: boolean;
}

export interface CliContext {
  env: CliEnv;
  io: CliIo;
  fetch: typeof fetch;
  /** Reads a secret from the terminal without echo; absent when there is no terminal. */
  promptSecret?: ((prompt: string) => Promise<string>) | undefined;
  /**
   * A signal aborted when the process is asked to stop (SIGINT, SIGTERM), for long-running
   * commands (`export-static --watch`); main.ts installs its handlers only when this is called.
   */
  stopSignal?: (() => AbortSignal) | undefined;
}

/** What a command runs with: the context and the exit code it sets. */
export interface CliRun extends CliContext {
  /** Set by a command that completed but found something (audit findings, incomplete ceremony). */
  exitCode: number;
}

export interface JsonOption {
  json?: boolean;
}

export interface ServerOptions {
  server?: string;
  tokenFile?: string;
  timeout?: string;
}

/** One JSON document on stdout with --json, the human text otherwise. */
export function emit(ctx: CliContext, opts: JsonOption, json: unknown, human: string): void {
  if (opts.json) ctx.io.stdout(JSON.stringify(json, null, 2));
  else ctx.io.stdout(human);
}

export function addJsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print one machine-readable JSON document on stdout');
}

export function addServerOptions(cmd: Command): Command {
  return cmd
    .option('--server <url>', 'server base URL (default: $TUFCHAIN_SERVER)')
    .option('--token-file <file>', 'file holding the API token (default: $TUFCHAIN_TOKEN)')
    .option('--timeout <seconds>', 'give up on a server request after this long (default: wait)');
}

export function addPassphraseOption(cmd: Command): Command {
  return cmd.option(
    '--passphrase-file <file>',
    'file holding the key passphrase (default: $TUFCHAIN_KEY_PASSPHRASE)',
  );
}

/** Reads a small text file, mapping a missing file to FILE_NOT_FOUND. */
export async function readTextFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CliError('FILE_NOT_FOUND', `${what} not found: ${path}`, { cause: error });
    }
    throw new CliError('IO_ERROR', `cannot read ${what} ${path}`, { cause: error });
  }
}

export async function readJsonFile(
  path: string,
  what: string,
  malformed: 'MALFORMED_MANIFEST' | 'MALFORMED_SIGNING_FILE' | 'INVALID_ARGUMENT',
): Promise<unknown> {
  const text = await readTextFile(path, what);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CliError(malformed, `${what} ${path} is not JSON`, { cause: error });
  }
}

/** The key passphrase: --passphrase-file, else TUFCHAIN_KEY_PASSPHRASE. Never printed. */
export async function resolvePassphrase(
  ctx: CliContext,
  opts: { passphraseFile?: string },
  purpose: { confirm?: boolean; what?: string } = {},
): Promise<string> {
  let passphrase: string | undefined;
  if (opts.passphraseFile === undefined && !ctx.env.keyPassphrase && ctx.promptSecret) {
    const what = purpose.what ?? 'key';
    passphrase = await ctx.promptSecret(`passphrase for ${what}: `);
    if (purpose.confirm && passphrase.length > 0) {
      const again = await ctx.promptSecret('repeat the passphrase: ');
      if (again !== passphrase) {
        throw new CliError('PASSPHRASE_MISMATCH', 'the two passphrases differ');
      }
    }
  } else if (opts.passphraseFile !== undefined) {
    passphrase = (await readTextFile(opts.passphraseFile, 'passphrase file')).replace(/\r?\n$/, '');
  } else {
    passphrase = ctx.env.keyPassphrase;
  }
  if (passphrase === undefined || passphrase.length === 0) {
    throw new CliError(
      'PASSPHRASE_REQUIRED',
      'a key passphrase is required: --passphrase-file FILE, TUFCHAIN_KEY_PASSPHRASE, or a terminal to type it',
    );
  }
  return passphrase;
}

export function resolveServerUrl(ctx: CliContext, opts: ServerOptions): string {
  const raw = opts.server ?? ctx.env.server;
  if (raw === undefined || raw.length === 0) {
    throw new CliError(
      'SERVER_URL_REQUIRED',
      'the server URL is required: --server URL or TUFCHAIN_SERVER',
    );
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch (error) {
    throw new CliError('INVALID_ARGUMENT', `not a URL: ${raw}`, { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError('INVALID_ARGUMENT', `the server URL must be http(s): ${raw}`);
  }
  return url.href.replace(/\/+$/, '');
}

/** An API client; `needToken` false for the public routes. */
export async function createApiClient(
  ctx: CliContext,
  opts: ServerOptions,
  needToken = true,
): Promise<ApiClient> {
  const baseUrl = resolveServerUrl(ctx, opts);
  let token: string | undefined;
  if (opts.tokenFile !== undefined) {
    token = (await readTextFile(opts.tokenFile, 'token file')).trim();
  } else {
    token = ctx.env.token?.trim();
  }
  if (needToken && (token === undefined || token.length === 0)) {
    throw new CliError(
      'TOKEN_REQUIRED',
      'an API token is required: --token-file FILE or TUFCHAIN_TOKEN',
    );
  }
  const timeoutMs =
    opts.timeout === undefined ? undefined : parsePositiveInt(opts.timeout, '--timeout') * 1000;
  return new ApiClient({
    baseUrl,
    ...(token ? { token } : {}),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    fetch: ctx.fetch,
  });
}

/** A repeatable option's parser: `--x a --x b` gives `['a', 'b']`. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** A semantic version, checked before anything is uploaded (the server's schema is stricter). */
export const SEMVER_PATTERN =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

export function parsePositiveInt(value: string, what: string): number {
  if (!/^[1-9]\d{0,15}$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new CliError('INVALID_ARGUMENT', `${what} must be a positive integer, got ${value}`);
  }
  return Number(value);
}

/** `2027-01-01`, an ISO timestamp, or a duration from now such as `365d`, `12h`. */
export function parseExpires(value: string, now: Date = new Date()): Date {
  const duration = /^(\d+)([dhm])$/.exec(value);
  if (duration) {
    const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[duration[2] as 'd' | 'h' | 'm'];
    return new Date(now.getTime() + Number(duration[1]) * unit);
  }
  const at = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(at.getTime())) {
    throw new CliError(
      'INVALID_ARGUMENT',
      `--expires must be a date or a duration like 365d, got ${value}`,
    );
  }
  return at;
}
