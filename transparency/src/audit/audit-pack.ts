import { writeFile } from 'node:fs/promises';
import { canonicalize } from '@tufjs/canonical-json';
import { z } from 'zod';
import {
  proofBundleSchema,
  verifyProofBundle,
  verifyProofBundleOffline,
  type AnchorLookup,
  type ProofBundle,
} from '../bundle/proof-bundle.js';
import type { LoggedRelease } from '../chain/types.js';
import { TransparencyError } from '../error.js';
import type { NoteVerifier } from '../note/signed-note.js';
import { normalizeHash32 } from '../util/hex.js';
import {
  auditDirector,
  directorInventoryVersionSchema,
  directorManifestRecordSchema,
  loggedDirectorTargetsSchema,
  type LoggedDirectorTargets,
} from './director.js';
import type { AuditFinding } from './source.js';
import {
  directorInstall,
  groupInstallsByVehicle,
  verifyInstallBundle,
  type AuditResult,
  type VerifiedInstall,
} from './auditor.js';

export const VEHICLE_AUDIT_PACK_MEDIA_TYPE = 'application/vnd.tufchain.vehicle-audit-pack.v1+json';

const releaseRef = z.object({
  metadataVersion: z.number().int().positive(),
  metadataHash: z.string(),
  txHash: z.string(),
  blockNumber: z.number().int().nonnegative(),
  blockHash: z.string(),
});

const directorSectionSchema = z.object({
  /** Every Director targets version served to the vehicle, oldest first, with its log entry. */
  targets: z.array(
    z.object({
      targetsVersion: z.number().int().positive(),
      targetsHash: z.string(),
      logIndex: z.number().int().nonnegative().nullable(),
      /** The `director-targets` log entry at `logIndex`, as the log holds it. */
      entry: z.unknown().nullable(),
      proofBundle: proofBundleSchema.nullable(),
      /** The opening (OEM token): the salt of the entry's ECU commitments, the signed bytes. */
      ecuSalt: z.string().optional(),
      metadata: z.string().optional(),
    }),
  ),
  /** The vehicle's ECU inventory versions (empty when the audit had no OEM token). */
  inventory: z.array(directorInventoryVersionSchema),
  /** Its vehicle version manifests as the Director recorded them. */
  manifests: z.array(directorManifestRecordSchema),
});

export const vehicleAuditPackSchema = z.object({
  mediaType: z.literal(VEHICLE_AUDIT_PACK_MEDIA_TYPE),
  generatedAt: z.string(),
  vehicle: z.object({ commitment: z.string() }),
  vehicleCaCertificatePem: z.string(),
  chain: z.object({ chainId: z.number().int().nullable(), contractAddress: z.string() }),
  installs: z.array(
    z.object({
      attestation: z.unknown(),
      logIndex: z.number().int().nonnegative().nullable(),
      proofBundle: proofBundleSchema.nullable(),
      release: releaseRef.nullable(),
    }),
  ),
  /** The Uptane Director's record of this vehicle; absent in packs of vehicles before it. */
  director: directorSectionSchema.optional(),
});

/**
 * Everything that proves what one vehicle installed and when (the per-vehicle record of software
 * versions UNECE R156 asks for): its signed install attestations, each with its log proof bundle
 * and the chain entry of the release it installed. The vehicle appears only as its commitment.
 */
export type VehicleAuditPack = z.infer<typeof vehicleAuditPackSchema>;

function releaseFor(
  digest: string,
  releases: readonly LoggedRelease[],
): VehicleAuditPack['installs'][number]['release'] {
  const r = releases.find((rel) => rel.firmware.some((f) => f.digest === digest));
  return r
    ? {
        metadataVersion: r.metadataVersion,
        metadataHash: r.metadataHash,
        txHash: r.txHash,
        blockNumber: r.blockNumber,
        blockHash: r.blockHash,
      }
    : null;
}

/** One audit pack per vehicle commitment from an audit result. */
export async function createVehicleAuditPacks(
  result: AuditResult,
  opts: {
    vehicleCaPem: string;
    contractAddress: string;
    chainId?: number;
    proofBundle?: (install: VerifiedInstall) => Promise<ProofBundle | undefined>;
    /** The proof bundle of a Director targets log entry, when the log serves one. */
    logProofBundle?: (index: number) => Promise<ProofBundle | undefined>;
    now?: Date;
  },
): Promise<Map<string, VehicleAuditPack>> {
  const packs = new Map<string, VehicleAuditPack>();
  const byVehicle = groupInstallsByVehicle(result.installs);
  for (const s of result.director?.served ?? [])
    if (!byVehicle.has(s.vehicle)) byVehicle.set(s.vehicle, []);
  for (const [commitment, installs] of byVehicle) {
    const items = [];
    for (const inst of installs) {
      items.push({
        attestation: inst.bundle,
        logIndex: inst.logIndex ?? null,
        proofBundle: (await opts.proofBundle?.(inst)) ?? null,
        release: releaseFor(inst.subjectDigest, result.releases),
      });
    }
    packs.set(commitment, {
      mediaType: VEHICLE_AUDIT_PACK_MEDIA_TYPE,
      generatedAt: (opts.now ?? new Date()).toISOString(),
      vehicle: { commitment },
      vehicleCaCertificatePem: opts.vehicleCaPem,
      chain: { chainId: opts.chainId ?? null, contractAddress: opts.contractAddress },
      installs: items,
      ...(result.director
        ? { director: await directorSection(commitment, result.director, opts.logProofBundle) }
        : {}),
    });
  }
  return packs;
}

async function directorSection(
  commitment: string,
  director: NonNullable<AuditResult['director']>,
  logProofBundle: ((index: number) => Promise<ProofBundle | undefined>) | undefined,
): Promise<NonNullable<VehicleAuditPack['director']>> {
  const record = director.vehicles.get(commitment);
  const openings = new Map((record?.versions ?? []).map((v) => [v.targetsVersion, v]));
  const targets = [];
  for (const s of director.served.filter((x) => x.vehicle === commitment)) {
    const opening = openings.get(s.version);
    const entry = s.logIndex === null ? undefined : director.logged.get(s.logIndex);
    targets.push({
      targetsVersion: s.version,
      targetsHash: s.sha256,
      logIndex: s.logIndex,
      entry: entry ?? null,
      proofBundle: (s.logIndex === null ? undefined : await logProofBundle?.(s.logIndex)) ?? null,
      ...(opening?.ecuSalt ? { ecuSalt: opening.ecuSalt } : {}),
      ...(opening?.metadata ? { metadata: opening.metadata } : {}),
    });
  }
  return { targets, inventory: record?.inventory ?? [], manifests: record?.manifests ?? [] };
}

export async function writeVehicleAuditPack(path: string, pack: VehicleAuditPack): Promise<void> {
  await writeFile(path, JSON.stringify(pack, null, 2) + '\n', { mode: 0o644 });
}

export interface VerifiedAuditPackInstall {
  digest: string;
  name: string;
  version: string;
  finishedAt: string;
  odometerKm: number;
  result: string;
  logIndex: number | null;
}

/** What the online check needs; ChainReader provides it. */
export interface AuditPackChain extends AnchorLookup {
  findRelease(metadataHash: string): Promise<LoggedRelease>;
}

/**
 * Verifies a vehicle audit pack offline (attestation signatures and certificates against the
 * trusted vehicle CA, one vehicle, odometer never decreasing, proof bundles against the trusted log
 * keys), then, when `chain` is given, each proof bundle's anchor, the chain entry of the metadata
 * each install trusted (`metadata.targetsHash`, the snapshot hash in layout v2) and each release
 * entry on chain.
 * Throws MALFORMED_AUDIT_PACK, AUDIT_PACK_INVALID or the proof bundle codes.
 */
export async function verifyVehicleAuditPack(
  input: unknown,
  trust: {
    vehicleCaPem: string;
    logVerifiers?: readonly NoteVerifier[];
    origin?: string;
    chain?: AuditPackChain;
  },
): Promise<VerifiedAuditPackInstall[]> {
  const parsed = vehicleAuditPackSchema.safeParse(input);
  if (!parsed.success)
    throw new TransparencyError(
      'MALFORMED_AUDIT_PACK',
      `audit pack is malformed: ${z.prettifyError(parsed.error)}`,
    );
  const pack = parsed.data;
  const out: VerifiedAuditPackInstall[] = [];
  const verifiedInstalls: VerifiedInstall[] = [];
  let lastOdometer = -Infinity;
  for (const [i, item] of pack.installs.entries()) {
    const invalid = (why: string) =>
      new TransparencyError('AUDIT_PACK_INVALID', `install ${i}: ${why}`);
    let failure = '';
    const install = await verifyInstallBundle(
      item.attestation,
      trust.vehicleCaPem,
      (code, m) => (failure = `${code}: ${m}`),
      `install:${i}`,
    );
    if (!install) throw invalid(failure);
    const p = install.predicate;
    if (
      p.vehicle.commitment.replace(/^0x/, '').toLowerCase() !==
      pack.vehicle.commitment.replace(/^0x/, '').toLowerCase()
    ) {
      throw invalid('attestation is from another vehicle');
    }
    if (p.odometerKm < lastOdometer) throw invalid('ODOMETER_DECREASED');
    lastOdometer = p.odometerKm;
    if (item.proofBundle) {
      if (!trust.logVerifiers) throw invalid('a proof bundle needs trusted log keys');
      const t = {
        logVerifiers: trust.logVerifiers,
        ...(trust.origin === undefined ? {} : { origin: trust.origin }),
      };
      const verified = trust.chain
        ? await verifyProofBundle(item.proofBundle, { ...t, chain: trust.chain })
        : verifyProofBundleOffline(item.proofBundle, t);
      if (
        verified.entry.type !== 'install-attestation' ||
        canonicalize(verified.entry.bundle) !== canonicalize(item.attestation)
      ) {
        throw new TransparencyError(
          'PROOF_BUNDLE_MISMATCH',
          `install ${i}: the proof bundle proves another entry`,
        );
      }
    }
    if (trust.chain) {
      // The metadata the vehicle trusted (layout v2: its snapshot) must itself be on chain.
      try {
        await trust.chain.findRelease(p.metadata.targetsHash);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'METADATA_NOT_LOGGED' && code !== 'INVALID_HASH') throw err;
        throw invalid('the metadata the vehicle trusted was never logged on chain');
      }
    }
    if (trust.chain && item.release) {
      const onChain = await trust.chain.findRelease(item.release.metadataHash);
      if (
        onChain.txHash !== item.release.txHash.toLowerCase() ||
        !onChain.firmware.some((f) => f.digest === normalizeHash32(install.subjectDigest))
      ) {
        throw invalid('the release entry on chain does not log the installed digest');
      }
    }
    verifiedInstalls.push(install);
    out.push({
      digest: install.subjectDigest,
      name: p.to.name,
      version: p.to.version,
      finishedAt: p.finishedAt,
      odometerKm: p.odometerKm,
      result: p.result,
      logIndex: item.logIndex,
    });
  }
  if (pack.director) {
    await verifyDirectorSection(pack.vehicle.commitment, pack.director, verifiedInstalls, trust);
  }
  return out;
}

/**
 * The auditor's Director checks over a pack's Director section: each log entry its proof bundle
 * proves (when it carries one), every targets version logged at its index, every install matching
 * its logged assignment, every ECU report signed by the key its ECU registered. Throws
 * AUDIT_PACK_INVALID with the findings as `cause`.
 */
async function verifyDirectorSection(
  commitment: string,
  section: NonNullable<VehicleAuditPack['director']>,
  installs: readonly VerifiedInstall[],
  trust: { logVerifiers?: readonly NoteVerifier[]; origin?: string; chain?: AuditPackChain },
): Promise<void> {
  const vehicle = commitment.replace(/^0x/, '').toLowerCase();
  const logged = new Map<number, LoggedDirectorTargets>();
  for (const [i, t] of section.targets.entries()) {
    if (t.logIndex === null || t.entry === null) continue;
    const entry = loggedDirectorTargetsSchema.safeParse(t.entry);
    if (!entry.success) {
      throw new TransparencyError('AUDIT_PACK_INVALID', `director target ${i}: not a log entry`);
    }
    if (t.proofBundle) {
      if (!trust.logVerifiers) {
        throw new TransparencyError(
          'AUDIT_PACK_INVALID',
          `director target ${i}: a proof bundle needs trusted log keys`,
        );
      }
      const opts = {
        logVerifiers: trust.logVerifiers,
        ...(trust.origin === undefined ? {} : { origin: trust.origin }),
      };
      const verified = trust.chain
        ? await verifyProofBundle(t.proofBundle, { ...opts, chain: trust.chain })
        : verifyProofBundleOffline(t.proofBundle, opts);
      if (verified.index !== t.logIndex || canonicalize(verified.entry) !== canonicalize(t.entry)) {
        throw new TransparencyError(
          'PROOF_BUNDLE_MISMATCH',
          `director target ${i}: the proof bundle proves another entry`,
        );
      }
    }
    logged.set(t.logIndex, entry.data);
  }
  const findings: AuditFinding[] = [];
  auditDirector({
    served: section.targets.map((t) => ({
      vehicle,
      version: t.targetsVersion,
      sha256: t.targetsHash,
      logIndex: t.logIndex,
    })),
    logged,
    installs: installs.map((inst, i) => directorInstall(inst, `install:${i}`)),
    vehicles:
      section.inventory.length > 0
        ? new Map([
            [
              vehicle,
              {
                versions: section.targets.map((t) => ({
                  targetsVersion: t.targetsVersion,
                  targetsHash: t.targetsHash,
                  logIndex: t.logIndex,
                  ...(t.ecuSalt ? { ecuSalt: t.ecuSalt } : {}),
                  ...(t.metadata ? { metadata: t.metadata } : {}),
                })),
                inventory: section.inventory,
                manifests: section.manifests,
              },
            ],
          ])
        : undefined,
    report: (f) => findings.push(f),
  });
  if (findings.length > 0) {
    throw new TransparencyError(
      'AUDIT_PACK_INVALID',
      findings.map((f) => `${f.code}: ${f.message}`).join('; '),
      { cause: findings },
    );
  }
}
