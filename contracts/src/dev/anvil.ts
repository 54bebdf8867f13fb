import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { ANVIL_DEV_MNEMONIC, deriveDevAccounts, type DevAccount } from './dev-accounts.js';
import { ContractsError } from '../error.js';
import { waitForRpc } from './rpc.js';

/** A running EVM JSON-RPC node for development and tests. */
export interface EvmChain {
  rpcUrl: string;
  chainId: number;
  /** Funded dev accounts (anvil's public dev mnemonic unless another was given). */
  accounts: DevAccount[];
  stop(): Promise<void>;
}

export interface DevChain extends EvmChain {
  pid: number;
}

export interface StartAnvilOptions {
  /** Fixed port; default: a free port chosen at start. */
  port?: number;
  /** Interval mining; default: a block per transaction. */
  blockTimeSeconds?: number;
  /** Load the chain from this file if it exists, and dump to it on stop (persisted dev state);
   *  its directory is created if missing. */
  stateFile?: string;
  /** With stateFile: also dump every N seconds, so a hard kill loses little (default 10). */
  stateIntervalSeconds?: number;
  chainId?: number;
  /** Pinned so gas numbers are reproducible; matches the artifacts' evmVersion. */
  hardfork?: string;
  mnemonic?: string;
  accountCount?: number;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  /** Further anvil flags, e.g. ['--steps-tracing']. */
  extraArgs?: string[];
  /** Explicit binary path; default: resolved from @foundry-rs/anvil's platform package. */
  binaryPath?: string;
}

const DEFAULT_HARDFORK = 'prague';
const START_ATTEMPTS = 5;
const STDERR_LIMIT = 16 * 1024;

/** Resolves the anvil binary shipped in the platform package @foundry-rs/anvil depends on. */
export function resolveAnvilBinary(): string {
  const platformPackage = `@foundry-rs/anvil-${process.platform}-${archName(process.arch)}`;
  const exe = process.platform === 'win32' ? 'anvil.exe' : 'anvil';
  try {
    const requireFromHere = createRequire(import.meta.url);
    const wrapperManifest = requireFromHere.resolve('@foundry-rs/anvil/package.json');
    const requireFromWrapper = createRequire(wrapperManifest);
    const platformManifest = requireFromWrapper.resolve(`${platformPackage}/package.json`);
    const binary = join(dirname(platformManifest), 'bin', exe);
    if (!existsSync(binary)) throw new Error(`${binary} does not exist`);
    return binary;
  } catch (cause) {
    throw new ContractsError(
      'ANVIL_NOT_FOUND',
      `anvil binary not found: ${platformPackage} is not installed (run npm ci)`,
      { cause },
    );
  }
}

function archName(arch: string): string {
  return arch === 'x64' ? 'amd64' : arch;
}

/** Finds a port that is free right now by binding port 0 on loopback. */
export async function findFreePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/**
 * Spawns anvil on 127.0.0.1 and resolves once `eth_chainId` answers. The child is ours: stop()
 * kills it by PID (SIGTERM, then SIGKILL after a timeout) and waits for it to exit, and it is
 * killed if this process exits first. A start that fails throws ContractsError with its cause as
 * the code: ANVIL_NOT_FOUND, ANVIL_PORT_IN_USE, ANVIL_EXITED, ANVIL_START_TIMEOUT or, for any
 * other spawn error, ANVIL_START_FAILED.
 */
export async function startAnvil(opts: StartAnvilOptions = {}): Promise<DevChain> {
  const binary = opts.binaryPath ?? resolveAnvilBinary();
  const attempts = opts.port === undefined ? START_ATTEMPTS : 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = opts.port ?? (await findFreePort());
    try {
      return await spawnAnvil(binary, port, opts);
    } catch (err) {
      lastError = err;
      // Another process took the port between probing and binding: try another one.
      if (!(err instanceof AddressInUseError)) break;
    }
  }
  if (lastError instanceof ContractsError) throw lastError;
  if (lastError instanceof AddressInUseError) {
    throw new ContractsError(
      'ANVIL_PORT_IN_USE',
      opts.port === undefined
        ? `anvil found its port taken ${attempts.toString()} times: ${lastError.message}`
        : `port ${opts.port.toString()} is in use: ${lastError.message}`,
      { cause: lastError },
    );
  }
  throw new ContractsError('ANVIL_START_FAILED', `anvil did not start: ${String(lastError)}`, {
    cause: lastError,
  });
}

class AddressInUseError extends Error {}

function startFailure(binary: string, err: Error): ContractsError {
  return (err as NodeJS.ErrnoException).code === 'ENOENT'
    ? new ContractsError('ANVIL_NOT_FOUND', `anvil binary not found at ${binary}`, { cause: err })
    : new ContractsError('ANVIL_START_FAILED', `anvil could not be started: ${err.message}`, {
        cause: err,
      });
}

async function spawnAnvil(
  binary: string,
  port: number,
  opts: StartAnvilOptions,
): Promise<DevChain> {
  const mnemonic = opts.mnemonic ?? ANVIL_DEV_MNEMONIC;
  const accountCount = opts.accountCount ?? 10;
  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--hardfork',
    opts.hardfork ?? DEFAULT_HARDFORK,
    '--mnemonic',
    mnemonic,
    '--accounts',
    String(accountCount),
    '--quiet',
  ];
  if (opts.blockTimeSeconds !== undefined) args.push('--block-time', String(opts.blockTimeSeconds));
  if (opts.chainId !== undefined) args.push('--chain-id', String(opts.chainId));
  if (opts.stateFile !== undefined) {
    await mkdir(dirname(opts.stateFile), { recursive: true });
    args.push('--state', opts.stateFile);
    args.push('--state-interval', String(opts.stateIntervalSeconds ?? 10));
  }
  if (opts.extraArgs) args.push(...opts.extraArgs);

  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < STDERR_LIMIT) stderr += chunk;
  });
  const exited = waitForExit(child);
  trackChild(child);

  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  const rpcUrl = `http://127.0.0.1:${port.toString()}`;
  let chainId: number;
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  try {
    chainId = await waitForRpc(rpcUrl, {
      timeoutMs: startTimeoutMs,
      aborted: () => {
        if (spawnError) return startFailure(binary, spawnError);
        if (child.exitCode !== null || child.signalCode !== null) {
          const reason = `anvil exited (${String(child.exitCode ?? child.signalCode)}): ${stderr.trim()}`;
          return /address already in use|EADDRINUSE/i.test(stderr)
            ? new AddressInUseError(reason)
            : new ContractsError('ANVIL_EXITED', reason);
        }
        return undefined;
      },
    });
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    untrackChild(child);
    if (err instanceof ContractsError || err instanceof AddressInUseError) throw err;
    throw new ContractsError(
      'ANVIL_START_TIMEOUT',
      `anvil did not answer on ${rpcUrl} within ${startTimeoutMs.toString()} ms`,
      { cause: err },
    );
  }

  const pid = child.pid;
  if (pid === undefined) throw new ContractsError('ANVIL_START_FAILED', 'anvil has no PID');
  let stopping: Promise<void> | undefined;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 10_000;
  return {
    rpcUrl,
    chainId,
    pid,
    accounts: deriveDevAccounts(mnemonic, accountCount),
    stop: () => {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          // SIGTERM lets anvil dump --state before it exits.
          signal(pid, 'SIGTERM');
          const timer = setTimeout(() => signal(pid, 'SIGKILL'), stopTimeoutMs);
          await exited;
          clearTimeout(timer);
        }
        untrackChild(child);
      })();
      return stopping;
    },
  };
}

// One 'exit' listener for all children. The parent cannot wait in it; SIGTERM still lets anvil
// dump --state and exit on its own.
const liveChildren = new Set<ChildProcess>();
const terminateChildren = (): void => {
  for (const child of liveChildren) child.kill('SIGTERM');
};

function trackChild(child: ChildProcess): void {
  if (liveChildren.size === 0) process.on('exit', terminateChildren);
  liveChildren.add(child);
}

function untrackChild(child: ChildProcess): void {
  liveChildren.delete(child);
  if (liveChildren.size === 0) process.off('exit', terminateChildren);
}

function waitForExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    // ESRCH: it already exited, which is what we want.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
