import { createHash } from 'node:crypto';
import {
  openDirectorLogPromise,
  parseDirectorTargets,
  parseVerifierKey,
  type DirectorAssignment,
  type DirectorTargetsCustom,
} from '@tufchain/transparency/wire';
import { AgentError } from '../error.js';
import {
  describeFirmwareTarget,
  type FirmwareTarget,
  type TrustedMetadata,
  type TufRepository,
} from '../tuf/updater.js';
import { verifyReleaseOnChain, type ReleaseLog, type VerifiedRelease } from '../verify/chain.js';
import { assertMetadataFresh } from '../verify/time.js';

/** A Director assignment both repositories and the chain agree on. */
export interface VerifiedAssignment extends DirectorAssignment {
  firmware: FirmwareTarget;
  release: VerifiedRelease;
}

export interface VerifiedDirector {
  targetsVersion: number;
  /** sha256 hex (no 0x) of the exact Director targets bytes tuf-js trusts. */
  targetsHash: string;
  targetsBytes: Uint8Array;
  custom: DirectorTargetsCustom;
  assignments: DirectorAssignment[];
}

export interface LogTrust {
  /** C2SP verifier keys of the transparency log. */
  logKeys: readonly string[];
  origin?: string;
}

const strip0x = (h: string): string => (h.startsWith('0x') ? h.slice(2) : h).toLowerCase();

/**
 * The Director's targets as tuf-js trusts them, checked against the profile (UPTANE.md): fresh at
 * `at`, inside the profile (DIRECTOR_METADATA_INVALID), for this vehicle
 * (DIRECTOR_VEHICLE_MISMATCH: another vehicle's metadata replayed here), and promised by the
 * transparency log for exactly these bytes (DIRECTOR_NOT_LOGGED).
 */
export function verifyDirectorTargets(input: {
  trusted: TrustedMetadata;
  at: Date;
  vehicleCommitment: string;
  logPromise: unknown;
  log: LogTrust;
}): VerifiedDirector {
  const { trusted } = input;
  assertMetadataFresh(trusted, input.at);
  let parsed: ReturnType<typeof parseDirectorTargets>;
  try {
    parsed = parseDirectorTargets(trusted.targets.signed.toJSON());
  } catch (err) {
    throw new AgentError('DIRECTOR_METADATA_INVALID', (err as Error).message, { cause: err });
  }
  if (parsed.custom.vehicle !== strip0x(input.vehicleCommitment)) {
    throw new AgentError('DIRECTOR_VEHICLE_MISMATCH', 'the Director targets name another vehicle');
  }
  const targetsHash = createHash('sha256').update(trusted.targetsBytes).digest('hex');
  const targetsVersion = trusted.targets.signed.version;
  checkLogPromise(input.logPromise, input.log, {
    vehicle: parsed.custom.vehicle,
    targetsVersion,
    targetsHash,
  });
  return {
    targetsVersion,
    targetsHash,
    targetsBytes: trusted.targetsBytes,
    custom: parsed.custom,
    assignments: parsed.assignments,
  };
}

/** DIRECTOR_NOT_LOGGED unless the promise verifies and names exactly this targets version. */
export function checkLogPromise(
  promise: unknown,
  log: LogTrust,
  want: { vehicle: string; targetsVersion: number; targetsHash: string },
): void {
  if (promise === undefined || promise === null) {
    throw new AgentError('DIRECTOR_NOT_LOGGED', 'no log promise for the Director targets');
  }
  let entry;
  try {
    entry = openDirectorLogPromise(promise, {
      logVerifiers: log.logKeys.map((k) => parseVerifierKey(k)),
      ...(log.origin !== undefined ? { origin: log.origin } : {}),
    }).entry;
  } catch (err) {
    throw new AgentError(
      'DIRECTOR_NOT_LOGGED',
      `the log promise does not verify: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (
    entry.vehicle !== want.vehicle ||
    entry.targetsVersion !== want.targetsVersion ||
    entry.targetsHash !== want.targetsHash
  ) {
    throw new AgentError(
      'DIRECTOR_NOT_LOGGED',
      `the log promises targets v${entry.targetsVersion} ${entry.targetsHash}, not v${want.targetsVersion} ${want.targetsHash}`,
    );
  }
}

/**
 * The image repository's entry for one assignment, compared field by field (UPTANE.md, "Director
 * targets metadata"): DIRECTOR_IMAGE_UNKNOWN when the image repository does not hold it,
 * DIRECTOR_IMAGE_MISMATCH when it holds it with another length, hashes or release counter,
 * HARDWARE_ID_MISMATCH when it is not signed for the ECU's hardware ID.
 */
export async function resolveAssignment(
  image: TufRepository,
  a: DirectorAssignment,
): Promise<FirmwareTarget> {
  let firmware: FirmwareTarget;
  try {
    firmware = describeFirmwareTarget(await image.getTarget(a.name));
  } catch (err) {
    if (err instanceof AgentError && err.code === 'TARGET_NOT_FOUND') {
      throw new AgentError(
        'DIRECTOR_IMAGE_UNKNOWN',
        `the Director assigns ${a.name} to ${a.ecuSerial}; the image repository does not hold it`,
        { cause: err },
      );
    }
    throw err;
  }
  checkAgreement(a, firmware);
  const scope = await image.delegationScope(a.name);
  if (scope && !scope.hardwareIds.includes(a.hardwareId)) {
    throw new AgentError(
      'HARDWARE_ID_NOT_DELEGATED',
      `${scope.role} may not sign firmware for ${a.hardwareId} (${a.name})`,
    );
  }
  return firmware;
}

/** Pure: the Director's and the image repository's word on one image agree (see above). */
export function checkAgreement(a: DirectorAssignment, firmware: FirmwareTarget): void {
  const differs: string[] = [];
  if (a.length !== firmware.length) differs.push('length');
  if (a.sha256 !== firmware.sha256) differs.push('sha256');
  if (a.sha512 !== undefined && a.sha512 !== firmware.sha512) differs.push('sha512');
  if (a.releaseCounter !== firmware.releaseCounter) differs.push('releaseCounter');
  if (differs.length > 0) {
    throw new AgentError(
      'DIRECTOR_IMAGE_MISMATCH',
      `the repositories disagree on ${a.name}: ${differs.join(', ')}`,
    );
  }
  if (!firmware.hardwareIds.includes(a.hardwareId)) {
    throw new AgentError(
      'HARDWARE_ID_MISMATCH',
      `${a.name} is not for ${a.hardwareId} (ECU ${a.ecuSerial})`,
    );
  }
}

/**
 * Every assignment resolved in the image repository, checked for agreement, and its release
 * checked on chain as for a single ECU (verify/chain.ts: logged, confirmed, not recalled, not
 * below the minimum), except that the Director may choose an image older than the newest logged
 * one. Answered in assignment order.
 */
export async function verifyAssignments(input: {
  image: TufRepository;
  imageTrusted: TrustedMetadata;
  chain: ReleaseLog;
  assignments: readonly DirectorAssignment[];
}): Promise<VerifiedAssignment[]> {
  const resolved: { a: DirectorAssignment; firmware: FirmwareTarget }[] = [];
  for (const a of input.assignments) {
    resolved.push({ a, firmware: await resolveAssignment(input.image, a) });
  }
  // The chain's answers for every image at once: one round trip of the quorum, not one per ECU.
  return Promise.all(
    resolved.map(async ({ a, firmware }) => ({
      ...a,
      firmware,
      release: await verifyReleaseOnChain({
        chain: input.chain,
        snapshotBytes: input.imageTrusted.snapshotBytes,
        snapshotVersion: input.imageTrusted.snapshot.signed.version,
        hardwareId: a.hardwareId,
        target: firmware,
        chosenByDirector: true,
      }),
    })),
  );
}
