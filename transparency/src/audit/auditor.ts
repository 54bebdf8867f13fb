import { Metadata, MetadataKind, type Root } from '@tufjs/models';
import { verifyFirmwareAttestation } from '@tufchain/keys';
import { hardwareIdHash } from '@tufchain/contracts';
import type {
  AnchoredCheckpoint,
  LoggedRelease,
  MinimumVersionEvent,
  RecallEvent,
} from '../chain/types.js';
import type { NoteVerifier } from '../note/signed-note.js';
import { auditLog } from './log-audit.js';
import {
  auditDirector,
  type DirectorAuditSummary,
  type DirectorInstall,
  type DirectorServedVersion,
  type DirectorVehicleRecord,
  type LoggedDirectorTargets,
} from './director.js';
import { checkInstallCertificate, loadVehicleRevocations } from './revocation.js';
import type { LogAuditSource } from './log-source.js';
import { sha256Hex, normalizeHash32, isHash32, plainHex } from '../util/hex.js';
import { FIRMWARE_PREDICATE_TYPE } from '../wire/firmware.js';
import { errorMessage, Findings, parseJson } from './findings.js';
import { auditMetadataHistory } from './metadata-history.js';
import type { FirmwareTarget } from './metadata-history/model.js';
import type { AuditFinding, AuditReport, AuditSource } from './source.js';
import { auditCampaigns, campaignSnapshots } from './campaigns.js';
import { peekStatement, verifyInstallBundle, type VerifiedInstall } from './install-bundle.js';
import type { CampaignLogEntry } from '../wire/campaign.js';

export { peekStatement, verifyInstallBundle, type VerifiedInstall } from './install-bundle.js';

/** What the auditor needs from the chain; ChainReader provides it. */
export interface AuditChain {
  releases(): Promise<LoggedRelease[]>;
  isRecalled?(digestOrMetadataHash: string): Promise<boolean>;
  recalls?(): Promise<RecallEvent[]>;
  minimumVersions?(): Promise<MinimumVersionEvent[]>;
  anchors?(): Promise<AnchoredCheckpoint[]>;
}

export interface AuditOptions {
  chain: AuditChain;
  source: AuditSource;
  /** The root the auditor trusts on first use (normally 1.root.json), as JSON. */
  trustedRoot: unknown;
  vehicleCaPem?: string;
  /** A missing vehicle CRL is an error (default: revocation is checked when the source serves one). */
  requireRevocationList?: boolean;
  /**
   * The OEM build key: every firmware target's Sigstore bundle (supplier firmware included, as the
   * agent checks it) must verify with it. Without it, or without `source.targetFile`, bundles are
   * not checked.
   */
  firmwareKey?: { publicKeyPem: string; keyId: string };
  /** The transparency log to replay, and the keys its checkpoints must be signed by. */
  log?: { source: LogAuditSource; verifiers: readonly NoteVerifier[]; origin?: string };
}

export interface AuditResult extends AuditReport {
  installs: VerifiedInstall[];
  /**
   * The Director checks, when the server runs a Director: whether they ran against the log, and
   * how ECUs were matched (`ecuMatch: 'name-and-sha256'` without an OEM token's openings).
   */
  director?: DirectorAuditSummary & {
    /** The vehicles' Director data the audit read, for audit packs. */
    served: DirectorServedVersion[];
    logged: Map<number, LoggedDirectorTargets>;
    vehicles: Map<string, DirectorVehicleRecord>;
  };
  releases: LoggedRelease[];
  /** Verified checkpoint notes by tree size (when the log was audited). */
  checkpoints: Map<number, string>;
}

/** Follows root rotations from the trusted root; each new root must be signed by old and new thresholds. */
async function loadRootChain(
  source: AuditSource,
  trustedRoot: unknown,
  findings: Findings,
): Promise<Metadata<Root>[]> {
  let current: Metadata<Root>;
  try {
    current = Metadata.fromJSON(MetadataKind.Root, trustedRoot as never);
    current.verifyDelegate(MetadataKind.Root, current);
  } catch (err) {
    findings.error(
      'TRUSTED_ROOT_INVALID',
      `the trusted root does not verify: ${errorMessage(err)}`,
    );
    return [];
  }
  const chain = [current];
  for (
    let version = current.signed.version + 1;
    version < current.signed.version + 10_000;
    version++
  ) {
    let bytes: Uint8Array | null;
    try {
      bytes = await source.rootMetadata(version);
    } catch (err) {
      findings.error(
        'AUDIT_SOURCE_UNAVAILABLE',
        `root ${version}: ${errorMessage(err)}`,
        `root:${version}`,
      );
      break;
    }
    if (!bytes) break;
    try {
      const next = Metadata.fromJSON(MetadataKind.Root, parseJson(bytes) as never);
      if (next.signed.version !== version) throw new Error(`claims version ${next.signed.version}`);
      current.verifyDelegate(MetadataKind.Root, next);
      next.verifyDelegate(MetadataKind.Root, next);
      chain.push(next);
      current = next;
    } catch (err) {
      findings.error(
        'ROOT_ROTATION_INVALID',
        `root ${version} does not verify: ${errorMessage(err)}`,
        `root:${version}`,
      );
      break;
    }
  }
  return chain;
}

/**
 * Re-verifies the whole history: every chain entry against the served snapshot it logs (hash,
 * version, TUF signatures by keys of a root in the verified root chain), every served snapshot
 * against the chain, each snapshot's delegation tree (`auditMetadataHistory`), and every
 * attestation against the vehicle CA and the logged firmware digests and metadata hashes.
 */
export async function auditRepository(opts: AuditOptions): Promise<AuditResult> {
  const findings = new Findings();
  const stats: Record<string, number> = {
    releasesLogged: 0,
    snapshotVersionsServed: 0,
    snapshotsVerified: 0,
    roleVersionsVerified: 0,
    firmwareTargets: 0,
    rootVersions: 0,
    attestations: 0,
    installsVerified: 0,
    firmwareAttestationsVerified: 0,
    vehicles: 0,
  };

  const releases = await opts.chain.releases();
  stats.releasesLogged = releases.length;
  const loggedMetadataHashes = new Set<string>();
  const loggedFirmware = new Map<string, LoggedRelease>();
  for (const r of releases) {
    loggedMetadataHashes.add(r.metadataHash);
    for (const f of r.firmware) if (!loggedFirmware.has(f.digest)) loggedFirmware.set(f.digest, r);
  }

  const roots = await loadRootChain(opts.source, opts.trustedRoot, findings);
  stats.rootVersions = roots.length;

  /** The firmware's Sigstore bundle, as TUF serves it, must verify with the OEM build key. */
  const checkFirmwareAttestation = async (
    fw: FirmwareTarget,
    bundle: { name: string; sha256: string } | undefined,
    subject: string,
  ): Promise<void> => {
    const targetFile = opts.source.targetFile?.bind(opts.source);
    if (!opts.firmwareKey || !targetFile) return;
    if (!bundle) {
      findings.error(
        'FIRMWARE_ATTESTATION_MISSING',
        `${fw.name} names no Sigstore bundle among its targets`,
        subject,
      );
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = await targetFile(bundle.name, bundle.sha256);
    } catch (err) {
      findings.error('AUDIT_SOURCE_UNAVAILABLE', `${bundle.name}: ${errorMessage(err)}`, subject);
      return;
    }
    if (sha256Hex(bytes) !== normalizeHash32(bundle.sha256)) {
      findings.error(
        'FIRMWARE_ATTESTATION_MISMATCH',
        `${bundle.name} served does not match its TUF hash`,
        subject,
      );
      return;
    }
    try {
      await verifyFirmwareAttestation(parseJson(bytes), opts.firmwareKey, {
        sha256: plainHex(fw.sha256),
        name: fw.name,
      });
      stats.firmwareAttestationsVerified = (stats.firmwareAttestationsVerified ?? 0) + 1;
    } catch (err) {
      findings.error(
        'FIRMWARE_ATTESTATION_INVALID',
        `${fw.name}: its Sigstore bundle does not verify with the firmware key (${errorMessage(err)})`,
        subject,
      );
    }
  };
  await auditMetadataHistory({
    source: opts.source,
    roots,
    releases,
    findings,
    stats,
    onNewFirmware: checkFirmwareAttestation,
  });

  const recalls = opts.chain.recalls ? await opts.chain.recalls() : undefined;
  const recalledAt = new Map<string, number>();
  for (const r of recalls ?? [])
    if (!recalledAt.has(r.subject)) recalledAt.set(r.subject, r.blockNumber);
  const floors = opts.chain.minimumVersions ? await opts.chain.minimumVersions() : [];
  const checkRecallAndFloor = async (install: VerifiedInstall, subject: string): Promise<void> => {
    const p = install.predicate;
    const seenAt = p.checkpoint.blockNumber;
    const subjects: [string, string][] = [[install.subjectDigest, 'firmware']];
    if (isHash32(p.metadata.targetsHash))
      subjects.push([normalizeHash32(p.metadata.targetsHash), 'metadata']);
    for (const [hash, what] of subjects) {
      let at: number | undefined;
      if (recalls) at = recalledAt.get(hash);
      else if (opts.chain.isRecalled && (await opts.chain.isRecalled(hash))) at = 0;
      if (at === undefined) continue;
      if (seenAt >= at) {
        findings.error(
          what === 'firmware' ? 'RECALLED_FIRMWARE_INSTALLED' : 'RECALLED_METADATA_INSTALLED',
          `vehicle ${p.vehicle.commitment} installed ${what} ${hash} recalled at block ${at}; its trusted block was ${seenAt}`,
          subject,
        );
      } else {
        findings.warn(
          'INSTALLED_BEFORE_RECALL',
          `vehicle ${p.vehicle.commitment} installed ${what} ${hash} before its recall at block ${at}`,
          subject,
        );
      }
    }
    const hw = hardwareIdHash(p.ecu.hardwareId).toLowerCase();
    const floor = floors.filter((f) => f.hardwareIdHash === hw && f.blockNumber <= seenAt).pop();
    if (floor && p.to.releaseCounter < floor.version) {
      findings.error(
        'INSTALL_BELOW_MINIMUM_VERSION',
        `vehicle ${p.vehicle.commitment} installed release ${p.to.releaseCounter} of ${p.ecu.hardwareId}, below the on-chain minimum ${floor.version} of block ${floor.blockNumber}`,
        subject,
      );
    }
  };

  const installs: VerifiedInstall[] = [];
  const installSubjects: string[] = [];
  const report = (f: AuditFinding) => findings.list.push(f);
  const revocations = opts.vehicleCaPem
    ? await loadVehicleRevocations(opts.source, opts.vehicleCaPem, report, {
        required: opts.requireRevocationList ?? false,
      })
    : undefined;
  if (revocations) stats.revocationListNumber = revocations.crlNumber ?? 0;
  const bundles = await opts.source.attestations();
  stats.attestations = bundles.length;
  for (const [i, bundle] of bundles.entries()) {
    const subject = `attestation:${i}`;
    const peeked = peekStatement(bundle);
    const type = peeked?.predicateType;
    if (type === FIRMWARE_PREDICATE_TYPE) {
      if (!opts.firmwareKey) {
        findings.warn(
          'FIRMWARE_KEY_MISSING',
          'a firmware attestation was skipped: no firmware key given',
          subject,
        );
        continue;
      }
      const claimed = (bundle as never as { dsseEnvelope: { payload: string } }).dsseEnvelope
        .payload;
      const stmt = JSON.parse(Buffer.from(claimed, 'base64').toString('utf8')) as {
        subject?: { digest?: { sha256?: string } }[];
      };
      const sha = stmt.subject?.[0]?.digest?.sha256 ?? '';
      try {
        await verifyFirmwareAttestation(bundle, opts.firmwareKey, { sha256: plainHex(sha) });
        stats.firmwareAttestationsVerified = (stats.firmwareAttestationsVerified ?? 0) + 1;
        if (!isHash32(sha) || !loggedFirmware.has(normalizeHash32(sha))) {
          findings.error(
            'ATTESTED_FIRMWARE_NOT_LOGGED',
            `firmware ${sha} is attested but never logged`,
            subject,
          );
        }
      } catch (err) {
        findings.error(
          'ATTESTATION_SIGNATURE_INVALID',
          `firmware attestation does not verify: ${errorMessage(err)}`,
          subject,
        );
      }
      continue;
    }
    if (!opts.vehicleCaPem) {
      findings.warn(
        'VEHICLE_CA_MISSING',
        'an install attestation was skipped: no vehicle CA given',
        subject,
      );
      continue;
    }
    const install = await verifyInstallBundle(
      bundle,
      opts.vehicleCaPem,
      (c, m, s) => findings.error(c, m, s),
      subject,
    );
    if (!install) continue;
    stats.installsVerified = (stats.installsVerified ?? 0) + 1;
    installs.push(install);
    installSubjects.push(subject);
    const standing = checkInstallCertificate(install, revocations, report, subject);
    if (standing === 'REVOKED') stats.fromRevokedVehicles = (stats.fromRevokedVehicles ?? 0) + 1;
    const p = install.predicate;
    if (!loggedFirmware.has(install.subjectDigest)) {
      findings.error(
        'INSTALLED_DIGEST_NOT_LOGGED',
        `vehicle ${p.vehicle.commitment} installed ${install.subjectDigest}, never logged`,
        subject,
      );
    }
    if (
      !isHash32(p.metadata.targetsHash) ||
      !loggedMetadataHashes.has(normalizeHash32(p.metadata.targetsHash))
    ) {
      findings.error(
        'INSTALL_METADATA_NOT_LOGGED',
        `install refers to metadata (the snapshot the vehicle trusted) that was never logged`,
        subject,
      );
    }
    if (p.result === 'SUCCESS') {
      await checkRecallAndFloor(install, subject);
    }
  }

  let checkpoints = new Map<number, string>();
  let directorTargets: Map<number, LoggedDirectorTargets> | undefined;
  let campaignEntries: CampaignLogEntry[] = [];
  if (opts.log) {
    const anchors = opts.chain.anchors ? await opts.chain.anchors() : [];
    const out = await auditLog({
      source: opts.log.source,
      verifiers: opts.log.verifiers,
      ...(opts.log.origin === undefined ? {} : { origin: opts.log.origin }),
      anchors,
      releases,
      attestations: installs.map((i) => i.bundle),
      report: (f) => findings.list.push(f),
    });
    checkpoints = out.checkpoints;
    directorTargets = out.directorTargets;
    campaignEntries = out.campaigns;
    stats.logEntries = out.size;
    stats.checkpointsVerified = out.checkpointsVerified;
    stats.anchorsVerified = out.anchorsVerified;
    installs.forEach((inst, i) => {
      const index = out.attestationIndexes[i];
      if (index === undefined) {
        findings.error(
          'ATTESTATION_NOT_IN_LOG',
          `install by ${inst.predicate.vehicle.commitment} is not in the transparency log`,
          `vehicle:${plainHex(inst.predicate.vehicle.commitment)}`,
        );
      } else {
        inst.logIndex = index;
      }
    });
  }

  let director: AuditResult['director'];
  const served = opts.source.directorTargets ? await opts.source.directorTargets() : null;
  if (served !== null || installs.some((i) => i.predicate.director)) {
    const vehicles = new Map<string, DirectorVehicleRecord>();
    if (opts.source.directorVehicle) {
      const commitments = new Set([
        ...(served ?? []).map((s) => s.vehicle),
        ...installs.map((i) => plainHex(i.predicate.vehicle.commitment)),
      ]);
      for (const c of commitments) vehicles.set(c, await opts.source.directorVehicle(c));
    }
    const logged = directorTargets;
    const summary = auditDirector({
      served: served ?? undefined,
      logged,
      installs: installs.map((inst, i) => directorInstall(inst, installSubjects[i]!)),
      vehicles: opts.source.directorVehicle ? vehicles : undefined,
      report: (f) => findings.list.push(f),
    });
    Object.assign(stats, summary.stats);
    director = {
      ...summary,
      served: served ?? [],
      logged: logged ?? new Map<number, LoggedDirectorTargets>(),
      vehicles,
    };
  }

  // Where the OEM runs campaigns, every install must be covered by a campaign or single assignment.
  if (campaignEntries.length > 0) {
    const snapshots = await campaignSnapshots(opts.source, campaignEntries);
    const summary = auditCampaigns({
      entries: campaignEntries,
      ...(snapshots ? { snapshots } : {}),
      directorTargets: [...(directorTargets?.values() ?? [])],
      installs: installs.map((inst, i) => ({
        subject: installSubjects[i]!,
        vehicle: plainHex(inst.predicate.vehicle.commitment),
        ...(inst.predicate.director ? { director: inst.predicate.director } : {}),
      })),
      report: (f) => findings.list.push(f),
    });
    Object.assign(stats, summary);
  }

  const byVehicle = groupInstallsByVehicle(installs);
  stats.vehicles = byVehicle.size;
  for (const [commitment, list] of byVehicle) {
    /** `ecu:counter` -> the signed content that used it first. */
    const counters = new Map<string, string>();
    for (const [i, inst] of list.entries()) {
      const cur = inst.predicate;
      const counterKey = `${cur.ecu.serial}:${cur.counter}`;
      const first = counters.get(counterKey);
      if (first === inst.signedContentDigest) {
        // The same signed report in another encoding: the server's doing, not the vehicle's.
        findings.warn(
          'ATTESTATION_DUPLICATED',
          `vehicle ${commitment}: the report of ECU ${cur.ecu.serial} with counter ${cur.counter} is listed more than once`,
          `vehicle:${commitment}`,
        );
        continue;
      }
      if (first !== undefined) {
        findings.error(
          'ATTESTATION_COUNTER_REUSED',
          `vehicle ${commitment}: ECU ${cur.ecu.serial} used report counter ${cur.counter} twice`,
          `vehicle:${commitment}`,
        );
      } else counters.set(counterKey, inst.signedContentDigest);
      const prev = list[i - 1]?.predicate;
      if (prev && cur.odometerKm < prev.odometerKm) {
        findings.error(
          'ODOMETER_DECREASED',
          `vehicle ${commitment}: odometer went from ${prev.odometerKm} km (${prev.finishedAt}) to ${cur.odometerKm} km (${cur.finishedAt})`,
          `vehicle:${commitment}`,
        );
      }
    }
  }

  return {
    findings: findings.list,
    stats,
    installs,
    releases,
    checkpoints,
    ...(director ? { director } : {}),
  };
}

/** What the Director checks need of a verified install. */
export function directorInstall(inst: VerifiedInstall, subject: string): DirectorInstall {
  const p = inst.predicate;
  return {
    subject,
    vehicle: plainHex(p.vehicle.commitment),
    certificateEcuSerial: inst.certificateEcuSerial,
    ecuSerial: p.ecu.serial,
    name: p.to.name,
    sha256: inst.subjectDigest,
    result: p.result,
    finishedAt: p.finishedAt,
    ...(p.director ? { director: p.director } : {}),
    ...(p.ecuResult ? { ecuResult: p.ecuResult } : {}),
  };
}

/** Installs per vehicle commitment, ordered by finish time, then report counter. */
export function groupInstallsByVehicle(
  installs: readonly VerifiedInstall[],
): Map<string, VerifiedInstall[]> {
  const out = new Map<string, VerifiedInstall[]>();
  for (const inst of installs) {
    const key = plainHex(inst.predicate.vehicle.commitment);
    const list = out.get(key) ?? [];
    list.push(inst);
    out.set(key, list);
  }
  for (const list of out.values()) {
    list.sort(
      (a, b) =>
        Date.parse(a.predicate.finishedAt) - Date.parse(b.predicate.finishedAt) ||
        a.predicate.counter - b.predicate.counter,
    );
  }
  return out;
}
