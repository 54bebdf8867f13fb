import { mkdir, readFile, rm, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Metadata,
  MetadataKind,
  type Root,
  type Snapshot,
  type Targets,
  type Timestamp,
} from '@tufjs/models';
import { Updater, type Fetcher, type TargetFile } from 'tuf-js';
import type { Config } from '../config.js';
import { AgentError, type AgentErrorCode } from '../error.js';
import { writeFileDurable } from '../util/durable.js';
import { fetcherRefusal } from './fetcher.js';
import { HARDWARE_IDS_FIELD } from '@tufchain/transparency/wire';

export interface TufRepositoryOptions {
  /** Where tuf-js keeps the trusted metadata of this repository (one directory per repository). */
  metadataDir: string;
  /** Repository base URL; metadata lives under `<url>/metadata`, targets under `<url>/targets`. */
  repositoryUrl: string;
  /** The initial trusted root (1.root.json), used only when `metadataDir` holds no root yet. */
  trustedRootJson?: Uint8Array;
  fetcher: Fetcher;
  config: Pick<
    Config,
    'rootMaxLength' | 'timestampMaxLength' | 'snapshotMaxLength' | 'targetsMaxLength' | 'userAgent'
  >;
}

/** What the agent needs to know about one firmware target, read from its `custom` field. */
export interface FirmwareTarget {
  file: TargetFile;
  name: string;
  length: number;
  sha256: string;
  sha512: string;
  hardwareIds: string[];
  version: string;
  releaseCounter: number;
  attestationPath: string;
}

export interface TrustedMetadata {
  root: Metadata<Root>;
  timestamp: Metadata<Timestamp>;
  snapshot: Metadata<Snapshot>;
  targets: Metadata<Targets>;
  /** The exact bytes of the trusted top-level targets metadata, as tuf-js received and stored them. */
  targetsBytes: Uint8Array;
  /** The exact bytes of the trusted snapshot: what the chain logs, pinning every targets role. */
  snapshotBytes: Uint8Array;
}

const ROOT_BACKUP = '.root.trusted.json';

function parseRoot(bytes: Uint8Array | undefined): boolean {
  if (!bytes) return false;
  try {
    Metadata.fromJSON(MetadataKind.Root, JSON.parse(Buffer.from(bytes).toString('utf8')) as never);
    return true;
  } catch {
    return false;
  }
}

function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** Maps an error thrown by tuf-js's refresh to a specific agent code. */
export function tufErrorCode(err: unknown): AgentErrorCode {
  const ctor = (err as { constructor?: { name?: string } } | null)?.constructor?.name ?? '';
  const message = err instanceof Error ? err.message : String(err);
  if (ctor === 'ExpiredMetadataError' || /is expired/.test(message)) return 'METADATA_EXPIRED';
  if (ctor === 'UnsignedMetadataError' || /was signed by \d+\/\d+ keys/.test(message)) {
    return 'METADATA_UNSIGNED';
  }
  if (
    ctor === 'BadVersionError' ||
    /less than current version|does not match snapshot version|doesn't match timestamp/.test(
      message,
    )
  ) {
    return 'METADATA_ROLLBACK';
  }
  return 'TUF_REFRESH';
}

/**
 * One TUF repository as seen by the agent: a tuf-js Updater per refresh, no globals, so that
 * a second instance can follow a Director repository (Uptane) beside the image repository.
 */
export class TufRepository {
  readonly metadataDir: string;
  readonly metadataBaseUrl: string;
  readonly targetBaseUrl: string;
  readonly #opts: TufRepositoryOptions;
  #updater: Updater | undefined;
  #expiryTime: Date | undefined;

  constructor(opts: TufRepositoryOptions) {
    this.#opts = opts;
    this.metadataDir = opts.metadataDir;
    this.metadataBaseUrl = joinUrl(opts.repositoryUrl, 'metadata');
    this.targetBaseUrl = joinUrl(opts.repositoryUrl, 'targets');
  }

  /**
   * Makes sure `root.json` holds a parseable trusted root. tuf-js persists metadata with a plain
   * write, so a power cut can truncate it; the agent keeps a durable copy of the last trusted root
   * (`.root.trusted.json`, temp + fsync + rename) and falls back to it, then to the provisioned
   * root. Rotations after that copy are simply walked again by tuf-js.
   */
  async initialize(): Promise<void> {
    await mkdir(this.metadataDir, { recursive: true });
    const rootPath = join(this.metadataDir, 'root.json');
    if (parseRoot(await readFile(rootPath).catch(() => undefined))) return;
    const backup = await readFile(join(this.metadataDir, ROOT_BACKUP)).catch(() => undefined);
    const candidates = [backup, this.#opts.trustedRootJson];
    for (const bytes of candidates) {
      if (bytes && parseRoot(bytes)) {
        await writeFileDurable(rootPath, bytes);
        return;
      }
    }
    throw new AgentError(
      'TRUSTED_ROOT_INVALID',
      this.#opts.trustedRootJson
        ? 'the provisioned trusted root is not TUF root metadata'
        : `no trusted root in ${this.metadataDir}`,
    );
  }

  /** Keeps a durable copy of the root tuf-js now trusts (see initialize). */
  async #backupRoot(): Promise<void> {
    const root = await readFile(join(this.metadataDir, 'root.json'));
    if (!parseRoot(root)) return;
    const backupPath = join(this.metadataDir, ROOT_BACKUP);
    const backup = await readFile(backupPath).catch(() => undefined);
    if (!backup || !backup.equals(root)) await writeFileDurable(backupPath, root);
  }

  /** Runs the TUF client workflow (root, timestamp, snapshot, targets) with tuf-js. */
  async refresh(): Promise<void> {
    await this.initialize();
    const { config } = this.#opts;
    try {
      this.#updater = new Updater({
        metadataDir: this.metadataDir,
        metadataBaseUrl: this.metadataBaseUrl,
        targetBaseUrl: this.targetBaseUrl,
        fetcher: this.#opts.fetcher,
        config: {
          rootMaxLength: config.rootMaxLength,
          timestampMaxLength: config.timestampMaxLength,
          snapshotMaxLength: config.snapshotMaxLength,
          targetsMaxLength: config.targetsMaxLength,
          userAgent: config.userAgent,
        },
      });
      await this.#updater.refresh();
    } catch (err) {
      await this.#backupRoot().catch(() => undefined);
      this.#updater = undefined;
      throw this.#agentError(err, 'TUF refresh');
    }
    await this.#backupRoot();
  }

  /** A failure of tuf-js as an AgentError: the fetcher's refusal, or tuf-js's error mapped. */
  #agentError(err: unknown, what: string): AgentError {
    const refused = fetcherRefusal(this.#opts.fetcher, err);
    if (refused) return refused;
    const message = err instanceof Error ? err.message : String(err);
    return new AgentError(tufErrorCode(err), `${what} failed: ${message}`, { cause: err });
  }

  #requireUpdater(): Updater {
    if (!this.#updater) throw new AgentError('TUF_REFRESH', 'refresh() has not succeeded yet');
    return this.#updater;
  }

  /** The top-level metadata tuf-js trusts after refresh(), parsed from the files it persisted. */
  async trustedMetadata(): Promise<TrustedMetadata> {
    this.#requireUpdater();
    const read = (role: string): Promise<Buffer> =>
      readFile(join(this.metadataDir, `${role}.json`));
    const parse = (bytes: Uint8Array): never =>
      JSON.parse(Buffer.from(bytes).toString('utf8')) as never;
    const [rootB, timestampB, snapshotB, targetsB] = await Promise.all([
      read('root'),
      read('timestamp'),
      read('snapshot'),
      read('targets'),
    ]);
    const snapshot = Metadata.fromJSON(MetadataKind.Snapshot, parse(snapshotB));
    const targets = Metadata.fromJSON(MetadataKind.Targets, parse(targetsB));
    const targetsMeta = snapshot.signed.meta['targets.json'];
    if (!targetsMeta || targetsMeta.version !== targets.signed.version) {
      throw new AgentError(
        'TUF_REFRESH',
        'stored targets metadata does not match the trusted snapshot',
      );
    }
    targetsMeta.verify(targetsB);
    return {
      root: Metadata.fromJSON(MetadataKind.Root, parse(rootB)),
      timestamp: Metadata.fromJSON(MetadataKind.Timestamp, parse(timestampB)),
      snapshot,
      targets,
      targetsBytes: new Uint8Array(targetsB),
      snapshotBytes: new Uint8Array(snapshotB),
    };
  }

  /**
   * The hardware IDs the delegation that `path` resolves through may sign for, or undefined when
   * it is unscoped (top-level targets, or the OEM's bins). Reads the top-level targets tuf-js
   * verified; with every delegation terminating (the server's layout), the first role whose paths
   * match is the one tuf-js descended into.
   */
  async delegationScope(
    path: string,
  ): Promise<{ role: string; hardwareIds: string[] } | undefined> {
    const { targets } = await this.trustedMetadata();
    if (targets.signed.targets[path]) return undefined;
    const first = targets.signed.delegations?.rolesForTarget(path).next();
    if (!first || first.done) return undefined;
    const role = targets.signed.delegations?.roles?.[first.value.role];
    const ids = role?.unrecognizedFields?.[HARDWARE_IDS_FIELD];
    if (ids === undefined) return undefined;
    if (!Array.isArray(ids) || !ids.every((h) => typeof h === 'string')) {
      throw new AgentError(
        'HARDWARE_ID_NOT_DELEGATED',
        `delegation ${first.value.role} lists its hardware IDs malformed`,
      );
    }
    return { role: first.value.role, hardwareIds: ids };
  }

  /**
   * From now on, every delegated targets role a lookup goes through must also be unexpired at
   * `at` (the later of the local clock and the chain's confirmed time, see verify/time.ts):
   * tuf-js checks delegated roles against the local clock only, which a vehicle set back passes.
   */
  checkDelegationsExpiryAt(at: Date): void {
    this.#expiryTime = at;
  }

  /** METADATA_EXPIRED when a delegated role tuf-js walked through for `path` expired (see above). */
  #assertDelegationsFresh(updater: Updater, path: string): void {
    const at = this.#expiryTime;
    if (!at) return;
    // tuf-js keeps the roles it loaded in its (private) trusted set; its getRole is public.
    const store = (updater as unknown as { trustedSet?: { getRole?: unknown } }).trustedSet;
    if (typeof store?.getRole !== 'function') {
      throw new AgentError('TUF_REFRESH', 'cannot read the delegated roles tuf-js trusts');
    }
    const getRole = (name: string) =>
      (store.getRole as (n: string) => Metadata<Targets> | undefined).call(store, name);
    const seen = new Set<string>();
    const toVisit = ['targets'];
    for (let name = toVisit.pop(); name !== undefined; name = toVisit.pop()) {
      if (seen.has(name)) continue;
      seen.add(name);
      const role = getRole(name);
      if (!role) continue; // not loaded: tuf-js did not go that way
      if (name !== 'targets' && role.signed.isExpired(at)) {
        throw new AgentError(
          'METADATA_EXPIRED',
          `delegated role ${name} expired at ${role.signed.expires}, trusted time is ${at.toISOString()}`,
        );
      }
      for (const next of role.signed.delegations?.rolesForTarget(path) ?? []) {
        toVisit.push(next.role);
      }
    }
  }

  /** The trusted TargetFile for `path` (tuf-js walks delegations), or TARGET_NOT_FOUND. */
  async getTarget(path: string): Promise<TargetFile> {
    const updater = this.#requireUpdater();
    let target: TargetFile | undefined;
    try {
      target = await updater.getTargetInfo(path);
    } catch (err) {
      // tuf-js loads the delegated roles on the way to `path` now
      throw this.#agentError(err, `TUF lookup of ${path}`);
    }
    this.#assertDelegationsFresh(updater, path);
    if (!target) throw new AgentError('TARGET_NOT_FOUND', `no trusted target ${path}`);
    return target;
  }

  /**
   * The firmware target for `hardwareId` with the highest releaseCounter among the top-level
   * targets and the server's discovery hint (a name only: it resolves through tuf-js's walk of
   * the delegations like any other), as a TargetFile resolved through tuf-js. A target that a
   * hardware-ID-scoped supplier delegation lists for other hardware IDs is refused.
   */
  async findFirmwareTarget(hardwareId: string, hintedName?: string): Promise<FirmwareTarget> {
    const { targets } = await this.trustedMetadata();
    const names = new Set<string>();
    for (const name of Object.keys(targets.signed.targets)) {
      const custom = targets.signed.targets[name]?.custom;
      if (!custom || custom['kind'] !== 'firmware') continue;
      const ids = custom['hardwareIds'];
      if (Array.isArray(ids) && ids.includes(hardwareId)) names.add(name);
    }
    if (hintedName !== undefined) names.add(hintedName);
    let best: FirmwareTarget | undefined;
    for (const name of names) {
      const parsed = describeFirmwareTarget(await this.getTarget(name));
      if (!parsed.hardwareIds.includes(hardwareId)) continue;
      const scope = await this.delegationScope(name);
      const outside = scope && parsed.hardwareIds.filter((h) => !scope.hardwareIds.includes(h));
      if (outside && outside.length > 0) {
        throw new AgentError(
          'HARDWARE_ID_NOT_DELEGATED',
          `${scope.role} may not sign firmware for ${outside.join(', ')} (${name})`,
        );
      }
      if (!best || parsed.releaseCounter > best.releaseCounter) best = parsed;
    }
    if (!best) {
      throw new AgentError(
        'NO_TARGET_FOR_HARDWARE',
        `no firmware target for hardware ID ${hardwareId}`,
      );
    }
    return best;
  }

  /** URL of a target under consistent snapshots: `<targets>/<sha256>.<basename>`. */
  targetUrl(target: TargetFile): string {
    const sha256 = target.hashes['sha256'];
    if (!sha256)
      throw new AgentError('TARGET_CUSTOM_INVALID', `target ${target.path} has no sha256`);
    const slash = target.path.lastIndexOf('/');
    const dir = slash >= 0 ? target.path.slice(0, slash + 1) : '';
    const base = target.path.slice(slash + 1);
    return joinUrl(this.targetBaseUrl, `${dir}${sha256}.${base}`);
  }

  /** Downloads a small target through tuf-js (length and hashes checked by tuf-js). */
  async downloadSmallTarget(target: TargetFile, scratchDir: string): Promise<Buffer> {
    await mkdir(scratchDir, { recursive: true });
    const dir = await mkdtemp(join(scratchDir, 'target-'));
    try {
      const file = join(dir, 'target');
      await this.#requireUpdater()
        .downloadTarget(target, file, undefined)
        .catch((err: unknown) => {
          throw this.#agentError(err, `download of ${target.path}`);
        });
      return await readFile(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** Validates the tufchain `custom` fields of a firmware target. */
export function describeFirmwareTarget(file: TargetFile): FirmwareTarget {
  const custom = file.custom;
  const { hardwareIds, version, releaseCounter, attestation } = custom;
  const sha256 = file.hashes['sha256'];
  const sha512 = file.hashes['sha512'];
  if (
    !Array.isArray(hardwareIds) ||
    !hardwareIds.every((h) => typeof h === 'string') ||
    typeof version !== 'string' ||
    typeof releaseCounter !== 'number' ||
    !Number.isSafeInteger(releaseCounter) ||
    releaseCounter < 0 ||
    typeof attestation !== 'string' ||
    typeof sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(sha256) ||
    typeof sha512 !== 'string' ||
    !/^[0-9a-f]{128}$/.test(sha512)
  ) {
    throw new AgentError(
      'TARGET_CUSTOM_INVALID',
      `target ${file.path} lacks tufchain custom fields`,
    );
  }
  return {
    file,
    name: file.path,
    length: file.length,
    sha256,
    sha512,
    hardwareIds: hardwareIds,
    version,
    releaseCounter,
    attestationPath: attestation,
  };
}
