import {
  Metadata,
  MetadataKind,
  MetaFile,
  Snapshot,
  TargetFile,
  Targets,
  type Root,
  type Timestamp,
} from '@tufjs/models';
import { hardwareIdHash } from '@tufchain/contracts';
import type { LoggedRelease } from '../chain/types.js';
import { isHash32, normalizeHash32, sha256Hex } from '../util/hex.js';
import { errorMessage, parseJson, type Findings } from './findings.js';
import type { AuditSource } from './source.js';
import { HARDWARE_IDS_FIELD, SUPPLIER_ROLE_PREFIX } from '../wire/layout.js';

/** TUF's default maximum number of delegations visited in one target search. */
const MAX_DELEGATIONS = 32;
const FETCH_CONCURRENCY = 8;

type DelegatedRole = NonNullable<NonNullable<Targets['delegations']>['roles']>[string];

export interface FirmwareTarget {
  name: string;
  sha256: string;
  hardwareIds: string[];
  releaseCounter: number | undefined;
  /** Target path of its Sigstore bundle (custom.attestation), resolved like any TUF target. */
  attestation: string | undefined;
  /** The targets role that lists it. */
  role: string;
}

export interface MetadataHistoryInput {
  source: AuditSource;
  /** The verified root chain, oldest first. */
  roots: readonly Metadata<Root>[];
  releases: readonly LoggedRelease[];
  findings: Findings;
  stats: Record<string, number>;
  /**
   * Called once per firmware digest, in the snapshot that first lists it, with its bundle target
   * (resolved through the delegations as a TUF client would) or undefined when none resolves.
   */
  onNewFirmware?: (
    fw: FirmwareTarget,
    bundle: { name: string; sha256: string } | undefined,
    subject: string,
  ) => Promise<void>;
}

interface RoleState {
  version: number;
  sha256: string;
  length: number;
  /** null when the file could not be fetched or parsed (already reported). */
  md: Metadata<Targets> | null;
  /** The same metadata for signature checks: its signed part as received (see parseTargets). */
  asReceived: Metadata<Targets> | null;
  firmware: FirmwareTarget[];
  /** Paths it lists that no TUF client resolves to it (as of its last check). */
  unreachable: Set<string>;
}

function firmwareTargets(role: string, targets: Targets): FirmwareTarget[] {
  const out: FirmwareTarget[] = [];
  for (const [name, file] of Object.entries(targets.targets)) {
    const custom = file.custom ?? {};
    if (custom.kind === 'attestation') continue;
    const sha256 = file.hashes.sha256;
    if (!sha256 || !isHash32(sha256)) continue;
    out.push({
      name,
      sha256: normalizeHash32(sha256),
      hardwareIds: Array.isArray(custom.hardwareIds)
        ? [...new Set(custom.hardwareIds.filter((h): h is string => typeof h === 'string'))]
        : [],
      releaseCounter: typeof custom.releaseCounter === 'number' ? custom.releaseCounter : undefined,
      attestation: typeof custom.attestation === 'string' ? custom.attestation : undefined,
      role,
    });
  }
  return out;
}

/**
 * The timestamp served now must be signed by timestamp keys of a trusted root and point at a
 * served, logged snapshot (by version and, when it gives one, by hash): it is where every vehicle
 * starts. Its own version is never logged (timestamp-only re-signs log nothing).
 */
async function auditTimestamp(
  input: MetadataHistoryInput,
  snapshotHashes: ReadonlyMap<number, string>,
  isLogged: (snapshotVersion: number) => boolean,
): Promise<void> {
  const { findings, roots } = input;
  const subject = 'timestamp';
  let timestamp: Metadata<Timestamp>;
  try {
    const bytes = await input.source.timestamp!();
    timestamp = Metadata.fromJSON(MetadataKind.Timestamp, parseJson(bytes) as never);
  } catch (err) {
    findings.error('AUDIT_SOURCE_UNAVAILABLE', `timestamp: ${errorMessage(err)}`, subject);
    return;
  }
  if (roots.length > 0 && newestSigningRoot(roots, MetadataKind.Timestamp, timestamp) < 0) {
    findings.error(
      'TIMESTAMP_SIGNATURE_INVALID',
      `timestamp ${timestamp.signed.version} is not signed by a threshold of timestamp keys of any trusted root`,
      subject,
    );
  }
  const meta = timestamp.signed.snapshotMeta;
  const hash = snapshotHashes.get(meta.version);
  const wantSha = meta.hashes?.sha256;
  if (
    hash === undefined ||
    (wantSha !== undefined && (!isHash32(wantSha) || normalizeHash32(wantSha) !== hash))
  ) {
    findings.error(
      'TIMESTAMP_SNAPSHOT_NOT_SERVED',
      `timestamp ${timestamp.signed.version} points at snapshot ${meta.version}, which the audit routes do not serve as such`,
      subject,
    );
  } else if (!isLogged(meta.version)) {
    findings.error(
      'TIMESTAMP_SNAPSHOT_NOT_LOGGED',
      `timestamp ${timestamp.signed.version} points at snapshot ${meta.version}, which is not logged`,
      subject,
    );
  }
}

const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * Parses targets metadata with @tufjs/models in time linear in its targets: `Targets.fromJSON` and
 * `Targets.toJSON` of @tufjs/models 5 rebuild the targets map one spread at a time (quadratic),
 * which a bin or a flat targets of 100,000 entries cannot afford. Everything but the targets map
 * goes through `Metadata.fromJSON`; each target through `TargetFile.fromJSON`. `asReceived` is
 * what signatures are checked on (still by @tufjs/models): the same signatures over the signed
 * object exactly as received, which is what the signers signed.
 */
export function parseTargets(json: unknown): {
  md: Metadata<Targets>;
  asReceived: Metadata<Targets>;
} {
  if (!isRecord(json) || !isRecord(json.signed)) {
    throw new TypeError('metadata must be an object with a signed object');
  }
  const received = json.signed;
  const { targets: rawTargets, ...rest } = received;
  if (!isRecord(rawTargets)) throw new TypeError('targets must be an object');
  const shell = Metadata.fromJSON(MetadataKind.Targets, {
    ...json,
    signed: { ...rest, targets: {} },
  });
  const targets: Record<string, TargetFile> = {};
  for (const [path, target] of Object.entries(rawTargets)) {
    targets[path] = TargetFile.fromJSON(path, target as never);
  }
  const signed = new Targets({
    version: shell.signed.version,
    specVersion: shell.signed.specVersion,
    expires: shell.signed.expires,
    targets,
    ...(shell.signed.delegations ? { delegations: shell.signed.delegations } : {}),
    unrecognizedFields: shell.signed.unrecognizedFields,
  });
  const asReceived = new Targets({
    version: signed.version,
    specVersion: signed.specVersion,
    expires: signed.expires,
  });
  Object.defineProperty(asReceived, 'toJSON', { value: () => received });
  return {
    md: new Metadata(signed, shell.signatures, shell.unrecognizedFields),
    asReceived: new Metadata(asReceived, shell.signatures, shell.unrecognizedFields),
  };
}

/** `parseTargets` for snapshot metadata: its meta map has one entry per targets role (2^B bins). */
export function parseSnapshot(json: unknown): {
  md: Metadata<Snapshot>;
  asReceived: Metadata<Snapshot>;
} {
  if (!isRecord(json) || !isRecord(json.signed)) {
    throw new TypeError('metadata must be an object with a signed object');
  }
  const received = json.signed;
  const { meta: rawMeta, ...rest } = received;
  if (!isRecord(rawMeta)) throw new TypeError('meta must be an object');
  const shell = Metadata.fromJSON(MetadataKind.Snapshot, {
    ...json,
    signed: { ...rest, meta: {} },
  });
  const meta: Record<string, MetaFile> = {};
  for (const [path, file] of Object.entries(rawMeta)) meta[path] = MetaFile.fromJSON(file as never);
  const base = {
    version: shell.signed.version,
    specVersion: shell.signed.specVersion,
    expires: shell.signed.expires,
  };
  const signed = new Snapshot({
    ...base,
    meta,
    unrecognizedFields: shell.signed.unrecognizedFields,
  });
  const asReceived = new Snapshot({ ...base, meta: {} });
  Object.defineProperty(asReceived, 'toJSON', { value: () => received });
  return {
    md: new Metadata(signed, shell.signatures, shell.unrecognizedFields),
    asReceived: new Metadata(asReceived, shell.signatures, shell.unrecognizedFields),
  };
}

/** The index of the newest root whose `role` keys (threshold) signed `md`, or -1. */
export function newestSigningRoot(
  roots: readonly Metadata<Root>[],
  role: MetadataKind.Targets | MetadataKind.Snapshot | MetadataKind.Timestamp,
  md: Metadata<Targets> | Metadata<Snapshot> | Metadata<Timestamp>,
): number {
  for (let i = roots.length - 1; i >= 0; i--) {
    try {
      roots[i]!.verifyDelegate(role, md);
      return i;
    } catch {
      // keys of another root version may have signed it
    }
  }
  return -1;
}

/** The hardware IDs a delegated role may sign firmware for: null means unrestricted. */
function scopeOf(role: DelegatedRole, parent: readonly string[] | null): string[] | null {
  const field = role.unrecognizedFields?.[HARDWARE_IDS_FIELD];
  let own: string[] | null = null;
  if (Array.isArray(field)) own = field.filter((h): h is string => typeof h === 'string');
  else if (role.name.startsWith(SUPPLIER_ROLE_PREFIX)) own = [];
  if (own === null) return parent ? [...parent] : null;
  return parent === null ? own : own.filter((h) => parent.includes(h));
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>) {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

type Fetched = { bytes: Uint8Array } | { error: unknown };

/**
 * Replays the served metadata history against the chain (repository layout v2, and the flat
 * layout's history before the first logged snapshot):
 * - every served snapshot is signed by snapshot keys of a trusted root and logged with its exact
 *   hash; every chain entry is served;
 * - each snapshot's delegation tree is walked: every targets role at the version it pins verifies
 *   against its delegator (`Metadata.verifyDelegate`), claims that version, and lists only paths
 *   delegated to it; supplier roles list only firmware for their hardware IDs;
 * - firmware first listed in snapshot N is in chain entry N, and every logged firmware is served.
 * Each role version is fetched and parsed once; a role is re-verified only when it or its
 * delegator changed.
 */
export async function auditMetadataHistory(input: MetadataHistoryInput): Promise<void> {
  const { source, roots, findings, stats } = input;
  const byVersion = new Map<number, LoggedRelease>();
  for (const r of input.releases) byVersion.set(r.metadataVersion, r);

  const served = [...new Set(await source.snapshotVersions())].sort((a, b) => a - b);
  stats.snapshotVersionsServed = served.length;
  const servedSet = new Set(served);
  const last = served[served.length - 1] ?? 0;
  for (let v = 1; v <= last; v++) {
    if (!servedSet.has(v))
      findings.warn(
        'SNAPSHOT_VERSION_MISSING',
        `snapshot version ${v} is not served`,
        `snapshot:${v}`,
      );
  }

  // Snapshots are small: hash them all first to find where logging snapshots began.
  const snapshotBytes = new Map<number, { bytes: Uint8Array; hash: string }>();
  const fetched = await mapLimit(served, FETCH_CONCURRENCY, async (v) =>
    source.metadata('snapshot', v).then(
      (bytes): Fetched => ({ bytes }),
      (error: unknown): Fetched => ({ error }),
    ),
  );
  for (const [i, v] of served.entries()) {
    const f = fetched[i]!;
    if ('error' in f) {
      findings.error(
        'AUDIT_SOURCE_UNAVAILABLE',
        `snapshot ${v}: ${errorMessage(f.error)}`,
        `snapshot:${v}`,
      );
    } else {
      snapshotBytes.set(v, { bytes: f.bytes, hash: sha256Hex(f.bytes) });
    }
  }
  const snapshotHashes = new Map([...snapshotBytes].map(([v, { hash }]) => [v, hash]));
  let firstLoggedSnapshot = Infinity;
  for (const [v, { hash }] of snapshotBytes) {
    if (byVersion.get(v)?.metadataHash === hash) {
      firstLoggedSnapshot = Math.min(firstLoggedSnapshot, v);
    }
  }

  const hwHashes = new Map<string, string>();
  const hwHash = (hw: string) => {
    let h = hwHashes.get(hw);
    if (!h) hwHashes.set(hw, (h = hardwareIdHash(hw).toLowerCase()));
    return h;
  };

  const roles = new Map<string, RoleState>();
  /** `delegator@version>role@version` -> verified. */
  const checked = new Map<string, boolean>();
  const seenFirmware = new Set<string>();
  const seenDigests = new Set<string>();
  const accounted = new Set<number>();
  /** Snapshot versions a chain entry covers (their own, or a flat-layout targets entry). */
  const covered = new Set<number>();
  const reportedLegacyTargets = new Set<number>();
  const checkedLegacyEntries = new Set<number>();
  const undelegatedReported = new Set<string>();
  const reported = new Set<string>();
  /** True the first time a finding key is seen (a role version is re-checked when others change). */
  const once = (key: string) => !reported.has(key) && Boolean(reported.add(key));
  let newestSnapshotRoot = 0;
  let newestTargetsRoot = 0;
  let previousPins = new Map<string, number>();

  async function loadRoles(wanted: [string, number][], subject: string): Promise<void> {
    const missing = wanted.filter(([role, v]) => roles.get(role)?.version !== v);
    const bytes = await mapLimit(missing, FETCH_CONCURRENCY, ([role, v]) =>
      source.metadata(role, v).then(
        (b): Fetched => ({ bytes: b }),
        (error: unknown): Fetched => ({ error }),
      ),
    );
    for (const [i, [role, version]] of missing.entries()) {
      const f = bytes[i]!;
      const state: RoleState = {
        version,
        sha256: '',
        length: 0,
        md: null,
        asReceived: null,
        firmware: [],
        unreachable: new Set(),
      };
      roles.set(role, state);
      if ('error' in f) {
        findings.error(
          'AUDIT_SOURCE_UNAVAILABLE',
          `${role} ${version}: ${errorMessage(f.error)}`,
          subject,
        );
        continue;
      }
      state.sha256 = sha256Hex(f.bytes);
      state.length = f.bytes.byteLength;
      try {
        ({ md: state.md, asReceived: state.asReceived } = parseTargets(parseJson(f.bytes)));
      } catch (err) {
        findings.error(
          'TARGETS_MALFORMED',
          `${role} ${version}: ${errorMessage(err)}`,
          `${role}:${version}`,
        );
        continue;
      }
      stats.roleVersionsParsed = (stats.roleVersionsParsed ?? 0) + 1;
      if (state.md.signed.version !== version) {
        findings.error(
          'TARGETS_VERSION_MISMATCH',
          `file ${version}.${role}.json claims version ${state.md.signed.version}`,
          `${role}:${version}`,
        );
      }
      state.firmware = firmwareTargets(role, state.md.signed);
    }
  }

  for (const version of served) {
    const snap = snapshotBytes.get(version);
    if (!snap) continue;
    snapshotBytes.delete(version);
    const subject = `snapshot:${version}`;
    // Served with the logged bytes: whatever else is wrong with it, that entry is served.
    if (byVersion.get(version)?.metadataHash === snap.hash) accounted.add(version);
    let snapshot: Metadata<Snapshot>;
    let snapshotAsReceived: Metadata<Snapshot>;
    try {
      ({ md: snapshot, asReceived: snapshotAsReceived } = parseSnapshot(parseJson(snap.bytes)));
    } catch (err) {
      findings.error('SNAPSHOT_MALFORMED', `snapshot ${version}: ${errorMessage(err)}`, subject);
      continue;
    }
    if (snapshot.signed.version !== version) {
      findings.error(
        'SNAPSHOT_VERSION_MISMATCH',
        `file ${version}.snapshot.json claims version ${snapshot.signed.version}`,
        subject,
      );
    }
    if (roots.length > 0) {
      const signer = newestSigningRoot(roots, MetadataKind.Snapshot, snapshotAsReceived);
      if (signer < 0) {
        findings.error(
          'SNAPSHOT_SIGNATURE_INVALID',
          `snapshot ${version} is not signed by a threshold of snapshot keys of any trusted root`,
          subject,
        );
      } else {
        stats.snapshotsVerified = (stats.snapshotsVerified ?? 0) + 1;
        if (signer < newestSnapshotRoot) {
          findings.error(
            'SNAPSHOT_SIGNED_BY_ROTATED_KEYS',
            `snapshot ${version} is signed only by keys of root ${roots[signer]!.signed.version}, after root ${roots[newestSnapshotRoot]!.signed.version} keys were in use`,
            subject,
          );
        }
        newestSnapshotRoot = Math.max(newestSnapshotRoot, signer);
      }
    }

    const pins = new Map<string, number>();
    for (const [file, meta] of Object.entries(snapshot.signed.meta)) {
      pins.set(file.replace(/\.json$/, ''), meta.version);
    }
    for (const [role, before] of previousPins) {
      const now = pins.get(role);
      if (now !== undefined && now < before) {
        findings.error(
          'ROLE_VERSION_DECREASED',
          `snapshot ${version} pins ${role} ${now}, an earlier snapshot pinned ${before}`,
          subject,
        );
      }
    }
    previousPins = pins;
    await loadRoles([...pins], subject);
    for (const [file, meta] of Object.entries(snapshot.signed.meta)) {
      const state = roles.get(file.replace(/\.json$/, ''));
      if (!state?.md) continue;
      const wantSha = meta.hashes?.sha256;
      if (
        (meta.length !== undefined && meta.length !== state.length) ||
        (wantSha !== undefined && (!isHash32(wantSha) || normalizeHash32(wantSha) !== state.sha256))
      ) {
        findings.error(
          'SNAPSHOT_META_MISMATCH',
          `${file} ${meta.version} does not match the length or hash snapshot ${version} gives`,
          subject,
        );
      }
    }

    // Walk the delegation tree from top-level targets, as a TUF client would trust it.
    const trusted = new Map<string, RoleState>();
    const recheck: { role: string; state: RoleState; scope: string[] | null }[] = [];
    const scopes = new Map<string, string[] | null>();
    /** False once a role failed to load or verify: its subtree is unknown. */
    let complete = true;
    const visit = (
      role: string,
      parent: { name: string; state: RoleState } | null,
      scope: string[] | null,
    ) => {
      if (trusted.has(role)) return;
      const pinned = pins.get(role);
      if (pinned === undefined) {
        if (once(`not-in-snapshot:${parent?.name}@${parent?.state.version}>${role}`))
          findings.error(
            'ROLE_NOT_IN_SNAPSHOT',
            `${role} is delegated by ${parent?.name ?? 'root'} but snapshot ${version} does not list it`,
            subject,
          );
        return;
      }
      const state = roles.get(role);
      if (!state?.md) {
        complete = false;
        return;
      }
      const key = `${parent ? `${parent.name}@${parent.state.version}#${parent.state.sha256}` : 'root'}>${role}@${pinned}#${state.sha256}`;
      let valid = checked.get(key);
      if (valid === undefined) {
        if (parent) {
          try {
            parent.state.md!.verifyDelegate(role, state.asReceived!);
            valid = true;
          } catch (err) {
            valid = false;
            findings.error(
              'DELEGATE_SIGNATURE_INVALID',
              `${role} ${pinned} does not verify against ${parent.name} ${parent.state.version}: ${errorMessage(err)}`,
              `${role}:${pinned}`,
            );
          }
        } else {
          const signer =
            roots.length > 0
              ? newestSigningRoot(roots, MetadataKind.Targets, state.asReceived!)
              : 0;
          valid = signer >= 0;
          if (!valid) {
            findings.error(
              'TARGETS_SIGNATURE_INVALID',
              `targets ${pinned} is not signed by a threshold of targets keys of any trusted root`,
              `targets:${pinned}`,
            );
          } else if (signer < newestTargetsRoot) {
            // Published after a version the newer keys signed, yet signed only by keys a rotation removed.
            findings.error(
              'TARGETS_SIGNED_BY_ROTATED_KEYS',
              `targets ${pinned} is signed only by keys of root ${roots[signer]!.signed.version}, after root ${roots[newestTargetsRoot]!.signed.version} keys were in use`,
              `targets:${pinned}`,
            );
          }
          if (valid) newestTargetsRoot = Math.max(newestTargetsRoot, signer);
        }
        checked.set(key, valid);
        if (valid) {
          stats.roleVersionsVerified = (stats.roleVersionsVerified ?? 0) + 1;
          recheck.push({ role, state, scope });
        }
      }
      if (!valid) {
        complete = false;
        return;
      }
      trusted.set(role, state);
      scopes.set(role, scope);
      const delegations = state.md.signed.delegations;
      if (!delegations) return;
      const self = { name: role, state };
      for (const child of Object.values(delegations.roles ?? {})) {
        visit(child.name, self, scopeOf(child, scope));
      }
      if (delegations.succinctRoles) {
        for (const bin of delegations.succinctRoles.getRoles()) visit(bin, self, scope);
      }
    };
    visit('targets', null, null);
    for (const role of complete ? pins.keys() : []) {
      const key = `${role}@${pins.get(role)}`;
      if (role !== 'targets' && !trusted.has(role) && !undelegatedReported.has(key)) {
        undelegatedReported.add(key);
        findings.warn(
          'ROLE_NOT_DELEGATED',
          `snapshot ${version} lists ${role}, which no trusted role delegates to`,
          subject,
        );
      }
    }

    /** The target a TUF client resolves for `path` in this snapshot (pre-order, terminating stops). */
    const resolve = (path: string): { role: string; file: TargetFile } | undefined => {
      let budget = MAX_DELEGATIONS;
      let stop = false;
      const seen = new Set<string>();
      const search = (role: string): { role: string; file: TargetFile } | undefined => {
        const md = trusted.get(role)?.md;
        if (!md || seen.has(role) || budget-- <= 0) return undefined;
        seen.add(role);
        if (Object.hasOwn(md.signed.targets, path)) return { role, file: md.signed.targets[path]! };
        for (const child of md.signed.delegations?.rolesForTarget(path) ?? []) {
          const found = search(child.role);
          if (found || stop) return found;
          if (child.terminating) {
            stop = true;
            return undefined;
          }
        }
        return undefined;
      };
      return search('targets');
    };

    const newFirmware: { fw: FirmwareTarget; hardwareId: string }[] = [];
    const newDigests: FirmwareTarget[] = [];
    // A new top-level targets can re-route paths (a new supplier shadows bins): check every role.
    if (recheck.some((r) => r.role === 'targets')) {
      const queued = new Set(recheck.map((r) => r.role));
      for (const [role, state] of trusted) {
        if (!queued.has(role)) recheck.push({ role, state, scope: scopes.get(role) ?? null });
      }
    }
    for (const { role, state, scope } of recheck) {
      const unreachable = new Set<string>();
      state.unreachable = unreachable;
      for (const path of Object.keys(state.md!.signed.targets)) {
        if (resolve(path)?.role !== role) {
          unreachable.add(path);
          if (once(`${role}@${state.version}:${path}`))
            findings.error(
              'TARGET_PATH_NOT_DELEGATED',
              `${role} ${state.version} lists ${path}, a path no TUF client resolves to ${role}`,
              `${role}:${state.version}`,
            );
        }
      }
      for (const fw of state.firmware) {
        if (unreachable.has(fw.name)) continue;
        const foreign = scope === null ? [] : fw.hardwareIds.filter((h) => !scope.includes(h));
        if (foreign.length > 0 && once(`${role}@${state.version}:${fw.name}:hw`)) {
          findings.error(
            'HARDWARE_ID_NOT_DELEGATED',
            `${role} ${state.version} lists ${fw.name} for hardware ID(s) ${foreign.join(', ')} it is not delegated (${scope!.join(', ') || 'none'})`,
            `${role}:${state.version}`,
          );
        }
        for (const hardwareId of fw.hardwareIds) {
          const key = `${fw.sha256}|${hardwareId}`;
          if (seenFirmware.has(key)) continue;
          seenFirmware.add(key);
          newFirmware.push({ fw, hardwareId });
        }
        if (!seenDigests.has(fw.sha256)) {
          seenDigests.add(fw.sha256);
          newDigests.push(fw);
        }
      }
    }
    stats.firmwareTargets = seenDigests.size;

    // Which chain entry covers this snapshot: its own (v2), or before the first logged snapshot, a
    // flat-layout entry that logged the top-level targets it pins.
    let entry: LoggedRelease | undefined;
    let legacy = false;
    const own = byVersion.get(version);
    const flat = pins.size === 1 && pins.has('targets');
    if (own?.metadataHash === snap.hash) {
      entry = own;
      accounted.add(version);
    } else if (flat && version < firstLoggedSnapshot) {
      const targetsVersion = pins.get('targets')!;
      const targets = roles.get('targets');
      const logged = byVersion.get(targetsVersion);
      if (logged && targets?.md && logged.metadataHash === targets.sha256) {
        entry = logged;
        legacy = true;
        accounted.add(targetsVersion);
      } else if (!reportedLegacyTargets.has(targetsVersion)) {
        reportedLegacyTargets.add(targetsVersion);
        if (logged) accounted.add(targetsVersion);
        findings.error(
          logged ? 'METADATA_HASH_MISMATCH' : 'METADATA_NOT_LOGGED',
          logged
            ? `served targets ${targetsVersion} hashes to ${targets?.sha256}, chain logged ${logged.metadataHash}`
            : `targets version ${targetsVersion} (flat layout, snapshot ${version}) was served but never logged`,
          `targets:${targetsVersion}`,
        );
      }
    } else if (own) {
      accounted.add(version);
      findings.error(
        'METADATA_HASH_MISMATCH',
        `served snapshot ${version} hashes to ${snap.hash}, chain logged ${own.metadataHash}`,
        subject,
      );
    } else {
      findings.error(
        'METADATA_NOT_LOGGED',
        `snapshot version ${version} (${snap.hash}) was served but never logged`,
        subject,
      );
    }

    if (entry) {
      covered.add(version);
      const entrySubject = legacy ? `targets:${entry.metadataVersion}` : subject;
      const logged = new Map<string, { version: number }>();
      const loggedDigests = new Set<string>();
      for (const f of entry.firmware) {
        logged.set(`${f.digest}|${f.hardwareIdHash}`, f);
        loggedDigests.add(f.digest);
      }
      for (const { fw, hardwareId } of newFirmware) {
        const hit = logged.get(`${fw.sha256}|${hwHash(hardwareId)}`);
        if (!hit) {
          findings.error(
            loggedDigests.has(fw.sha256) ? 'FIRMWARE_HARDWARE_MISMATCH' : 'FIRMWARE_NOT_LOGGED',
            loggedDigests.has(fw.sha256)
              ? `${fw.name}: hardware ID ${hardwareId} is not in the chain entry`
              : `${fw.name} (${fw.sha256}, ${hardwareId}) first listed by ${fw.role} in snapshot ${version} is not in its chain entry`,
            entrySubject,
          );
        } else if (fw.releaseCounter !== undefined && fw.releaseCounter !== hit.version) {
          findings.error(
            'FIRMWARE_VERSION_MISMATCH',
            `${fw.name}: releaseCounter ${fw.releaseCounter}, chain logged ${hit.version}`,
            entrySubject,
          );
        }
      }
      if (!legacy || !checkedLegacyEntries.has(entry.metadataVersion)) {
        checkedLegacyEntries.add(entry.metadataVersion);
        let visible: Set<string> | undefined;
        const added = new Set(newFirmware.map((n) => `${n.fw.sha256}|${hwHash(n.hardwareId)}`));
        for (const f of entry.firmware) {
          const key = `${f.digest}|${f.hardwareIdHash}`;
          if (added.has(key)) continue;
          visible ??= visibleFirmware(trusted, hwHash);
          if (!visible.has(key)) {
            findings.error(
              'LOGGED_FIRMWARE_NOT_SERVED',
              `chain entry ${entry.metadataVersion} logs ${f.digest} for hardware ${f.hardwareIdHash}, which snapshot ${version} does not list`,
              entrySubject,
            );
          }
        }
      }
    }

    if (input.onNewFirmware) {
      for (const fw of newDigests) {
        const bundle = fw.attestation === undefined ? undefined : resolve(fw.attestation);
        const sha256 = bundle?.file.hashes.sha256;
        await input.onNewFirmware(
          fw,
          bundle && sha256 && isHash32(sha256) ? { name: fw.attestation!, sha256 } : undefined,
          subject,
        );
      }
    }
  }

  if (source.timestamp) {
    await auditTimestamp(input, snapshotHashes, (v) => covered.has(v));
  }

  for (const r of input.releases) {
    if (!accounted.has(r.metadataVersion)) {
      findings.error(
        'RELEASE_NOT_SERVED',
        `chain entry ${r.metadataVersion} (${r.metadataHash}) matches no served snapshot`,
        `snapshot:${r.metadataVersion}`,
      );
    }
  }
}

/** `digest|keccak(hardwareId)` of every firmware target the trusted roles list. */
function visibleFirmware(
  trusted: ReadonlyMap<string, RoleState>,
  hwHash: (hw: string) => string,
): Set<string> {
  const out = new Set<string>();
  for (const state of trusted.values()) {
    for (const fw of state.firmware) {
      if (state.unreachable.has(fw.name)) continue;
      for (const hw of fw.hardwareIds) out.add(`${fw.sha256}|${hwHash(hw)}`);
    }
  }
  return out;
}
