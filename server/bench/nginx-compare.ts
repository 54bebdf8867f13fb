import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nginxMissing, startNginx } from '../test/support/nginx.js';
import { runWrk, wrkMissing, type WrkLoad, type WrkRun } from './wrk.js';

const launcher = fileURLToPath(new URL('../bin/tufchain', import.meta.url));

/**
 * One thread and 64 connections: one wrk thread is enough to saturate one nginx worker or one
 * Node event loop on loopback, and 64 keep-alive connections is a busy CDN-origin fan-in.
 */
const LOAD: WrkLoad = { threads: 1, connections: 64, seconds: 3 };
/** worker_connections above LOAD.connections: nginx's listening socket takes one of them. */
const NGINX_WORKER_CONNECTIONS = 256;

export interface ChainForExport {
  rpcUrl: string;
  chainId: number;
  contractAddress: string;
  deployBlock: number;
}

export interface ServedPath {
  key: 'timestamp' | 'bin' | 'rangedTarget';
  path: string;
  headers?: Record<string, string>;
}

export interface SideBySide {
  server: WrkRun;
  nginx: WrkRun;
}

export type NginxComparison =
  | { compared: true; results: Record<ServedPath['key'], SideBySide> }
  | { compared: false; missing: string; reason: string };

/** `tufchain export-static DIR` with the real executable, as an operator runs it. */
async function exportStatic(dir: string, serverUrl: string, chain: ChainForExport): Promise<void> {
  const args = [
    'export-static',
    dir,
    '--server',
    serverUrl,
    '--rpc',
    chain.rpcUrl,
    '--contract',
    chain.contractAddress,
    '--from-block',
    String(chain.deployBlock),
    '--chain-id',
    String(chain.chainId),
    '--json',
  ];
  await new Promise<void>((resolve, reject) => {
    execFile(
      launcher,
      args,
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir }, timeout: 120_000 },
      (error, _stdout, stderr) =>
        error
          ? reject(new Error(`tufchain export-static: ${error.message}\n${stderr}`))
          : resolve(),
    );
  });
}

/** /metadata/{N}.{bin}.json of one bin the exported snapshot lists. */
async function pickBinPath(exportDir: string): Promise<string> {
  const metadata = join(exportDir, 'metadata');
  const readSigned = async (file: string) =>
    (
      JSON.parse(await readFile(join(metadata, file), 'utf8')) as {
        signed: { meta: Record<string, { version: number }> };
      }
    ).signed.meta;
  const snapshotVersion = (await readSigned('timestamp.json'))['snapshot.json']?.version;
  if (snapshotVersion === undefined) throw new Error('the exported timestamp pins no snapshot');
  const meta = await readSigned(`${snapshotVersion}.snapshot.json`);
  // A hashed bin (TAP 15), else any delegated role: each is a {N}.{role}.json the snapshot pins.
  const roles = Object.keys(meta)
    .filter((name) => name !== 'targets.json')
    .sort();
  const bin = roles.find((name) => name.startsWith('bins-')) ?? roles[0];
  if (bin === undefined) throw new Error('the exported snapshot lists no bin');
  return `/metadata/${meta[bin]!.version}.${bin}`;
}

/** Both answer the path with the same status and bytes before anything is timed. */
async function checkSameBytes(serverUrl: string, nginxUrl: string, p: ServedPath): Promise<void> {
  const get = async (base: string) => {
    const res = await fetch(`${base}${p.path}`, { headers: p.headers ?? {} });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
  };
  const [server, nginx] = [await get(serverUrl), await get(nginxUrl)];
  if (server.status >= 300 || server.status !== nginx.status || !server.body.equals(nginx.body)) {
    throw new Error(
      `GET ${p.path}: server ${server.status} (${server.body.length} B), nginx ${nginx.status} (${nginx.body.length} B)`,
    );
  }
}

/**
 * Exports the server's repository, serves the export with nginx and the shipped example config,
 * and runs the same wrk load against each path on the server, then on nginx. nginx is stopped
 * and the export removed on every way out. Missing nginx or wrk is a reason, not an error.
 */
export async function compareWithNginx(opts: {
  serverUrl: string;
  chain: ChainForExport;
  /** /targets/{sha256}.{name} of a 1 MiB image, fetched whole with a Range header. */
  rangedTargetPath: string;
  progress: (what: string) => void;
}): Promise<NginxComparison> {
  const missing = { nginx: nginxMissing(), wrk: wrkMissing() };
  const absent = Object.entries(missing).filter(([, reason]) => reason !== undefined);
  if (absent.length > 0) {
    return {
      compared: false,
      missing: `${absent.map(([tool]) => tool).join(' and ')} missing`,
      reason: absent.map(([, reason]) => reason).join('; '),
    };
  }
  const exportDir = await mkdtemp(join(tmpdir(), 'tufchain-bench-export-'));
  try {
    await exportStatic(exportDir, opts.serverUrl, opts.chain);
    opts.progress('export-static done');
    const nginx = await startNginx({
      root: exportDir,
      workerConnections: NGINX_WORKER_CONNECTIONS,
    });
    try {
      const results: Partial<Record<ServedPath['key'], SideBySide>> = {};
      const paths: ServedPath[] = [
        { key: 'timestamp', path: '/metadata/timestamp.json' },
        { key: 'bin', path: await pickBinPath(exportDir) },
        {
          key: 'rangedTarget',
          path: opts.rangedTargetPath,
          headers: { range: `bytes=0-${1024 * 1024 - 1}` },
        },
      ];
      for (const p of paths) {
        await checkSameBytes(opts.serverUrl, nginx.url, p);
        const load = { ...LOAD, headers: p.headers ?? {} };
        const server = await runWrk(`${opts.serverUrl}${p.path}`, load);
        const viaNginx = await runWrk(`${nginx.url}${p.path}`, load);
        results[p.key] = { server, nginx: viaNginx };
        opts.progress(
          `${p.key} (${p.path}): server ${Math.round(server.requestsPerSecond)} req/s, nginx ${Math.round(viaNginx.requestsPerSecond)} req/s`,
        );
      }
      const { timestamp, bin, rangedTarget } = results;
      if (!timestamp || !bin || !rangedTarget) throw new Error('a compared path is missing');
      return { compared: true, results: { timestamp, bin, rangedTarget } };
    } finally {
      await nginx.stop();
    }
  } finally {
    await rm(exportDir, { recursive: true, force: true });
  }
}
