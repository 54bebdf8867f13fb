import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian's wrk, or the one TUFCHAIN_WRK names. */
export const WRK = process.env.TUFCHAIN_WRK ?? '/usr/bin/wrk';

/** Why wrk cannot be run here, or undefined when it can. */
export function wrkMissing(): string | undefined {
  return existsSync(WRK)
    ? undefined
    : `${WRK} is missing (install Debian's wrk or set TUFCHAIN_WRK)`;
}

export interface WrkRun {
  requestsPerSecond: number;
  /** 99th percentile latency from `--latency`. */
  p99Ms: number;
}

export interface WrkLoad {
  threads: number;
  connections: number;
  seconds: number;
  headers?: Record<string, string>;
  /** A wrk Lua script (`-s`), e.g. one that POSTs a body. */
  script?: string;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** The numbers of one wrk report (pure: wrk's stdout in, numbers out). */
export function parseWrkReport(stdout: string): WrkRun & { failed: number } {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(stdout);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(stdout);
  if (!rps?.[1] || !p99?.[1] || !p99[2]) throw new Error(`unexpected wrk output:\n${stdout}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1];
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    stdout,
  );
  const socketErrors = socket ? socket.slice(1).reduce((n, x) => n + Number(x), 0) : 0;
  return {
    requestsPerSecond: Number(rps[1]),
    p99Ms: Number(p99[1]) * (UNIT_MS[p99[2]] ?? Number.NaN),
    failed: Number(non2xx ?? 0) + socketErrors,
  };
}

/**
 * wrk against one URL. Asynchronous on purpose: the server under test may live in this very
 * process, so its event loop must stay free while wrk runs. Any non-2xx/3xx answer or socket
 * error fails the run: a rate of errors is not a rate of served files.
 */
export async function runWrk(url: string, load: WrkLoad): Promise<WrkRun> {
  const args = [
    `-t${load.threads}`,
    `-c${load.connections}`,
    `-d${load.seconds}s`,
    '--latency',
    ...Object.entries(load.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    ...(load.script ? ['-s', load.script] : []),
    url,
  ];
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(WRK, args, { timeout: (load.seconds + 30) * 1000 }, (error, out, err) =>
      error ? reject(new Error(`wrk ${args.join(' ')}: ${error.message}\n${err}`)) : resolve(out),
    );
  });
  const { failed, ...run } = parseWrkReport(stdout);
  if (failed > 0) throw new Error(`wrk ${url}: ${failed} failed requests\n${stdout}`);
  return run;
}
