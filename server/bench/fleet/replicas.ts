/**
 * Server replicas for the fleet load test: the daemon (src/main.ts) as separate processes, as they
 * are deployed: one PostgreSQL database, one blob directory, a data dir each (its transparency log
 * in it), the same online keys, vehicle CA and chain account. Each process's CPU time is read from
 * /proc, so that the simulator's own work is never counted as the server's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findFreePort } from '@tufchain/contracts/dev';
import { createVehicleCa, signFirmwareAttestation, writeEncryptedKeyFile } from '@tufchain/keys';
import { ApiClient } from '../../src/cli/api-client.js';
import { startTestChain, type TestChain } from '../../test/support/chain.js';
import {
  prepareDaemon,
  spawnDaemon,
  waitReady,
  type RunningDaemon,
} from '../../test/support/daemon.js';

export const FLEET_LOG_ORIGIN = 'tufchain.bench/fleet';

export interface FleetRelease {
  name: string;
  hardwareId: string;
  version: string;
  releaseCounter: number;
  /** Hex SHA-256 of the image. */
  sha256: string;
  /** The snapshot version and hash the chain logged (`0x…`), as the publish answer names them. */
  metadataVersion: number;
  metadataHash: string;
  /** performance.now() when the publish request was sent, and when it answered 201. */
  sentAt: number;
  answeredAt: number;
}

export interface FleetReplica {
  url: string;
  pid: number;
  daemon: RunningDaemon;
}

export interface FleetReplicas {
  replicas: FleetReplica[];
  chain: TestChain;
  /** The admin token replica 0 wrote at its first start (publishes and enrolls). */
  adminToken: string;
  /** Publishes one image for `hardwareId` through replica 0 (upload, firmware attestation, release). */
  publishRelease(
    hardwareId: string,
    version: string,
    releaseCounter: number,
  ): Promise<FleetRelease>;
  /** User + system CPU seconds each replica process has used so far (/proc/<pid>/stat). */
  cpuSeconds(): Promise<number[]>;
  /** SIGTERM (a --cpu-prof profile is written on a clean exit), SIGKILL after 15 s; then the rest. */
  close(): Promise<void>;
}

export interface StartFleetReplicasOptions {
  /** An empty PostgreSQL database all replicas share. */
  databaseUrl: string;
  /** Default 2. */
  count?: number;
  /** Writes a V8 CPU profile of replica 0 (node --cpu-prof) into this directory at close. */
  cpuProfileDir?: string;
  /** More of the daemons' environment (TUFCHAIN_MAX_IN_FLIGHT_REQUESTS...). */
  env?: Record<string, string>;
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ); 100 on every Linux architecture node runs on. */
const USER_HZ = 100;
const TERM_TIMEOUT_MS = 15_000;

async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid.toString()}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

/**
 * User + system CPU seconds of `rootPid` and every live process below it (PostgreSQL's
 * postmaster: its backends, WAL writer, checkpointer...).
 */
export async function processTreeCpuSeconds(rootPid: number): Promise<number> {
  const children = new Map<number, number[]>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => undefined);
    if (stat === undefined) continue;
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  let total = 0;
  const todo = [rootPid];
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    total += await processCpuSeconds(pid).catch(() => 0);
    todo.push(...(children.get(pid) ?? []));
  }
  return total;
}

async function terminate(daemon: RunningDaemon): Promise<void> {
  if (daemon.proc.exitCode !== null || daemon.proc.signalCode !== null) return;
  daemon.proc.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), TERM_TIMEOUT_MS);
  });
  const outcome = await Promise.race([daemon.exited, late]);
  clearTimeout(timer);
  if (outcome === 'late') await daemon.kill();
}

/**
 * Starts `count` daemons on a chain of their own. Replica 0 bootstraps the repository from the
 * offline root (and logs version 1 on chain); the others start on the store it filled. The
 * transparency log is not anchored: each replica keeps its own log today, and two logs cannot
 * anchor on one contract (each anchor must extend the last by a consistency proof).
 */
/**
 * The V8 flags deploy/tufchain-server.service gives node (those before `--import`), so that the
 * replicas run as the unit runs the server.
 */
async function unitV8Flags(): Promise<string> {
  const unit = await readFile(
    new URL('../../deploy/tufchain-server.service', import.meta.url),
    'utf8',
  );
  const execStart = /^ExecStart=\S+ (.*?) --import /m.exec(unit)?.[1];
  if (execStart === undefined)
    throw new Error('tufchain-server.service: no ExecStart with --import');
  return execStart
    .split(' ')
    .filter((flag) => /^--[a-z-]+(=\S+)?$/.test(flag))
    .join(' ');
}

export async function startFleetReplicas(opts: StartFleetReplicasOptions): Promise<FleetReplicas> {
  const chain = await startTestChain();
  const files = await prepareDaemon(chain, FLEET_LOG_ORIGIN);
  const started: FleetReplica[] = [];
  try {
    // A vehicle CA with its key turns enrollment on.
    const ca = await createVehicleCa({ commonName: 'Fleet Bench Vehicle CA' });
    await writeFile(join(files.dir, 'vehicle-ca.pem'), ca.certificatePem);
    await writeEncryptedKeyFile(join(files.dir, 'vehicle-ca.key'), ca.privateKey, files.passphrase);
    const sharedBlobs = join(files.dir, 'blobs');
    await mkdir(sharedBlobs, { recursive: true });
    // Both replicas append to the one log in PostgreSQL; the holder of its lease anchors it.
    const base: Record<string, string> = { ...files.env };
    Object.assign(base, {
      DATABASE_URL: opts.databaseUrl,
      TUFCHAIN_BLOB_DIR: sharedBlobs,
      TUFCHAIN_VEHICLE_CA_KEY_FILE: join(files.dir, 'vehicle-ca.key'),
      // Per-request logs of a load test would be most of the output and a share of the CPU.
      TUFCHAIN_LOG_LEVEL: 'warn',
      ...opts.env,
    });
    for (let i = 0; i < (opts.count ?? 2); i++) {
      const dataDir = join(files.dir, `data-${i.toString()}`);
      await mkdir(dataDir, { recursive: true });
      const port = i === 0 ? Number(new URL(files.baseUrl).port) : await findFreePort();
      const url = `http://127.0.0.1:${port.toString()}`;
      const env: Record<string, string> = {
        ...base,
        TUFCHAIN_DATA_DIR: dataDir,
        TUFCHAIN_PORT: String(port),
      };
      env['NODE_OPTIONS'] = await unitV8Flags();
      if (i === 0 && opts.cpuProfileDir) {
        await mkdir(opts.cpuProfileDir, { recursive: true });
        env['NODE_OPTIONS'] += ` --cpu-prof --cpu-prof-dir=${opts.cpuProfileDir}`;
      }
      const daemon = spawnDaemon(env);
      started.push({ url, pid: daemon.proc.pid ?? 0, daemon });
      await waitReady(daemon, url);
    }
  } catch (error) {
    await Promise.all(started.map((r) => r.daemon.kill()));
    await chain.stop();
    await rm(files.dir, { recursive: true, force: true });
    throw error;
  }
  const adminToken = (await readFile(files.env['TUFCHAIN_ADMIN_TOKEN_FILE']!, 'utf8')).trim();
  const api = new ApiClient({ baseUrl: started[0]!.url, token: adminToken, fetch });

  return {
    replicas: started,
    chain,
    adminToken,
    async publishRelease(hardwareId, version, releaseCounter) {
      const name = `${hardwareId}-${version}.img`;
      const image = randomBytes(4096);
      const sha256 = createHash('sha256').update(image).digest('hex');
      // The CLI's client: a replica at its in-flight bound is asked again after Retry-After.
      await api.put(`/api/v1/firmware/${name}`, image);
      const claims = { hardwareIds: [hardwareId], version, releaseCounter };
      const attestation = await signFirmwareAttestation(
        { name, sha256, ...claims },
        files.firmwareKey,
      );
      const sentAt = performance.now();
      const { body: answer } = await api.json<{
        release: { metadataVersion: number; metadataHash: string };
      }>('POST', '/api/v1/releases', { body: { targets: [{ name, ...claims, attestation }] } });
      const answeredAt = performance.now();
      const { release } = answer;
      return {
        name,
        hardwareId,
        version,
        releaseCounter,
        sha256,
        metadataVersion: release.metadataVersion,
        metadataHash: release.metadataHash,
        sentAt,
        answeredAt,
      };
    },
    cpuSeconds: () => Promise.all(started.map((r) => processCpuSeconds(r.pid))),
    async close() {
      await Promise.all(started.map((r) => terminate(r.daemon)));
      await chain.stop();
      await rm(files.dir, { recursive: true, force: true });
    },
  };
}
