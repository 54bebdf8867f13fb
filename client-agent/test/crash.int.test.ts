/**
 * Power-loss safety: a child process installs images in a loop with the real state machine and
 * is killed with SIGKILL at random instants. After every kill the slot store must still have a
 * committed slot whose bytes match its recorded digest (and so must a pending slot), and every
 * durable file must parse. TUFCHAIN_CRASH_INSTALLS raises the number of installs (default 200).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstallJournalStore } from '../src/journal.js';
import { FileSlotStore } from '../src/slots/ab-slots.js';
import type { SlotName } from '../src/slots/slot-store.js';
import type { CrashChildConfig, CrashImage } from './helpers/crash-child.js';
import { serveBytes } from './helpers/tuf-repo.js';

const INSTALLS = Number(process.env['TUFCHAIN_CRASH_INSTALLS'] ?? 200);
const MIN_KILLS = 30;
const here = fileURLToPath(new URL('.', import.meta.url));
const sha = (alg: string, b: Uint8Array) => createHash(alg).update(b).digest('hex');

let dir: string;
const blobs = new Map<string, Buffer>();
const server = createServer((req, res) => {
  const blob = blobs.get(req.url ?? '');
  if (!blob) return void res.writeHead(404).end();
  serveBytes(req, res, blob);
});
let images: CrashImage[] = [];

beforeAll(async () => {
  // tmpfs when there is one: kill -9 keeps the page cache, so only the write ordering is under test.
  const shm = '/dev/shm';
  const base = await access(shm, constants.W_OK).then(
    () => shm,
    () => tmpdir(),
  );
  dir = await mkdtemp(join(base, 'tufchain-crash-'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The fourth image is large enough for the sha512 read-back to run on its worker thread.
  const sizes = [48 * 1024, 52 * 1024, 56 * 1024, 4 * 1024 * 1024 + 4096];
  images = sizes.map((size, i) => {
    const bytes = randomBytes(size);
    const name = `image-${i}.img`;
    blobs.set(`/${name}`, bytes);
    return {
      name,
      url: `${url}/${name}`,
      sha256: sha('sha256', bytes),
      sha512: sha('sha512', bytes),
      length: bytes.length,
      releaseCounter: i + 1,
    };
  });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

async function slotMatches(store: FileSlotStore, slot: SlotName): Promise<boolean> {
  const state = await store.readState();
  const image = state.slots[slot];
  if (!image) return false;
  const bytes = await readFile(store.slotPath(slot));
  return (
    bytes.length >= image.length && sha('sha256', bytes.subarray(0, image.length)) === image.sha256
  );
}

function startChild(config: CrashChildConfig): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(
    process.execPath,
    [
      // The agent's sources import the other workspaces (@tufchain/transparency/delta): their
      // sources too, as in every test, not a dist/ that a clean clone does not have.
      '--conditions=@tufchain/source',
      '--import',
      join(here, '../bin/ts-register.mjs'),
      join(here, 'helpers/crash-child.ts'),
      JSON.stringify(config),
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        NODE_COMPILE_CACHE: join(dir, 'compile-cache'),
        NODE_NO_WARNINGS: '1',
      },
    },
  );
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
  });
  return { child, ready };
}

function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('the install state machine under kill -9', () => {
  it(`keeps a bootable, verified slot across ${INSTALLS} installs killed at random instants`, async () => {
    const factory = randomBytes(40 * 1024);
    const slotsDir = join(dir, 'slots');
    const stateDir = join(dir, 'state');
    const store = await FileSlotStore.provision(slotsDir, {
      image: factory,
      name: 'factory.img',
      version: '0',
      releaseCounter: 0,
    });
    await mkdir(stateDir, { recursive: true });
    const journal = new InstallJournalStore(stateDir);
    const config: CrashChildConfig = { slotsDir, stateDir, images, healthFailRate: 0.15 };
    const phases = new Set<string>();
    let kills = 0;
    let started = 0;
    let maxDelayMs = 100;
    while (started < INSTALLS || kills < MIN_KILLS) {
      const { child, ready } = startChild(config);
      await ready;
      const before = started;
      await new Promise((r) => setTimeout(r, Math.random() * maxDelayMs));
      await killHard(child);
      kills += 1;

      // After every power cut: the durable state parses and what would boot is verified.
      const state = await store.readState();
      expect(await slotMatches(store, state.active)).toBe(true);
      if (state.pending) expect(await slotMatches(store, state.pending.slot)).toBe(true);
      phases.add((await journal.read()).phase);

      const events = (await readFile(join(stateDir, 'events.log'), 'utf8').catch(() => '')).split(
        '\n',
      );
      started = events.filter((e) => e === 'start').length;
      // Aim at a few installs per child life: kills land in every phase, and startups stay few.
      const perLife = started - before;
      if (perLife < 3) maxDelayMs = Math.min(2000, maxDelayMs * 1.3);
      else if (perLife > 6) maxDelayMs = Math.max(10, maxDelayMs * 0.8);
    }

    const events = (await readFile(join(stateDir, 'events.log'), 'utf8')).split('\n');
    const completed = events.filter((e) => e.startsWith('done ')).length;
    const recovered = events.filter((e) => e.startsWith('recovered ')).length;
    const errors = events.filter((e) => e.startsWith('error '));
    expect(errors).toEqual([]);
    expect(completed).toBeGreaterThan(10);
    expect(recovered).toBeGreaterThan(0);
    expect(phases.has('INSTALLING')).toBe(true);

    // Every report that was queued carries its own counter.
    const queued = await readdir(join(stateDir, 'outbox', 'queued'));
    const counters = queued
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .map((n) => n.slice(0, 12));
    expect(new Set(counters).size).toBe(counters.length);
    console.log(
      `crash injection: ${started} installs, ${kills} kills, ${completed} completed, ${recovered} recovered, journal phases seen ${[...phases].join('/')}`,
    );
  }, 180_000);
});
