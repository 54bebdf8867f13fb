/**
 * Child process of the Uptane crash-injection test: the primary's atomic multi-ECU install, over
 * and over, with its own ECU and secondaries that are processes of their own (reached over Unix
 * sockets), until it is killed with SIGKILL. In-process-fast paths: Director targets are signed
 * here with the test Director's key (the partial secondaries verify them for real), images come
 * from local files. `--recover-only`: complete what the journal says, then exit.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { createPrivateKey, sign } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Metadata, Signature, Targets } from '@tufjs/models';
import { createKeySigner } from '@tufchain/keys/vehicle';
import { FileSlotStore } from '../../src/slots/ab-slots.js';
import type { ImageSource } from '../../src/install/image-io.js';
import {
  AtomicJournalStore,
  type AtomicJournal,
  installAtomicSet,
  LocalEcu,
  recoverAtomicSet,
} from '../../src/uptane/atomic.js';
import { RemoteEcu, type EcuEndpoint, type EcuTarget } from '../../src/uptane/ecu.js';
import { EcuSlots } from '../../src/uptane/ecu-slots.js';
import { SocketTransport } from '../../src/uptane/transport.js';
import { readJsonIfExists, writeJsonDurable } from '../../src/util/durable.js';

export interface UptaneCrashConfig {
  stateDir: string;
  primary: { serial: string; hardwareId: string; slotsDir: string; keyPem: string };
  secondaries: {
    serial: string;
    hardwareId: string;
    address: string;
    keyId: string;
    publicKey: never;
    unhealthyFlagFile: string;
  }[];
  director: { targetsKeyPem: string; targetsKeyId: string; rootPath: string; vehicle: string };
  /** images[k][serial]: the image of update k for that ECU (k from 1). */
  images: Record<string, EcuTarget & { path: string }>[];
  healthFailRate: number;
  /**
   * Per cycle, the chance that the primary SIGKILLs itself at one of `points`: 'journal:<PHASE>'
   * right after that durable journal write ('journal:PREPARED' once an image is verified), and
   * 'switched', 'committed' or 'rolled-back' right after the first ECU carried that out. Kills
   * from outside land mostly in the long prepare phase; these reach the millisecond windows
   * recovery exists for.
   */
  selfCrash: { rate: number; points: string[]; minPerPoint?: number };
}

function readFileOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

class FileSource implements ImageSource {
  constructor(readonly path: string) {}
  async read(from: number, _length: number, onChunk: (c: Buffer) => Promise<void> | undefined) {
    const bytes = readFileSync(this.path).subarray(from);
    for (let i = 0; i < bytes.length; i += 4096) await onChunk(bytes.subarray(i, i + 4096));
    return { resumes: 0 };
  }
}

async function main(): Promise<void> {
  const cfg = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as UptaneCrashConfig;
  const recoverOnly = process.argv.includes('--recover-only');
  const log = (line: string): void => appendFileSync(`${cfg.stateDir}/events.log`, `${line}\n`);
  let armed: string | undefined;
  const maybeCrash = (point: string): void => {
    if (armed !== point) return;
    log(`crash ${point}`);
    process.kill(process.pid, 'SIGKILL');
  };
  const crashing = (e: EcuEndpoint): EcuEndpoint => ({
    serial: e.serial,
    hardwareId: e.hardwareId,
    openSink: (t) => e.openSink(t),
    switchTo: async () => {
      const healthy = await e.switchTo();
      maybeCrash('switched');
      return healthy;
    },
    commit: async (ctx) => {
      const result = await e.commit(ctx);
      maybeCrash('committed');
      return result;
    },
    rollback: async (ctx) => {
      const result = await e.rollback(ctx);
      maybeCrash('rolled-back');
      return result;
    },
    close: () => e.close(),
  });
  const local = new LocalEcu(
    new EcuSlots({
      serial: cfg.primary.serial,
      slots: new FileSlotStore(cfg.primary.slotsDir),
      signer: createKeySigner(createPrivateKey(cfg.primary.keyPem)),
      stateDir: cfg.stateDir,
      config: { maxBootAttempts: 3, sha512Worker: false },
    }),
    cfg.primary.hardwareId,
  );
  const remotes = cfg.secondaries.map(
    (s) =>
      new RemoteEcu({
        serial: s.serial,
        hardwareId: s.hardwareId,
        key: { keyId: s.keyId, publicKey: s.publicKey },
        transport: new SocketTransport(s.address, { connectTimeoutMs: 1000 }),
      }),
  );
  const journal = new (class extends AtomicJournalStore {
    override async write(j: AtomicJournal): Promise<void> {
      await super.write(j);
      if (j.phase === 'PREPARE' && j.ecus.some((e) => e.prepared)) maybeCrash('journal:PREPARED');
      else if (j.phase !== 'IDLE') maybeCrash(`journal:${j.phase}`);
    }
  })(cfg.stateDir);
  const endpoints = [local, ...remotes].map(crashing);
  const now = () => new Date();
  const targetsKey = createPrivateKey(cfg.director.targetsKeyPem);
  const rootB64 = readFileSync(cfg.director.rootPath).toString('base64');
  const counterPath = `${cfg.stateDir}/next-update.json`;
  process.stdout.write('ready\n');
  // The points still short of minPerPoint are armed first: the rare windows (a ROLLBACK needs a
  // failed health check) are reached in a bounded number of updates.
  const hits = new Map<string, number>();
  for (const m of (readFileOr(`${cfg.stateDir}/events.log`) ?? '').matchAll(/^crash (\S+)$/gm))
    hits.set(m[1] as string, (hits.get(m[1] as string) ?? 0) + 1);
  for (;;) {
    const short = cfg.selfCrash.points.filter(
      (p) => (hits.get(p) ?? 0) < (cfg.selfCrash.minPerPoint ?? 0),
    );
    const pool = short.length > 0 ? short : cfg.selfCrash.points;
    armed =
      !recoverOnly && Math.random() < cfg.selfCrash.rate
        ? pool[Math.floor(Math.random() * pool.length)]
        : undefined;
    try {
      const recovered = await recoverAtomicSet(endpoints, { journal, now });
      if (recovered) log(`recovered ${recovered.outcome}`);
    } catch (err) {
      log(`recovery-error ${(err as { code?: string }).code ?? String(err)}`);
      if (recoverOnly) process.exit(3);
      continue;
    }
    if (recoverOnly) process.exit(0);
    const k = ((await readJsonIfExists(counterPath)) as { k?: number } | undefined)?.k ?? 1;
    await writeJsonDurable(counterPath, { k: k + 1 });
    // The images come round again, but the release counter (and the version a secondary names
    // its slot's image by) keeps rising: every ECU refuses a release below the one it runs
    // (DOWNGRADE).
    const set = Object.fromEntries(
      Object.entries(
        cfg.images[(k - 1) % cfg.images.length] as UptaneCrashConfig['images'][number],
      ).map(([serial, t]) => [serial, { ...t, version: String(k), releaseCounter: k }]),
    );
    for (const s of cfg.secondaries) {
      if (Math.random() < cfg.healthFailRate) await writeFile(s.unhealthyFlagFile, '');
      else await (await import('node:fs/promises')).rm(s.unhealthyFlagFile, { force: true });
    }
    const md = new Metadata(
      Targets.fromJSON({
        _type: 'targets',
        spec_version: '1.0.31',
        version: k,
        expires: new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        targets: Object.fromEntries(
          cfg.secondaries.map((s) => {
            const t = set[s.serial] as EcuTarget;
            return [
              t.name,
              {
                length: t.length,
                hashes: { sha256: t.sha256, sha512: t.sha512 },
                custom: {
                  ecuIdentifiers: { [s.serial]: { hardwareId: s.hardwareId } },
                  releaseCounter: t.releaseCounter,
                },
              },
            ];
          }),
        ),
        custom: {
          vehicle: cfg.director.vehicle,
          correlationId: `urn:tufchain:assignment:u${k}`,
          atomic: true,
        },
      }),
    );
    md.sign(
      (data: Buffer) =>
        new Signature({
          keyID: cfg.director.targetsKeyId,
          sig: sign(null, data, targetsKey).toString('hex'),
        }),
      true,
    );
    const director = {
      '1.root.json': rootB64,
      [`${k}.targets.json`]: Buffer.from(JSON.stringify(md.toJSON())).toString('base64'),
    };
    log(`handover ${k}`);
    try {
      for (const r of remotes) await r.ask({ op: 'metadata', director });
      // Counted as an atomic update from here on (the test's `begin` lines): a set whose metadata
      // could not even be handed over (a secondary being restarted) began nothing.
      log(`begin ${k}`);
      const members = endpoints.map((endpoint) => ({
        endpoint,
        target: set[endpoint.serial] as EcuTarget,
      }));
      const run = await installAtomicSet(members, {
        journal,
        correlationId: `urn:tufchain:assignment:u${k}`,
        now,
        settleDeadlineMs: 3000,
        source: (t) =>
          new FileSource(
            (Object.values(set).find((x) => x.sha256 === t.sha256) as { path: string }).path,
          ),
      });
      log(`done ${k} ${run.outcome} ${run.code}`);
    } catch (err) {
      log(`error ${k} ${(err as { code?: string }).code ?? String(err)}`);
      for (const r of remotes) r.close();
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(2);
});
