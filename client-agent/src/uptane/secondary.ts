import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Metadata, MetadataKind, type Root, type Targets } from '@tufjs/models';
import {
  parseDirectorTargets,
  type DirectorAssignment,
  type EnvelopeSigner,
} from '@tufchain/transparency/wire';
import { resolveConfig, type Config } from '../config.js';
import { AgentError } from '../error.js';
import type { ChunkHandler, ImageSink, ImageSource } from '../install/image-io.js';
import { streamImage } from '../install/stream.js';
import type { SlotImage, SlotName, SlotStore } from '../slots/slot-store.js';
import { stageMetadata } from '../tuf/staged.js';
import { TufRepository } from '../tuf/updater.js';
import { readJsonIfExists, writeFileDurable, writeJsonDurable } from '../util/durable.js';
import type { ReleaseLog } from '../verify/chain.js';
import { readTrustedTime } from '../verify/chain.js';
import { referenceTime } from '../verify/time.js';
import type { EcuTarget } from './ecu.js';
import { EcuSlots } from './ecu-slots.js';
import { filesFromWire, MEMORY_BASE, MemoryFetcher } from './memory-fetcher.js';
import type { SecondarySession } from './transport.js';
import { verifyAssignments, verifyDirectorTargets, type LogTrust } from './verify-vehicle.js';

export interface SecondaryOptions {
  ecuSerial: string;
  hardwareId: string;
  verification: 'full' | 'partial';
  /** The secondary's own key (its version reports and results). */
  signer: EnvelopeSigner & {
    publicKey: { keytype: string; scheme: string; keyval: { public: string } };
  };
  slots: SlotStore;
  stateDir: string;
  /** The pinned Director root (1.root.json bytes). */
  directorRootJson: Uint8Array;
  /** Full verification only: what the primary checks, checked again here with the ECU's own trust. */
  full?: {
    imageRootJson: Uint8Array;
    chain: ReleaseLog;
    vehicleCommitment: string;
    log: LogTrust;
  };
  healthCheck?: (slot: SlotName, image: SlotImage) => Promise<boolean>;
  clock?: () => Date;
  config?: Partial<Config>;
}

interface SecondaryState {
  /** Highest Director targets version accepted (rollback defence of a partial secondary). */
  directorTargetsVersion: number;
  /** The image the Director's verified metadata assigns this ECU. */
  assigned: (EcuTarget & { correlationId: string | null }) | null;
  /** The last refusal code this ECU saw (its version report's attacks_detected). */
  attack: string;
  lastTime: string | null;
  /** The assigned image is in the inactive slot and verified there (it may be switched to). */
  prepared: boolean;
}

const INITIAL: SecondaryState = {
  directorTargetsVersion: 0,
  assigned: null,
  attack: '',
  lastTime: null,
  prepared: false,
};

/** Image bytes as they arrive over the link, as an ImageSource for the install stream. */
class LinkSource implements ImageSource {
  #onChunk: ChunkHandler | undefined;
  #end: (() => void) | undefined;
  #ready: Promise<void>;
  #setReady!: () => void;

  constructor() {
    this.#ready = new Promise((r) => (this.#setReady = r));
  }

  read(_from: number, _length: number, onChunk: ChunkHandler): Promise<{ resumes: number }> {
    this.#onChunk = onChunk;
    this.#setReady();
    return new Promise((resolve) => (this.#end = () => resolve({ resumes: 0 })));
  }

  /** A promise only when the install stream must be waited for (the link pauses meanwhile). */
  deliver(chunk: Buffer): Promise<void> | undefined {
    const onChunk = this.#onChunk;
    if (!onChunk) return this.#ready.then(() => (this.#onChunk as ChunkHandler)(chunk));
    return onChunk(chunk);
  }

  end(): void {
    this.#end?.();
  }
}

/**
 * A secondary ECU (UPTANE.md, "Primary ↔ secondary"): its own key, slots and state; it takes
 * nothing on the primary's word. A partial-verification secondary checks the Director targets'
 * signature against its pinned Director root, a version not below its last, its own serial and
 * hardware ID, then the image's length and hashes as it streams into its slot. A full-verification
 * secondary runs both repositories' TUF workflows itself (tuf-js, over the metadata the primary
 * hands over), the Director checks, the log promise and the chain, with its own RPC quorum.
 */
export class Secondary {
  readonly opts: SecondaryOptions;
  readonly ecu: EcuSlots;
  readonly #cfg: Config;
  #stream: SecondaryImageStream | undefined;
  #requests: Promise<void> = Promise.resolve();

  constructor(opts: SecondaryOptions) {
    this.opts = opts;
    this.#cfg = resolveConfig(opts.config);
    this.ecu = new EcuSlots({
      serial: opts.ecuSerial,
      slots: opts.slots,
      signer: opts.signer,
      stateDir: opts.stateDir,
      config: this.#cfg,
      healthCheck: opts.healthCheck,
    });
  }

  get #statePath(): string {
    return join(this.opts.stateDir, 'secondary.json');
  }

  async #state(): Promise<SecondaryState> {
    const raw = (await readJsonIfExists(this.#statePath).catch(() => undefined)) as
      SecondaryState | undefined;
    return { ...INITIAL, ...raw };
  }

  async #save(s: SecondaryState): Promise<void> {
    await writeJsonDurable(this.#statePath, s);
  }

  /** Records a refusal for the next version report, then rethrows it. */
  async #refuse(err: unknown): Promise<never> {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') {
      const s = await this.#state();
      await this.#save({ ...s, attack: code });
    }
    throw err;
  }

  session(): SecondarySession {
    // The image stream this connection began: only its bytes feed it, only its close ends it (a
    // connection the primary gave up on may close, or still send, while the next one streams).
    let own: SecondaryImageStream | undefined;
    return {
      // One request at a time across connections: a request the primary gave up on (timed out,
      // or its process was killed) must not interleave with the ones that came after it.
      onRequest: (m) => {
        const run = this.#requests.then(async () => {
          const answer = await this.handle(m);
          if (m['op'] === 'image-begin') own = this.#stream;
          return answer;
        });
        this.#requests = run.then(
          () => undefined,
          () => undefined,
        );
        return run;
      },
      onImageBytes: (chunk) => {
        const stream = this.#stream;
        if (!stream || stream !== own)
          return Promise.reject(new AgentError('ECU_PROTOCOL_ERROR', 'no image expected'));
        // A refused chunk fails the install stream, which image-end reports.
        try {
          return stream.source.deliver(chunk)?.catch(() => undefined);
        } catch {
          return undefined;
        }
      },
      onClose: () => {
        // The primary went away mid-image: the slot keeps what it got and is never switched.
        const stream = this.#stream;
        if (!stream || stream !== own) return;
        this.#stream = undefined;
        stream.source.end();
        void stream.done.catch(() => undefined);
      },
    };
  }

  async handle(m: Record<string, unknown>): Promise<Record<string, unknown>> {
    const now = (this.opts.clock ?? (() => new Date()))();
    const time = typeof m['time'] === 'string' ? m['time'] : now.toISOString();
    switch (m['op']) {
      case 'info':
        return {
          ok: true,
          ecuSerial: this.opts.ecuSerial,
          hardwareId: this.opts.hardwareId,
          verification: this.opts.verification,
          keyId: this.opts.signer.keyId,
          publicKey: this.opts.signer.publicKey,
          // The roots it trusts now: the primary hands over every later one (a rotation).
          rootVersions: {
            director: await this.#rootVersion('director', this.opts.directorRootJson),
            ...(this.opts.full
              ? { image: await this.#rootVersion('image', this.opts.full.imageRootJson) }
              : {}),
          },
        };
      case 'version-report': {
        const s = await this.#state();
        const report = await this.ecu.versionReport({
          nonce: String(m['nonce']),
          time,
          previousTime: s.lastTime ?? undefined,
          attacksDetected: s.attack,
        });
        await this.#save({ ...s, lastTime: time });
        return { ok: true, report };
      }
      case 'metadata':
        try {
          return { ok: true, target: await this.#acceptMetadata(m, now) };
        } catch (err) {
          return this.#refuse(err);
        }
      case 'image-begin':
        return this.#beginImage();
      case 'image-end':
        try {
          return await this.#endImage();
        } catch (err) {
          return this.#refuse(err);
        }
      case 'switch': {
        const s = await this.#state();
        if (!s.assigned || !s.prepared) {
          throw new AgentError('ECU_NOT_PREPARED', 'no verified image in the inactive slot');
        }
        namesAssigned(m, s.assigned);
        return { ok: true, healthy: await this.ecu.switchTo(s.assigned) };
      }
      case 'commit': {
        const s = await this.#state();
        if (!s.assigned) throw new AgentError('ECU_NOT_PREPARED', 'no image assigned');
        namesAssigned(m, s.assigned);
        const result = await this.ecu.commit({
          set: setOf(m),
          correlationId: s.assigned.correlationId,
          target: s.assigned,
          code: '',
          time,
        });
        return { ok: true, result };
      }
      case 'rollback': {
        this.#stream?.source.end();
        this.#stream = undefined;
        const s = await this.#state();
        if (!s.assigned) {
          const state = await this.opts.slots.readState();
          if (state.pending) await this.opts.slots.rollback();
          return { ok: true };
        }
        namesAssigned(m, s.assigned);
        const code =
          typeof m['code'] === 'string' && /^[A-Z0-9_]{0,64}$/.test(m['code']) ? m['code'] : '';
        const result = await this.ecu.rollback({
          // A rollback that names no set only drops what is pending: it cannot take back a commit.
          set: m['set'] === undefined ? '' : setOf(m),
          correlationId: s.assigned.correlationId,
          target: s.assigned,
          code,
          time,
        });
        return { ok: true, result };
      }
      case 'status': {
        return { ok: true, slots: await this.opts.slots.readState(), state: await this.#state() };
      }
      default:
        throw new AgentError('ECU_PROTOCOL_ERROR', `unknown request ${String(m['op'])}`);
    }
  }

  async #beginImage(): Promise<Record<string, unknown>> {
    const s = await this.#state();
    if (!s.assigned) throw new AgentError('ECU_NOT_PREPARED', 'no verified assignment to receive');
    const target = s.assigned;
    await this.#save({ ...s, prepared: false });
    const sink = await this.ecu.openSink(target);
    const source = new LinkSource();
    const done = streamImage({
      source,
      sink,
      expected: { length: target.length, sha256: target.sha256, sha512: target.sha512 },
    }).finally(() => sink.close());
    done.catch(() => undefined);
    this.#stream = { source, done, sink };
    return { ok: true };
  }

  async #endImage(): Promise<Record<string, unknown>> {
    const stream = this.#stream;
    if (!stream) throw new AgentError('ECU_PROTOCOL_ERROR', 'no image being received');
    this.#stream = undefined;
    stream.source.end();
    await stream.done;
    const s = await this.#state();
    const t = s.assigned as EcuTarget;
    await this.#save({ ...s, prepared: true });
    // streamImage checked length, sha256 of what came and sha512 of what the slot holds.
    return { ok: true, held: { sha512: t.sha512, bytes: t.length } };
  }

  /** The version of the root this ECU trusts for `repo` (its tuf-js state, else the pinned one). */
  async #rootVersion(repo: 'director' | 'image', pinned: Uint8Array): Promise<number> {
    const { readFile } = await import('node:fs/promises');
    const candidates = [
      join(this.opts.stateDir, 'metadata', repo, 'root.json'),
      ...(repo === 'director' ? [join(this.opts.stateDir, 'director-root.json')] : []),
    ];
    let version = 0;
    for (const bytes of [
      pinned,
      ...(await Promise.all(candidates.map((p) => readFile(p).catch(() => undefined)))),
    ]) {
      if (!bytes) continue;
      try {
        const v = (
          JSON.parse(Buffer.from(bytes).toString('utf8')) as { signed?: { version?: unknown } }
        ).signed?.version;
        if (typeof v === 'number' && v > version) version = v;
      } catch {
        // unreadable: not trusted
      }
    }
    return version;
  }

  /** Verifies what the primary hands over and keeps this ECU's assignment. */
  async #acceptMetadata(m: Record<string, unknown>, now: Date): Promise<EcuTarget> {
    const director = filesFromWire(m['director']);
    const chainTime = m['chainTime'] as { timestamp?: unknown } | undefined;
    const primaryTime = typeof chainTime?.timestamp === 'number' ? chainTime.timestamp : 0;
    const s = await this.#state();
    let assignment: DirectorAssignment;
    let correlationId: string | null;
    let version: number;
    let version_: string | undefined;
    if (this.opts.verification === 'partial') {
      const checked = await this.#verifyPartial(director, referenceTime(now, primaryTime), s);
      ({ assignment, correlationId, version } = checked);
    } else {
      const checked = await this.#verifyFull(
        director,
        filesFromWire(m['image']),
        m['logPromise'],
        now,
      );
      ({ assignment, correlationId, version } = checked);
      version_ = checked.version_;
    }
    if (assignment.sha512 === undefined) {
      throw new AgentError('DIRECTOR_METADATA_INVALID', `${assignment.name} has no sha512`);
    }
    await this.ecu.assertNotDowngrade(assignment);
    const assigned = {
      name: assignment.name,
      version: version_ ?? String(assignment.releaseCounter),
      length: assignment.length,
      sha256: assignment.sha256,
      sha512: assignment.sha512,
      releaseCounter: assignment.releaseCounter,
      correlationId,
    };
    await this.#save({
      ...s,
      directorTargetsVersion: Math.max(s.directorTargetsVersion, version),
      assigned,
      prepared: false,
    });
    return assigned;
  }

  /** This ECU's entry in verified assignments (NO_ASSIGNMENT_FOR_ECU, HARDWARE_ID_MISMATCH). */
  #mine(assignments: readonly DirectorAssignment[]): DirectorAssignment {
    const a = assignments.find((x) => x.ecuSerial === this.opts.ecuSerial);
    if (!a)
      throw new AgentError('NO_ASSIGNMENT_FOR_ECU', `nothing assigned to ${this.opts.ecuSerial}`);
    if (a.hardwareId !== this.opts.hardwareId) {
      throw new AgentError(
        'HARDWARE_ID_MISMATCH',
        `${a.name} is assigned for ${a.hardwareId}; this ECU is ${this.opts.hardwareId}`,
      );
    }
    return a;
  }

  async #verifyPartial(
    files: Map<string, Uint8Array>,
    at: Date,
    s: SecondaryState,
  ): Promise<{ assignment: DirectorAssignment; correlationId: string | null; version: number }> {
    const root = await this.#directorRoot(files);
    const targetsName = [...files.keys()].find((k) => /^\d+\.targets\.json$/.test(k));
    const bytes = targetsName ? files.get(targetsName) : undefined;
    if (!bytes)
      throw new AgentError('DIRECTOR_METADATA_INVALID', 'no Director targets handed over');
    let targets: Metadata<Targets>;
    try {
      targets = Metadata.fromJSON(
        MetadataKind.Targets,
        JSON.parse(Buffer.from(bytes).toString('utf8')) as never,
      );
    } catch (err) {
      throw new AgentError('DIRECTOR_METADATA_INVALID', 'Director targets do not parse', {
        cause: err,
      });
    }
    try {
      root.verifyDelegate('targets', targets);
    } catch (err) {
      throw new AgentError('METADATA_UNSIGNED', 'Director targets not signed by the pinned root', {
        cause: err,
      });
    }
    if (targets.signed.version < s.directorTargetsVersion) {
      throw new AgentError(
        'METADATA_ROLLBACK',
        `Director targets v${targets.signed.version} is below v${s.directorTargetsVersion}`,
      );
    }
    if (targets.signed.isExpired(at)) {
      throw new AgentError(
        'METADATA_EXPIRED',
        `Director targets expired at ${targets.signed.expires}`,
      );
    }
    let parsed: ReturnType<typeof parseDirectorTargets>;
    try {
      parsed = parseDirectorTargets(targets.signed.toJSON());
    } catch (err) {
      throw new AgentError('DIRECTOR_METADATA_INVALID', (err as Error).message, { cause: err });
    }
    return {
      assignment: this.#mine(parsed.assignments),
      correlationId: parsed.custom.correlationId,
      version: targets.signed.version,
    };
  }

  /** The pinned Director root, walked forward through the rotated roots handed over. */
  async #directorRoot(files: Map<string, Uint8Array>): Promise<Metadata<Root>> {
    const path = join(this.opts.stateDir, 'director-root.json');
    const { readFile } = await import('node:fs/promises');
    const stored = await readFile(path).catch(() => Buffer.from(this.opts.directorRootJson));
    const parse = (b: Uint8Array): Metadata<Root> =>
      Metadata.fromJSON(MetadataKind.Root, JSON.parse(Buffer.from(b).toString('utf8')) as never);
    let root = parse(stored);
    for (;;) {
      const next = files.get(`${root.signed.version + 1}.root.json`);
      if (!next) break;
      let candidate: Metadata<Root>;
      try {
        candidate = parse(next);
        root.verifyDelegate('root', candidate);
        candidate.verifyDelegate('root', candidate);
      } catch (err) {
        throw new AgentError('METADATA_UNSIGNED', 'a rotated Director root does not verify', {
          cause: err,
        });
      }
      if (candidate.signed.version !== root.signed.version + 1) break;
      root = candidate;
      await writeFileDurable(path, next);
    }
    return root;
  }

  async #verifyFull(
    director: Map<string, Uint8Array>,
    image: Map<string, Uint8Array>,
    logPromise: unknown,
    now: Date,
  ): Promise<{
    assignment: DirectorAssignment;
    correlationId: string | null;
    version: number;
    version_: string;
  }> {
    const full = this.opts.full;
    if (!full)
      throw new AgentError('CONFIG_INVALID', 'a full-verification secondary needs its trust');
    // Staged as on the primary (tuf/staged.ts): what the log or the chain refuses is not kept.
    const directorStage = await stageMetadata(join(this.opts.stateDir, 'metadata', 'director'));
    const imageStage = await stageMetadata(join(this.opts.stateDir, 'metadata', 'image'));
    const repo = (name: string, files: Map<string, Uint8Array>, rootJson: Uint8Array) =>
      new TufRepository({
        metadataDir: (name === 'director' ? directorStage : imageStage).dir,
        repositoryUrl: `${MEMORY_BASE}/${name}`,
        trustedRootJson: rootJson,
        fetcher: new MemoryFetcher(name, files),
        config: this.#cfg,
      });
    const directorRepo = repo('director', director, this.opts.directorRootJson);
    const imageRepo = repo('image', image, full.imageRootJson);
    const chainTime = readTrustedTime(full.chain);
    chainTime.catch(() => undefined);
    await directorRepo.refresh();
    await imageRepo.refresh();
    const checkpoint = await chainTime;
    const at = referenceTime(now, checkpoint.timestamp);
    const verified = verifyDirectorTargets({
      trusted: await directorRepo.trustedMetadata(),
      at,
      vehicleCommitment: full.vehicleCommitment,
      logPromise,
      log: full.log,
    });
    await directorStage.promote();
    const mine = this.#mine(verified.assignments);
    imageRepo.checkDelegationsExpiryAt(at);
    const [checked] = await verifyAssignments({
      image: imageRepo,
      imageTrusted: await imageRepo.trustedMetadata(),
      chain: full.chain,
      assignments: [mine],
    });
    await imageStage.promote();
    return {
      assignment: {
        ...mine,
        sha512: checked?.firmware.sha512 ?? mine.sha512,
      } as DirectorAssignment,
      correlationId: verified.custom.correlationId,
      version: verified.targetsVersion,
      version_: checked?.firmware.version ?? String(mine.releaseCounter),
    };
  }
}

/**
 * A switch, commit or rollback names the image of the set it settles; one that names another is
 * late (a request of an earlier set, answered to nobody) and must not act on this set: a late
 * rollback would take back a committed newer set, a late commit would commit one undecided.
 */
function namesAssigned(m: Record<string, unknown>, assigned: { sha256: string }): void {
  const named = (m['target'] as { sha256?: unknown } | undefined)?.sha256;
  if (named !== undefined && named !== assigned.sha256) {
    throw new AgentError(
      'ECU_NOT_PREPARED',
      'the request settles another image than the one assigned here',
    );
  }
}

/** The atomic set a commit or rollback settles (the primary's journal id). */
function setOf(m: Record<string, unknown>): string {
  const set = m['set'];
  if (typeof set !== 'string' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(set)) {
    throw new AgentError('ECU_PROTOCOL_ERROR', 'a commit or rollback must name its atomic set');
  }
  return set;
}

interface SecondaryImageStream {
  source: LinkSource;
  done: Promise<unknown>;
  sink: ImageSink;
}

export function sha256Of(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
