import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findFreePort } from '@tufchain/contracts/dev';

/** Debian's nginx, or the one TUFCHAIN_NGINX names. */
export const NGINX = process.env.TUFCHAIN_NGINX ?? '/usr/sbin/nginx';

const nginxExample = fileURLToPath(
  new URL('../../deploy/nginx-static.conf.example', import.meta.url),
);

/** Why nginx cannot be started here, or undefined when it can. */
export function nginxMissing(): string | undefined {
  return existsSync(NGINX)
    ? undefined
    : `${NGINX} is missing (install Debian's nginx or set TUFCHAIN_NGINX)`;
}

export interface StartNginxOptions {
  /** The export directory (`tufchain export-static DIR`). */
  root: string;
  /** Loopback port; a free one when omitted. */
  port?: number;
  /**
   * nginx's per-worker connection limit. The listening socket takes one, so a load generator
   * with N connections needs more than N.
   */
  workerConnections?: number;
}

export interface RunningNginx {
  url: string;
  /** Stops nginx (SIGTERM, waits for the exit) and removes its prefix directory. */
  stop(): Promise<void>;
}

/**
 * One nginx (daemon off, master_process off, worker_processes 1) on 127.0.0.1 serving `root`
 * with the shipped deploy/nginx-static.conf.example, only `listen` and `root` replaced; its
 * pid, logs and temp paths live in a fresh temp prefix. Resolves once it answers.
 */
export async function startNginx(opts: StartNginxOptions): Promise<RunningNginx> {
  const prefix = await mkdtemp(join(tmpdir(), 'tufchain-nginx-'));
  const port = opts.port ?? (await findFreePort());
  const example = await readFile(nginxExample, 'utf8');
  const replace = (text: string, from: string, to: string): string => {
    if (text.split(from).length - 1 !== 1) {
      throw new Error(`deploy/nginx-static.conf.example must hold "${from}" exactly once`);
    }
    return text.replace(from, to);
  };
  let site = replace(example, 'listen 80;', `listen 127.0.0.1:${port};`);
  site = replace(site, 'root /var/lib/tufchain/export;', `root ${opts.root};`);
  await writeFile(join(prefix, 'site.conf'), site);
  for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    await mkdir(join(prefix, d));
  }
  await writeFile(
    join(prefix, 'nginx.conf'),
    [
      'daemon off;',
      'master_process off;',
      'worker_processes 1;',
      `pid ${prefix}/nginx.pid;`,
      `error_log ${prefix}/error.log warn;`,
      `events { worker_connections ${opts.workerConnections ?? 64}; }`,
      'http {',
      `  access_log ${prefix}/access.log;`,
      `  client_body_temp_path ${prefix}/client_body;`,
      `  proxy_temp_path ${prefix}/proxy;`,
      `  fastcgi_temp_path ${prefix}/fastcgi;`,
      `  uwsgi_temp_path ${prefix}/uwsgi;`,
      `  scgi_temp_path ${prefix}/scgi;`,
      `  include ${prefix}/site.conf;`,
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn(
    NGINX,
    ['-p', `${prefix}/`, '-e', `${prefix}/error.log`, '-c', `${prefix}/nginx.conf`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  let spawnError: Error | undefined;
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.once('error', (error) => (spawnError = error));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(prefix, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      if (spawnError) throw new Error(`nginx did not run: ${spawnError.message}`);
      if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
      try {
        await (await fetch(`${url}/metadata/root.json`)).arrayBuffer();
        break;
      } catch {
        if (i > 100) throw new Error(`nginx did not start: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, stop };
}
