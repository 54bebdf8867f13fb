/**
 * Power loss during a delta install, on the real agent: bin/tufchain-agent run-once (anvil, the
 * loopback TUF repository, a FileSlotStore) installs a release from the delta TUF lists against
 * the image it runs, and is killed with SIGKILL at a random instant while it applies it (its
 * journal says INSTALLING). After every kill the active slot's bytes must hash to the image the
 * slot state records (and so must a pending slot); the next run must finish on the new image.
 * Each release is a few scattered edits of the one before, with a delta from it, so every
 * release starts a fresh delta install. TUFCHAIN_DELTA_CRASH_KILLS sets the kills (default 20).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseInstallPredicate } from '@tufchain/transparency/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstallJournalStore } from '../src/journal.js';
import type { InstallPathSummary } from '../src/agent.js';
import type { SlotName } from '../src/slots/slot-store.js';
import { startAgentCli, writeAgentSettings } from './helpers/agent-cli.js';
import { TestChain } from './helpers/chain.js';
import { Fixture, type Release } from './helpers/fixture.js';

const KILLS = Number(process.env['TUFCHAIN_DELTA_CRASH_KILLS'] ?? 20);
/** The whole loop stops after this, whatever the count (the test then fails on the count). */
const BUDGET_MS = 170_000;
// Large enough that writing and reading back the slot lasts long enough to be hit at random.
const IMAGE_BYTES = 8 * 1024 * 1024;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** What `run-once --json` prints, as far as this test reads it. */
interface RunOnceJson {
  status: string;
  target?: { sha256: string };
  install?: InstallPathSummary;
  report?: { id: string };
}

let chain: TestChain;
let f: Fixture;
let configPath: string;

beforeAll(async () => {
  chain = await TestChain.start();
  f = await Fixture.create();
  configPath = await writeAgentSettings(f, chain);
}, 60_000);

afterAll(async () => {
  await f?.cleanup();
  await chain?.stop();
});

/** `base` with 32 scattered 64-byte edits. */
function edited(base: Buffer): Buffer {
  const next = Buffer.from(base);
  for (let i = 0; i < 32; i += 1) {
    randomBytes(64).copy(next, Math.floor(Math.random() * (next.length - 64)));
  }
  return next;
}

/** Release `counter` with a delta from `base` (release `counter - 1`). */
async function publishWithDelta(base: Release, image: Buffer, counter: number): Promise<Release> {
  const rel = await f.addDeltaRelease(
    { version: `${counter}.0.0`, releaseCounter: counter, image },
    { release: base, version: `${counter - 1}.0.0` },
  );
  await chain.log(rel.entry);
  return rel;
}

async function slotHolds(slot: SlotName): Promise<boolean> {
  const state = await f.slots.readState();
  const image = state.slots[slot];
  if (!image) return false;
  const bytes = await readFile(f.slots.slotPath(slot));
  return bytes.length >= image.length && sha256(bytes.subarray(0, image.length)) === image.sha256;
}

async function journalPhase(journal: InstallJournalStore): Promise<string> {
  return (await journal.read()).phase;
}

/** One run-once, killed `delayMs` after its journal says INSTALLING (or left to finish). */
async function runAgent(
  journal: InstallJournalStore,
  killAfterInstallingMs?: number,
): Promise<{ killed: boolean; phaseAtKill?: string; result?: RunOnceJson }> {
  const agent = startAgentCli(configPath, ['run-once', '--json']);
  if (killAfterInstallingMs === undefined) {
    const code = await agent.exited;
    expect(code, agent.lines.join('\n')).toBe(0);
    return { killed: false, result: JSON.parse(agent.lines.join('\n')) as RunOnceJson };
  }
  let exited = false;
  void agent.exited.then(() => (exited = true));
  while (!exited && (await journalPhase(journal).catch(() => 'IDLE')) !== 'INSTALLING') {
    await new Promise((r) => setTimeout(r, 2));
  }
  await new Promise((r) => setTimeout(r, killAfterInstallingMs));
  agent.child.kill('SIGKILL');
  const code = await agent.exited;
  if (code !== null) return { killed: false };
  return { killed: true, phaseAtKill: await journalPhase(journal) };
}

/** The predicate of a report the agent queued (the outbox keeps it in queued/, sent/ or rejected/). */
async function reportPredicate(id: string) {
  for (const sub of ['queued', 'sent', 'rejected']) {
    const raw = await readFile(join(f.stateDir, 'outbox', sub, `${id}.json`), 'utf8').catch(
      () => undefined,
    );
    if (raw === undefined) continue;
    const bundle = JSON.parse(raw) as { dsseEnvelope: { payload: string } };
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString()) as {
      predicate: unknown;
    };
    return parseInstallPredicate(statement.predicate);
  }
  throw new Error(`no report ${id} in ${(await readdir(join(f.stateDir, 'outbox'))).join(', ')}`);
}

describe('a delta install under kill -9 (bin/tufchain-agent run-once)', () => {
  it(`keeps a verified bootable slot through ${KILLS} kills during delta application and ends on the newest image`, async () => {
    const journal = new InstallJournalStore(f.stateDir);
    const started = Date.now();
    // The first release comes whole (the factory image is no release), then deltas from it.
    let current = await f.addRelease({
      version: '2.0.0',
      releaseCounter: 2,
      image: randomBytes(IMAGE_BYTES),
    });
    await chain.log(current.entry);
    expect((await runAgent(journal)).result).toMatchObject({ status: 'UPDATED' });

    let counter = 2;
    let deltaKills = 0;
    let kills = 0;
    let windowMs = 400;
    const paths: string[] = [];
    while (deltaKills < KILLS && Date.now() - started < BUDGET_MS) {
      counter += 1;
      const next = await publishWithDelta(current, edited(current.image), counter);
      const before = await journalPhase(journal);
      expect(before).toBe('IDLE');
      const run = await runAgent(journal, Math.random() * windowMs);
      if (run.killed) {
        kills += 1;
        // What would boot now is verified, whatever instant the power went.
        const state = await f.slots.readState();
        expect(await slotHolds(state.active)).toBe(true);
        if (state.pending) expect(await slotHolds(state.pending.slot)).toBe(true);
        expect([current.sha256, next.sha256]).toContain(state.slots[state.active]?.sha256);
        if (run.phaseAtKill === 'INSTALLING') deltaKills += 1;
      }
      // Aim the kills inside the install: shorter after a miss, longer after a hit.
      windowMs = run.phaseAtKill === 'INSTALLING' ? windowMs * 1.15 : Math.max(20, windowMs * 0.6);

      // Power back: the next run finishes what was left (or finds nothing to do).
      const after = await runAgent(journal);
      expect(await slotHolds((await f.slots.readState()).active)).toBe(true);
      expect((await f.slots.readState()).slots[(await f.slots.readState()).active]?.sha256).toBe(
        next.sha256,
      );
      if (after.result?.status === 'UPDATED') paths.push(after.result.install?.path ?? '?');
      current = next;
    }
    expect(deltaKills).toBeGreaterThanOrEqual(KILLS);

    // Without a kill, the newest release comes from its delta, and the signed report says so.
    const last = await publishWithDelta(current, edited(current.image), counter + 1);
    const done = (await runAgent(journal)).result!;
    expect(done).toMatchObject({
      status: 'UPDATED',
      target: { sha256: last.sha256 },
      install: { path: 'delta' },
    });
    expect(done.install!.networkBytes).toBeLessThan(IMAGE_BYTES / 10);
    expect((await reportPredicate(done.report!.id)).install).toEqual(done.install);
    expect(await f.activeSlotBytes()).toEqual(last.image);
    console.log(
      `delta crash: ${kills} kills, ${deltaKills} while the journal said INSTALLING, paths after restart: ${paths.join(',')}`,
    );
  }, 240_000);
});
