import { randomBytes } from 'node:crypto';
import type { Metadata, Root } from '@tufjs/models';
import type { Clock, Config } from '../config.js';
import { ServerError } from '../error.js';
import { expiryAfter } from '../tuf/expiry.js';
import { buildTimestamp } from '../tuf/metadata.js';
import {
  serializeMetadata,
  sha256Hex,
  signMetadata,
  type AnyMetadata,
  type TufSigner,
} from '../tuf/signer.js';
import type { TransparencyLogSink } from '../log-sink.js';
import { Mutex } from '../mutex.js';
import type { PublishLock } from '../tuf/core/publish-lock.js';
import { assertLoggable } from '../log/loggable.js';
import {
  buildDirectorSnapshot,
  buildDirectorTargets,
  directorLogEntry,
  parseDirectorRoot,
  signedUnder,
} from './metadata.js';
import type {
  AssignmentRecord,
  DirectorMetadataRecord,
  DirectorRole,
  DirectorStore,
} from './store.js';

/** The Director's online keys; the root names which of them may sign each role. */
export interface DirectorSigners {
  targets: TufSigner | readonly TufSigner[];
  snapshot: TufSigner | readonly TufSigner[];
  timestamp: TufSigner | readonly TufSigner[];
}

const toArray = <T>(x: T | readonly T[]): readonly T[] =>
  Array.isArray(x) ? (x as readonly T[]) : [x as T];

/**
 * Checks a Director root as the image repository's bootstrap does (version 1, consistent
 * snapshot, unexpired, signed by a threshold of its own root keys) and that the online keys
 * given are a threshold of each online role; then stores it.
 */
export async function initDirectorFromRoot(o: {
  store: DirectorStore;
  rootBytes: Uint8Array;
  signers: DirectorSigners;
  clock: Clock;
}): Promise<{ version: number }> {
  if (await o.store.currentDirectorRoot()) {
    throw new ServerError('DIRECTOR_ALREADY_INITIALIZED', 'the Director already has a root');
  }
  const root = parseDirectorRoot(o.rootBytes);
  const now = o.clock();
  if (root.signed.version !== 1 || !root.signed.consistentSnapshot || root.signed.isExpired(now)) {
    throw new ServerError(
      'ROOT_ROTATION_INVALID',
      'the initial Director root must be version 1, consistent_snapshot, unexpired',
    );
  }
  verifyRootSignatures(root, root);
  for (const role of ['targets', 'snapshot', 'timestamp'] as const)
    signersFor(root, role, o.signers);
  await o.store.insertDirectorRoot(
    {
      version: 1,
      bytes: o.rootBytes,
      sha256: sha256Hex(o.rootBytes),
      expires: root.signed.expires,
    },
    now.toISOString(),
  );
  return { version: 1 };
}

function verifyRootSignatures(trusted: Metadata<Root>, candidate: Metadata<Root>): void {
  try {
    trusted.verifyDelegate('root', candidate);
  } catch (error) {
    throw new ServerError(
      'METADATA_SIGNATURE_INVALID',
      'the Director root is not signed by a threshold of the root keys',
      { cause: error },
    );
  }
}

function signersFor(
  root: Metadata<Root>,
  role: 'targets' | 'snapshot' | 'timestamp',
  signers: DirectorSigners,
): TufSigner[] {
  const def = root.signed.roles[role];
  const chosen = toArray(signers[role]).filter((s) => def?.keyIDs.includes(s.keyId));
  if (!def || chosen.length < def.threshold) {
    throw new ServerError(
      'ONLINE_KEY_NOT_AUTHORIZED',
      `the Director ${role} keys given are not a threshold of the Director root's ${role} role`,
    );
  }
  return chosen.slice(0, Math.max(def.threshold, 1));
}

/**
 * The Director's TUF repository: one global root, and per vehicle a chain of targets, snapshot and
 * timestamp versions signed online. Every targets version is appended to the transparency log
 * before it becomes visible (stage -> log -> publish), so a vehicle is never served a version
 * the log does not hold.
 */
export class DirectorRepository {
  readonly #store: DirectorStore;
  readonly #signers: DirectorSigners;
  readonly #config: Config;
  readonly #clock: Clock;
  readonly #log: TransparencyLogSink | undefined;
  readonly #lock: PublishLock;
  #root: { sha256: string; md: Metadata<Root> } | undefined;

  constructor(o: {
    store: DirectorStore;
    signers: DirectorSigners;
    config: Config;
    clock: Clock;
    log: TransparencyLogSink | undefined;
    /** Across replicas, a database lock; by default this process's mutex. */
    lock?: PublishLock;
  }) {
    this.#lock = o.lock ?? new Mutex();
    this.#store = o.store;
    this.#signers = o.signers;
    this.#config = o.config;
    this.#clock = o.clock;
    this.#log = o.log;
  }

  /**
   * Runs `fn` with every Director change serialized: in this process, or across every replica on
   * one database with a database lock (two replicas would otherwise race for a vehicle's next
   * version, and one's crash recovery could publish what the other is still logging).
   */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    return this.#lock.run(fn);
  }

  async root(): Promise<Metadata<Root>> {
    const rec = await this.#store.currentDirectorRoot();
    if (!rec) throw new ServerError('DIRECTOR_NOT_INITIALIZED', 'the Director has no root yet');
    if (this.#root?.sha256 !== rec.sha256) {
      this.#root = { sha256: rec.sha256, md: parseDirectorRoot(rec.bytes) };
    }
    return this.#root.md;
  }

  /**
   * Accepts root N+1, signed by a threshold of root N's root keys and of its own (TUF 5.3.4).
   * Each vehicle's metadata is re-signed under it on its next fetch.
   */
  acceptRoot(bytes: Uint8Array): Promise<{ version: number }> {
    return this.serialize(async () => {
      const trusted = await this.root();
      const next = parseDirectorRoot(bytes);
      if (next.signed.version !== trusted.signed.version + 1) {
        throw new ServerError(
          'ROOT_ROTATION_INVALID',
          `the next Director root must be version ${trusted.signed.version + 1}`,
        );
      }
      if (next.signed.isExpired(this.#clock())) {
        throw new ServerError('ROOT_ROTATION_INVALID', 'the new Director root has expired');
      }
      verifyRootSignatures(trusted, next);
      verifyRootSignatures(next, next);
      for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
        signersFor(next, role, this.#signers);
      }
      await this.#store.insertDirectorRoot(
        {
          version: next.signed.version,
          bytes,
          sha256: sha256Hex(bytes),
          expires: next.signed.expires,
        },
        this.#clock().toISOString(),
      );
      return { version: next.signed.version };
    });
  }

  /**
   * Makes the vehicle's metadata current: a new targets version when `assignment` changed (or
   * none exists, or it expires soon, or the root's keys changed), then snapshot and timestamp as
   * needed. Call inside `serialize`. `assignment` is the vehicle's active assignment.
   */
  async refresh(
    vehicle: string,
    assignment: AssignmentRecord | undefined,
    opts: { newTargets?: boolean } = {},
  ): Promise<void> {
    await this.#recoverStaged();
    const root = await this.root();
    const now = this.#clock();
    const windows = this.#config.resignWindows;
    const expiries = this.#config.expiries;
    const stale = (rec: DirectorMetadataRecord | undefined, role: DirectorRole): boolean =>
      !rec ||
      Date.parse(rec.expires) - now.getTime() <= windows[role] * 1000 ||
      !signedUnder(root, role, rec.bytes);
    const current = {
      targets: await this.#store.currentDirectorMetadata(vehicle, 'targets'),
      snapshot: await this.#store.currentDirectorMetadata(vehicle, 'snapshot'),
      timestamp: await this.#store.currentDirectorMetadata(vehicle, 'timestamp'),
    };
    // Targets that list another assignment than the active one (a crash between recording an
    // assignment, or its completion or cancel, and signing its targets) are replaced: the vehicle
    // would otherwise never see its assignment, or keep seeing an ended one, until they expire.
    const drifted =
      current.targets !== undefined &&
      listedCorrelationId(current.targets.bytes) !== (assignment?.correlationId ?? null);
    const newTargets = opts.newTargets === true || stale(current.targets, 'targets') || drifted;
    const newSnapshot = newTargets || stale(current.snapshot, 'snapshot');
    const newTimestamp = newSnapshot || stale(current.timestamp, 'timestamp');
    if (!newTimestamp) return;
    const createdAt = now.toISOString();
    const records: DirectorMetadataRecord[] = [];
    const record = (
      role: DirectorRole,
      md: AnyMetadata,
      logEntry: DirectorMetadataRecord['logEntry'] = null,
    ): DirectorMetadataRecord => {
      const bytes = serializeMetadata(md);
      return {
        vehicle,
        role,
        version: md.signed.version,
        bytes,
        sha256: sha256Hex(bytes),
        expires: md.signed.expires,
        logEntry,
        logIndex: null,
        ecuSalt: null,
        createdAt,
      };
    };
    let targetsVersion = current.targets?.version ?? 0;
    if (newTargets) {
      targetsVersion =
        Math.max(await this.#store.maxDirectorVersion(vehicle, 'targets'), targetsVersion) + 1;
      const md = buildDirectorTargets({
        version: targetsVersion,
        expires: expiryAfter(now, expiries.targets),
        vehicle,
        assignment,
      });
      await signMetadata(md, signersFor(root, 'targets', this.#signers));
      const rec = record('targets', md);
      rec.ecuSalt = new Uint8Array(randomBytes(32));
      rec.logEntry = directorLogEntry({
        vehicle,
        version: targetsVersion,
        targetsSha256: rec.sha256,
        assignment,
        ecuSalt: rec.ecuSalt,
      });
      assertLoggable(rec.logEntry);
      records.push(rec);
    }
    let snapshot = current.snapshot;
    if (newSnapshot) {
      const version = Math.max(await this.#store.maxDirectorVersion(vehicle, 'snapshot'), 0) + 1;
      const md = buildDirectorSnapshot(
        version,
        expiryAfter(now, expiries.snapshot),
        targetsVersion,
      );
      await signMetadata(md, signersFor(root, 'snapshot', this.#signers));
      snapshot = record('snapshot', md);
      records.push(snapshot);
    }
    const tsVersion = Math.max(await this.#store.maxDirectorVersion(vehicle, 'timestamp'), 0) + 1;
    const ts = buildTimestamp(
      tsVersion,
      expiryAfter(now, expiries.timestamp),
      snapshot!.version,
      snapshot!.bytes,
    );
    await signMetadata(ts, signersFor(root, 'timestamp', this.#signers));
    records.push(record('timestamp', ts));
    await this.#store.stageDirectorMetadata(records);
    await this.#publish(records);
  }

  /** Logs the staged targets version (if any), then makes the records visible. */
  async #publish(records: DirectorMetadataRecord[]): Promise<void> {
    const targets = records.find((r) => r.role === 'targets');
    let logIndex: number | null = null;
    if (targets?.logEntry && this.#log?.appendDirectorTargets) {
      logIndex = await this.#log.appendDirectorTargets(targets.logEntry);
    }
    await this.#store.publishDirectorMetadata(
      records.map((r) => ({ vehicle: r.vehicle, role: r.role, version: r.version })),
      logIndex,
    );
  }

  /**
   * Finishes what a crash left staged: its targets version may or may not have reached the log,
   * so it is appended (again) and published; an auditor sees at worst the same entry twice.
   */
  async #recoverStaged(): Promise<void> {
    const staged = await this.#store.stagedDirectorMetadata();
    if (staged.length === 0) return;
    const byVehicle = new Map<string, DirectorMetadataRecord[]>();
    for (const r of staged) byVehicle.set(r.vehicle, [...(byVehicle.get(r.vehicle) ?? []), r]);
    for (const records of byVehicle.values()) await this.#publish(records);
  }

  /** A published version of a vehicle's role. */
  async metadata(
    vehicle: string,
    role: DirectorRole,
    version?: number,
  ): Promise<DirectorMetadataRecord | undefined> {
    return version === undefined
      ? this.#store.currentDirectorMetadata(vehicle, role)
      : this.#store.publishedDirectorMetadata(vehicle, role, version);
  }
}

/** The correlation ID a signed Director targets document lists (null: no assignment). */
function listedCorrelationId(bytes: Uint8Array): string | null {
  const doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as {
    signed?: { custom?: { correlationId?: unknown } };
  };
  const id = doc.signed?.custom?.correlationId;
  return typeof id === 'string' ? id : null;
}
