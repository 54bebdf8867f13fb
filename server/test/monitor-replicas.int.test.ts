/**
 * Two server daemons (src/main.ts, each its own process) on one PostgreSQL database and one blob
 * directory, with the monitor on: only the replica holding the `tufchain:monitor` lease runs it,
 * yet both answer GET /api/v1/monitor/alerts and draw the console banner from the database; when
 * the holder stops, the other takes over from the saved state and raises nothing twice. A console
 * session opened on one replica works on the other, and ends on both at logout or revocation.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findFreePort } from '@tufchain/contracts/dev';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert } from '../src/monitor/alert.js';
import { signWebhookBody, SIGNATURE_HEADER } from '../src/monitor/webhook.js';
import { startTestChain, type TestChain } from './support/chain.js';
import {
  prepareDaemon,
  spawnDaemon,
  waitReady,
  type DaemonFiles,
  type RunningDaemon,
} from './support/daemon.js';
import { startTestPostgres, type TestPostgres } from './support/postgres.js';

const sha256 = (b: string): string => createHash('sha256').update(b).digest('hex');
const SECRET = 'replica webhook secret, long enough';

let chain: TestChain;
let postgres: TestPostgres;
let files: DaemonFiles;
let receiver: Server;
let webhookUrl: string;
/** Alert IDs as the webhook receiver got them, one entry per delivery (signature checked). */
const deliveries: string[] = [];
const daemons: RunningDaemon[] = [];

interface Replica {
  daemon: RunningDaemon;
  url: string;
}

async function startReplica(name: string, env: Record<string, string>): Promise<Replica> {
  const url = `http://127.0.0.1:${await findFreePort()}`;
  const daemon = spawnDaemon({
    ...env,
    TUFCHAIN_DATA_DIR: join(files.dir, `data-${name}`),
    TUFCHAIN_PORT: new URL(url).port,
  });
  daemons.push(daemon);
  await waitReady(daemon, url);
  return { daemon, url };
}

const adminToken = async (): Promise<string> =>
  (await readFile(join(files.dir, 'admin.token'), 'utf8')).trim();

async function alertsOn(r: Replica): Promise<Alert[] | number> {
  const res = await fetch(`${r.url}/api/v1/monitor/alerts`, {
    headers: { authorization: `Bearer ${await adminToken()}` },
  });
  return res.status === 200 ? ((await res.json()) as { alerts: Alert[] }).alerts : res.status;
}

const subjectsOn = async (r: Replica): Promise<string[] | number> => {
  const a = await alertsOn(r);
  return Array.isArray(a)
    ? a.filter((x) => x.kind === 'UNEXPECTED_RELEASE').map((x) => x.subject)
    : a;
};

/** The publisher key used behind the servers' backs: a release they never recorded. */
async function logRogue(version: number, text: string): Promise<string> {
  const digest = `0x${sha256(text)}`;
  await chain.writer().logRelease({
    metadataVersion: version,
    metadataHash: `0x${sha256(`snapshot ${version} nobody built`)}`,
    firmware: [{ digest, hardwareId: 'gw', version }],
  });
  await chain.mine(3);
  return digest;
}

async function login(r: Replica, token: string): Promise<string> {
  const res = await fetch(`${r.url}/console/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { origin: r.url, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  expect(res.status).toBe(303);
  return (res.headers.get('set-cookie') ?? '').split(';')[0]!;
}

async function page(r: Replica, path: string, cookie: string): Promise<Response> {
  return fetch(`${r.url}${path}`, {
    redirect: 'manual',
    headers: { cookie, accept: 'text/html' },
  });
}

const runningLines = (d: RunningDaemon): number =>
  d
    .stdout()
    .split('\n')
    .filter((l) => l.includes('"msg":"monitor running"')).length;

const alertLines = (d: RunningDaemon, subject: string): number =>
  d
    .stdout()
    .split('\n')
    .filter((l) => l.includes('"msg":"monitor alert UNEXPECTED_RELEASE"') && l.includes(subject))
    .length;

beforeAll(async () => {
  [chain, postgres] = await Promise.all([startTestChain(), startTestPostgres()]);
  files = await prepareDaemon(chain, 'tufchain.test/monitor-replicas');
  await writeFile(
    join(files.dir, 'expectations.json'),
    JSON.stringify({ publishers: [await chain.publisher().getAddress()], keys: {} }),
  );
  await writeFile(join(files.dir, 'webhook.secret'), `${SECRET}\n`);
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.headers[SIGNATURE_HEADER] === signWebhookBody(body, SECRET))
        deliveries.push((JSON.parse(body) as Alert).id);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  webhookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
  await mkdir(join(files.dir, 'blobs'), { recursive: true });
});

afterAll(async () => {
  for (const d of daemons) await d.kill();
  await new Promise<void>((resolve) => receiver?.close(() => resolve()));
  await postgres?.stop();
  await chain?.stop();
  if (files?.dir) await rm(files.dir, { recursive: true, force: true });
});

describe('two replicas with the monitor on, one PostgreSQL database', () => {
  let env: Record<string, string>;
  let a: Replica;
  let b: Replica;

  it('serve the lease holder’s alerts on both; the other takes over without raising one twice', async () => {
    env = {
      ...files.env,
      DATABASE_URL: await postgres.createDatabase(),
      TUFCHAIN_BLOB_DIR: join(files.dir, 'blobs'),
      TUFCHAIN_MONITOR_EXPECTATIONS_FILE: join(files.dir, 'expectations.json'),
      TUFCHAIN_MONITOR_WEBHOOK_URL: webhookUrl,
      TUFCHAIN_MONITOR_WEBHOOK_SECRET_FILE: join(files.dir, 'webhook.secret'),
    };
    a = await startReplica('a', env);
    await expect.poll(() => runningLines(a.daemon), { timeout: 15_000 }).toBe(1);
    b = await startReplica('b', env);
    // B checked the lease at its start and found it held.
    expect(await alertsOn(b)).toEqual([]);
    expect(runningLines(b.daemon)).toBe(0);

    const first = await logRogue(1000, 'gateway firmware 6.6.6');
    // Raised on A, served by B from the database.
    await expect.poll(() => subjectsOn(b), { timeout: 30_000, interval: 250 }).toEqual([first]);
    expect(alertLines(a.daemon, first)).toBe(1);
    expect(runningLines(b.daemon)).toBe(0);
    await expect.poll(() => deliveries.length, { timeout: 15_000 }).toBe(1);

    // The console banner on B shows it too.
    const cookie = await login(b, await adminToken());
    const releases = await page(b, '/console/releases', cookie);
    expect(releases.status).toBe(200);
    expect(await releases.text()).toContain(first);
    // B's findings come from its own standby audit (it never runs the monitor): the first look
    // starts one, a later one shows it.
    await expect
      .poll(
        async () =>
          (await (await page(b, '/console/findings', cookie)).text()).includes(
            'id="findings-summary"',
          ),
        {
          timeout: 30_000,
          interval: 500,
        },
      )
      .toBe(true);
    expect(runningLines(b.daemon)).toBe(0);

    // A stops (SIGTERM: it gives the lease up); B takes over from the saved state.
    a.daemon.proc.kill('SIGTERM');
    await a.daemon.exited;
    await expect.poll(() => runningLines(b.daemon), { timeout: 20_000, interval: 250 }).toBe(1);
    const second = await logRogue(1001, 'gateway firmware 6.6.7');
    await expect
      .poll(() => subjectsOn(b), { timeout: 30_000, interval: 250 })
      .toEqual([second, first]);
    await expect.poll(() => deliveries.length, { timeout: 15_000 }).toBe(2);
    // A few more polls of B's monitor: still nothing raised or delivered twice.
    await new Promise((r) => setTimeout(r, 2000));
    expect(new Set(deliveries).size).toBe(2);
    expect(deliveries).toHaveLength(2);
    expect(alertLines(b.daemon, first)).toBe(0);
    expect(alertLines(b.daemon, second)).toBe(1);
    const ids = ((await alertsOn(b)) as Alert[]).map((x) => x.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('resolve a console session opened on the other replica; logout or revoking the token ends it on both', async () => {
    a = await startReplica('a2', env);
    const admin = await adminToken();
    const created = await fetch(`${b.url}/api/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'auditor', scopes: ['audit'] }),
    });
    expect(created.status).toBe(201);
    const auditor = (await created.json()) as { id: string; token: string };

    const cookie = await login(a, auditor.token);
    expect((await page(b, '/console/keys', cookie)).status).toBe(200);
    expect((await page(a, '/console/keys', cookie)).status).toBe(200);
    const revoked = await fetch(`${a.url}/api/v1/tokens/${auditor.id}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(revoked.status).toBe(200);
    const after = await page(b, '/console/keys', cookie);
    expect(after.status).toBe(302);
    expect(after.headers.get('location')).toBe('/console/login');

    const adminCookie = await login(b, admin);
    expect((await page(a, '/console/releases', adminCookie)).status).toBe(200);
    const out = await fetch(`${a.url}/console/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { origin: a.url, cookie: adminCookie },
    });
    expect(out.status).toBe(303);
    expect((await page(b, '/console/releases', adminCookie)).status).toBe(302);
  });
});
