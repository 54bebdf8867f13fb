import { createHash } from 'node:crypto';
import { computeKeyId } from '@tufchain/keys';
import { z } from 'zod';
import {
  computeEcuCommitment,
  ecuRegistrationSchema,
  parseDirectorTargets,
  signedEcuVersionReportSchema,
  signedVehicleVersionManifestSchema,
  type EcuRegistration,
} from '../wire/director.js';
import { verifyEnvelope, type SignedEnvelope } from '../wire/uptane-envelope.js';
import type { AuditFindingCode } from './finding-code.js';
import { errorMessage } from './findings.js';
import type { AuditFinding } from './source.js';

// The Director in the audit trail (transparency/UPTANE.md): every served Director targets version
// is logged, every install made for a Director assignment matches a logged assignment, and every
// ECU report is signed by that ECU's registered key. Pure checks over data fetched beforehand.

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

/** One Director targets version the server says it served (public `/api/v1/audit/director-targets`). */
export const directorServedVersionSchema = z.object({
  vehicle: hex64,
  version: z.number().int().positive(),
  sha256: hex64,
  logIndex: z.number().int().nonnegative().nullable(),
});
export type DirectorServedVersion = z.infer<typeof directorServedVersionSchema>;

/**
 * A `director-targets` log entry as the auditor reads it: images name their ECU by the salted
 * commitment `ecu` (SPEC), or, in entries written before commitments, by `ecuSerial` in clear.
 */
export const loggedDirectorTargetsSchema = z.object({
  type: z.literal('director-targets'),
  vehicle: hex64,
  targetsVersion: z.number().int().positive(),
  targetsHash: hex64,
  correlationId: z.string().nullable(),
  images: z.array(
    z.object({
      ecu: hex64.optional(),
      ecuSerial: z.string().optional(),
      hardwareId: z.string(),
      name: z.string(),
      sha256: hex64,
      releaseCounter: z.number().int().nonnegative(),
    }),
  ),
});
export type LoggedDirectorTargets = z.infer<typeof loggedDirectorTargetsSchema>;

/** One targets version with its opening (OEM route `/api/v1/vehicles/{c}/director/targets`). */
export const directorVersionOpeningSchema = z.object({
  targetsVersion: z.number().int().positive(),
  targetsHash: hex64,
  logIndex: z.number().int().nonnegative().nullable(),
  ecuSalt: hex64.optional(),
  /** base64 of the exact signed targets.json bytes served. */
  metadata: z.string().optional(),
});
export type DirectorVersionOpening = z.infer<typeof directorVersionOpeningSchema>;

export const directorInventoryVersionSchema = z.object({
  version: z.number().int().positive(),
  registration: ecuRegistrationSchema,
  createdAt: z.string(),
});
export type DirectorInventoryVersion = z.infer<typeof directorInventoryVersionSchema>;

export const directorManifestRecordSchema = z.object({
  id: z.number().int(),
  receivedAt: z.string(),
  manifest: z.unknown(),
});
export type DirectorManifestRecord = z.infer<typeof directorManifestRecordSchema>;

/** What an OEM token opens about one vehicle; any part may be missing (older servers). */
export interface DirectorVehicleRecord {
  versions?: DirectorVersionOpening[];
  inventory?: DirectorInventoryVersion[];
  manifests?: DirectorManifestRecord[];
}

/** One verified install as the Director checks need it. */
export interface DirectorInstall {
  subject: string;
  vehicle: string;
  /** The ECU serial of the vehicle certificate that signed the report (the primary's). */
  certificateEcuSerial: string;
  ecuSerial: string;
  name: string;
  sha256: string;
  result: string;
  finishedAt: string;
  director?: { targetsVersion: number; targetsHash: string; correlationId: string | null };
  ecuResult?: SignedEnvelope<{
    ecu_serial: string;
    correlation_id: string | null;
    target: { filepath: string; fileinfo: { hashes: { sha256: string } } };
    result: string;
  }>;
}

export interface DirectorAuditInput {
  /** The served versions; undefined when the server serves no Director list. */
  served: DirectorServedVersion[] | undefined;
  /** Director targets entries of the replayed log by index; undefined when no log was replayed. */
  logged: Map<number, LoggedDirectorTargets> | undefined;
  installs: readonly DirectorInstall[];
  /** Per vehicle commitment, what the OEM routes opened; undefined without an OEM token. */
  vehicles: Map<string, DirectorVehicleRecord> | undefined;
  report: (f: AuditFinding) => void;
}

export interface DirectorAuditSummary {
  /** Whether the served versions and installs were checked against the replayed log. */
  logChecked: boolean;
  /**
   * How installs' ECUs were matched to logged images: every one through its ECU (the `ecu`
   * commitment opened with its salt from an OEM token's openings, or a serial logged in clear), or,
   * for at least one (`stats.installsMatchedWithoutEcu`), by image name and sha256 only.
   */
  ecuMatch: 'commitment' | 'name-and-sha256';
  /** Whether ECU signatures (install results, manifest reports) were checked against inventories. */
  ecuSignaturesChecked: boolean;
  stats: {
    directorVersionsServed: number;
    directorVersionsLogged: number;
    directorInstalls: number;
    ecuReportsVerified: number;
    ecuReportsUnchecked: number;
    /** Installs matched to their logged entry by image name and sha256 only (no opening). */
    installsMatchedWithoutEcu: number;
  };
}

const bare = (h: string) => h.replace(/^0x/, '').toLowerCase();
const entryKey = (vehicle: string, version: number, hash: string) =>
  `${vehicle}:${version}:${bare(hash)}`;

/** The inventory version in force at `at` (the newest made no later), else the first. */
export function inventoryAt(
  history: readonly DirectorInventoryVersion[],
  at: string,
): EcuRegistration | undefined {
  const t = Date.parse(at);
  let chosen = history[0];
  for (const v of history) if (Date.parse(v.createdAt) <= t) chosen = v;
  return chosen?.registration;
}

/** Whether `envelope` verifies under the key `ecuSerial` registered in `registration`. */
function signedByEcu(
  envelope: SignedEnvelope<unknown>,
  ecuSerial: string,
  registration: EcuRegistration | undefined,
): string | undefined {
  const ecu = registration?.ecus.find((e) => e.ecu_serial === ecuSerial);
  if (!ecu) return `ECU ${ecuSerial} is not in the vehicle's registered inventory`;
  try {
    verifyEnvelope(envelope, computeKeyId(ecu.clientKey), ecu.clientKey);
    return undefined;
  } catch (err) {
    return `not signed by the key ECU ${ecuSerial} registered (${errorMessage(err)})`;
  }
}

/** Runs every Director check; returns what was checked and how. */
export function auditDirector(input: DirectorAuditInput): DirectorAuditSummary {
  const error = (code: AuditFindingCode, message: string, subject: string) =>
    input.report({ code, severity: 'error', message, subject });
  const summary: DirectorAuditSummary = {
    logChecked: input.logged !== undefined,
    ecuMatch: 'commitment',
    ecuSignaturesChecked: input.vehicles !== undefined,
    stats: {
      directorVersionsServed: input.served?.length ?? 0,
      directorVersionsLogged: input.logged?.size ?? 0,
      directorInstalls: 0,
      ecuReportsVerified: 0,
      ecuReportsUnchecked: 0,
      installsMatchedWithoutEcu: 0,
    },
  };
  const byKey = new Map<string, LoggedDirectorTargets>();
  for (const entry of input.logged?.values() ?? []) {
    byKey.set(entryKey(entry.vehicle, entry.targetsVersion, entry.targetsHash), entry);
  }
  // Salts by logged entry, from the openings.
  const salts = new Map<string, Uint8Array>();
  for (const [vehicle, record] of input.vehicles ?? []) {
    for (const v of record.versions ?? []) {
      if (v.ecuSalt) {
        salts.set(
          entryKey(vehicle, v.targetsVersion, v.targetsHash),
          Buffer.from(v.ecuSalt, 'hex'),
        );
      }
    }
  }

  // Every served version is the log entry at the index the server gives for it.
  const notLogged = new Set<string>();
  if (input.logged) {
    for (const s of input.served ?? []) {
      const entry = s.logIndex === null ? undefined : input.logged.get(s.logIndex);
      if (
        !entry ||
        entry.vehicle !== s.vehicle ||
        entry.targetsVersion !== s.version ||
        entry.targetsHash !== s.sha256
      ) {
        notLogged.add(`director:${s.vehicle}:${s.version}`);
        error(
          'DIRECTOR_TARGETS_NOT_LOGGED',
          `Director targets ${s.version} of vehicle ${s.vehicle} (sha256 ${s.sha256}) is not the log entry at ${s.logIndex ?? 'no index'}`,
          `director:${s.vehicle}:${s.version}`,
        );
      }
    }
  }
  // With openings: the signed metadata served is what the entry logs, ECU by ECU.
  for (const [vehicle, record] of input.vehicles ?? []) {
    for (const v of record.versions ?? []) {
      const subject = `director:${vehicle}:${v.targetsVersion}`;
      if (notLogged.has(subject)) continue;
      const entry = byKey.get(entryKey(vehicle, v.targetsVersion, v.targetsHash));
      if (input.logged && !entry) {
        error(
          'DIRECTOR_TARGETS_NOT_LOGGED',
          `Director targets ${v.targetsVersion} of vehicle ${vehicle} has no log entry with its hash`,
          subject,
        );
        continue;
      }
      if (!entry || v.metadata === undefined) continue;
      const why = openingMismatch(v, entry);
      if (why) error('DIRECTOR_TARGETS_NOT_LOGGED', `${why}`, subject);
    }
  }

  for (const inst of input.installs) {
    const records = input.vehicles?.get(inst.vehicle);
    const registration = records?.inventory
      ? inventoryAt(records.inventory, inst.finishedAt)
      : undefined;
    if (inst.director) {
      summary.stats.directorInstalls++;
      if (input.logged) {
        const key = entryKey(inst.vehicle, inst.director.targetsVersion, inst.director.targetsHash);
        const entry = byKey.get(key);
        if (!entry) {
          error(
            'DIRECTOR_ASSIGNMENT_NOT_LOGGED',
            `vehicle ${inst.vehicle} installed for Director targets ${inst.director.targetsVersion} (${inst.director.targetsHash}), which has no log entry`,
            inst.subject,
          );
        } else {
          const salt = salts.get(key);
          const ecuKnown = entry.images.every((img) => img.ecuSerial !== undefined) || !!salt;
          if (!ecuKnown) summary.stats.installsMatchedWithoutEcu++;
          const assigned = entry.images.some(
            (img) =>
              img.name === inst.name &&
              img.sha256 === bare(inst.sha256) &&
              (img.ecuSerial !== undefined
                ? img.ecuSerial === inst.ecuSerial
                : img.ecu === undefined || salt === undefined
                  ? true
                  : img.ecu === computeEcuCommitment(inst.ecuSerial, salt)),
          );
          if (!assigned) {
            error(
              'INSTALL_NOT_ASSIGNED',
              `ECU ${inst.ecuSerial} of vehicle ${inst.vehicle} installed ${inst.name} (${bare(inst.sha256)}), which logged Director targets ${entry.targetsVersion} does not assign to it`,
              inst.subject,
            );
          }
        }
      }
    }
    // A secondary's outcome counts only on its own signature (the primary signs the bundle).
    const secondary = inst.ecuSerial !== inst.certificateEcuSerial;
    if (!inst.ecuResult && !(secondary && inst.director)) continue;
    if (!records?.inventory) {
      summary.stats.ecuReportsUnchecked++;
      continue;
    }
    const why = !inst.ecuResult
      ? `the report for secondary ECU ${inst.ecuSerial} carries no result signed by it`
      : (signedByEcu(inst.ecuResult, inst.ecuSerial, registration) ??
        ecuResultMismatch(inst, inst.ecuResult));
    if (why) {
      error('ECU_REPORT_UNSIGNED_BY_ECU', `vehicle ${inst.vehicle}: ${why}`, inst.subject);
    } else summary.stats.ecuReportsVerified++;
  }

  for (const [vehicle, record] of input.vehicles ?? []) {
    for (const m of record.manifests ?? []) {
      const subject = `manifest:${vehicle}:${m.id}`;
      const parsed = signedVehicleVersionManifestSchema.safeParse(m.manifest);
      if (!parsed.success) {
        error('ECU_REPORT_UNSIGNED_BY_ECU', `manifest ${m.id} is not a signed manifest`, subject);
        continue;
      }
      const registration = record.inventory
        ? inventoryAt(record.inventory, m.receivedAt)
        : undefined;
      if (!registration) {
        summary.stats.ecuReportsUnchecked++;
        continue;
      }
      const primary = signedByEcu(parsed.data, parsed.data.signed.primary_ecu_serial, registration);
      if (primary) error('ECU_REPORT_UNSIGNED_BY_ECU', `manifest ${m.id}: ${primary}`, subject);
      for (const [serial, ecuReport] of Object.entries(parsed.data.signed.ecu_version_manifests)) {
        const report = signedEcuVersionReportSchema.parse(ecuReport);
        const why = signedByEcu(report, serial, registration);
        if (why) {
          error(
            'ECU_REPORT_UNSIGNED_BY_ECU',
            `manifest ${m.id}, report of ${serial}: ${why}`,
            subject,
          );
        } else summary.stats.ecuReportsVerified++;
      }
    }
  }
  // Without openings nothing was opened (serials logged in clear were still compared).
  if (!input.vehicles || summary.stats.installsMatchedWithoutEcu > 0) {
    summary.ecuMatch = 'name-and-sha256';
  }
  return summary;
}

function ecuResultMismatch(
  inst: DirectorInstall,
  envelope: NonNullable<DirectorInstall['ecuResult']>,
): string | undefined {
  const s = envelope.signed;
  if (s.ecu_serial !== inst.ecuSerial) return `the signed result names ECU ${s.ecu_serial}`;
  if (s.target.filepath !== inst.name || s.target.fileinfo.hashes.sha256 !== bare(inst.sha256)) {
    return `the signed result of ECU ${inst.ecuSerial} names another image (${s.target.filepath})`;
  }
  if ((s.result === 'SUCCESS') !== (inst.result === 'SUCCESS')) {
    return `ECU ${inst.ecuSerial} signed ${s.result}; the report says ${inst.result}`;
  }
  return undefined;
}

/** Why an opened version's signed metadata differs from its log entry, or undefined. */
function openingMismatch(
  v: DirectorVersionOpening,
  entry: LoggedDirectorTargets,
): string | undefined {
  const bytes = Buffer.from(v.metadata ?? '', 'base64');
  if (createHash('sha256').update(bytes).digest('hex') !== entry.targetsHash) {
    return `the served targets ${v.targetsVersion} do not hash to the logged targetsHash`;
  }
  let assignments;
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { signed?: Record<string, unknown> };
    assignments = parseDirectorTargets(doc.signed ?? {}).assignments;
  } catch (err) {
    return `the served targets ${v.targetsVersion} are not Director targets (${errorMessage(err)})`;
  }
  const salt = v.ecuSalt ? Buffer.from(v.ecuSalt, 'hex') : undefined;
  const legacy = entry.images.some((i) => i.ecuSerial !== undefined);
  const ecuOf = (serial: string) =>
    legacy ? `s:${serial}` : salt ? `c:${computeEcuCommitment(serial, salt)}` : '-';
  const want = assignments
    .map((a) => [ecuOf(a.ecuSerial), a.hardwareId, a.name, a.sha256, a.releaseCounter].join('|'))
    .sort();
  const got = entry.images
    .map((i) =>
      [
        legacy ? `s:${i.ecuSerial}` : salt ? `c:${i.ecu}` : '-',
        i.hardwareId,
        i.name,
        i.sha256,
        i.releaseCounter,
      ].join('|'),
    )
    .sort();
  if (want.join('\n') !== got.join('\n')) {
    return `the images of served targets ${v.targetsVersion} differ from its log entry`;
  }
  return undefined;
}
