import { createHash } from 'node:crypto';
import { z } from 'zod';
import { TransparencyError } from '../error.js';
import { envelopeSchema, tufPublicKeySchema, type SignedEnvelope } from './uptane-envelope.js';

// The Uptane profile (transparency/UPTANE.md): the Director's metadata fields, ECU inventory,
// version reports and manifests, secondary install results, and the log entry of a Director
// targets version. Field names follow the Uptane Standard and OTA Community Edition.

/** ECU serials as the vehicle certificates carry them (keys' checkEcuSerial). */
export const ecuSerialSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/);

const ECU_COMMITMENT_DOMAIN = Buffer.from('tufchain/ecu-commitment/v1\0', 'utf8');

/**
 * The salted commitment to an ECU serial that a director-targets log entry carries instead of
 * the serial: hex(SHA-256(domain || salt || utf8(serial))), salt = 32 bytes per log entry.
 */
export function computeEcuCommitment(ecuSerial: string, salt: Uint8Array): string {
  if (salt.length !== 32) {
    throw new TransparencyError('INVALID_ENTRY', 'an ECU commitment salt is 32 bytes');
  }
  return createHash('sha256')
    .update(ECU_COMMITMENT_DOMAIN)
    .update(salt)
    .update(Buffer.from(ecuSerial, 'utf8'))
    .digest('hex');
}
/** Hardware IDs as the image repository's firmware custom fields carry them. */
export const hardwareIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
/** A target path of the image repository (`name` or `hwid/name`), never a URL or `..`. */
export const targetPathSchema = z
  .string()
  .regex(/^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,63}\/)?[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$/);
export const vehicleCommitmentSchema = z.string().regex(/^[0-9a-f]{64}$/);
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
const sha512Hex = z.string().regex(/^[0-9a-f]{128}$/);
const uint = z.number().int().nonnegative();
/** Free text a vehicle sends: bounded, printable, no control characters (canonical bytes stay unambiguous). */
const text = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[^\p{Cc}]*$/u);
const isoTime = z.iso.datetime({ offset: true });
const correlationIdSchema = z.string().regex(/^urn:tufchain:[a-z-]+:[A-Za-z0-9._:-]{1,128}$/);

export const DIRECTOR_LOG_PROMISE_MEDIA_TYPE = 'application/vnd.tufchain.log-promise.v1+json';

// ---- Director targets metadata -------------------------------------------------------------

/** `targets[name].custom` in Director targets metadata. */
export const directorTargetCustomSchema = z.object({
  ecuIdentifiers: z
    .record(ecuSerialSchema, z.object({ hardwareId: hardwareIdSchema }).strict())
    .refine((r) => Object.keys(r).length > 0, 'at least one ECU'),
  releaseCounter: uint,
  uri: z.string().max(2048).nullable().optional(),
});
export type DirectorTargetCustom = z.infer<typeof directorTargetCustomSchema>;

/** The top-level `custom` of Director targets metadata (tufchain). */
export const directorTargetsCustomSchema = z.object({
  vehicle: vehicleCommitmentSchema,
  correlationId: correlationIdSchema.nullable(),
  atomic: z.boolean(),
});
export type DirectorTargetsCustom = z.infer<typeof directorTargetsCustomSchema>;

/** One image a Director targets version assigns, flattened per ECU. */
export interface DirectorAssignment {
  ecuSerial: string;
  hardwareId: string;
  name: string;
  length: number;
  sha256: string;
  sha512?: string;
  releaseCounter: number;
}

const directorTargetSchema = z.object({
  length: uint,
  hashes: z.object({ sha256: sha256Hex, sha512: sha512Hex.optional() }).loose(),
  custom: directorTargetCustomSchema,
});

/**
 * The assignments of a Director targets document's `signed` part (already verified by tuf-js):
 * every target's ECUs, with the top-level custom. Throws DIRECTOR_METADATA_INVALID on anything
 * outside the profile, including an ECU named by two targets.
 */
export function parseDirectorTargets(signed: {
  targets?: unknown;
  custom?: unknown;
  [k: string]: unknown;
}): { custom: DirectorTargetsCustom; assignments: DirectorAssignment[] } {
  const custom = directorTargetsCustomSchema.safeParse(signed.custom);
  if (!custom.success) {
    throw new TransparencyError(
      'DIRECTOR_METADATA_INVALID',
      `Director targets custom: ${z.prettifyError(custom.error)}`,
    );
  }
  const targets = z.record(targetPathSchema, directorTargetSchema).safeParse(signed.targets ?? {});
  if (!targets.success) {
    throw new TransparencyError(
      'DIRECTOR_METADATA_INVALID',
      `Director targets: ${z.prettifyError(targets.error)}`,
    );
  }
  const assignments: DirectorAssignment[] = [];
  const seen = new Set<string>();
  for (const [name, t] of Object.entries(targets.data)) {
    for (const [ecuSerial, { hardwareId }] of Object.entries(t.custom.ecuIdentifiers)) {
      if (seen.has(ecuSerial)) {
        throw new TransparencyError(
          'DIRECTOR_METADATA_INVALID',
          `ECU ${ecuSerial} is assigned two images`,
        );
      }
      seen.add(ecuSerial);
      assignments.push({
        ecuSerial,
        hardwareId,
        name,
        length: t.length,
        sha256: t.hashes.sha256,
        ...(t.hashes.sha512 ? { sha512: t.hashes.sha512 } : {}),
        releaseCounter: t.custom.releaseCounter,
      });
    }
  }
  return { custom: custom.data, assignments };
}

// ---- ECU inventory ---------------------------------------------------------------------------

export const ecuRegistrationSchema = z
  .object({
    primary_ecu_serial: ecuSerialSchema,
    ecus: z
      .array(
        z
          .object({
            ecu_serial: ecuSerialSchema,
            hardware_identifier: hardwareIdSchema,
            clientKey: tufPublicKeySchema,
            primary: z.boolean().optional(),
            verification: z.enum(['full', 'partial']).optional(),
          })
          .strict(),
      )
      .min(1)
      .max(256),
  })
  .strict()
  .superRefine((reg, ctx) => {
    const serials = new Set<string>();
    for (const e of reg.ecus) {
      if (serials.has(e.ecu_serial)) {
        ctx.addIssue({ code: 'custom', message: `ECU ${e.ecu_serial} is listed twice` });
      }
      serials.add(e.ecu_serial);
    }
    const primary = reg.ecus.find((e) => e.ecu_serial === reg.primary_ecu_serial);
    if (!primary) ctx.addIssue({ code: 'custom', message: 'the primary ECU is not listed' });
    if (reg.ecus.some((e) => e.primary === true && e.ecu_serial !== reg.primary_ecu_serial)) {
      ctx.addIssue({ code: 'custom', message: 'only primary_ecu_serial may be primary' });
    }
  });
export type EcuRegistration = z.infer<typeof ecuRegistrationSchema>;

// ---- version reports and manifests --------------------------------------------------------

const fileInfoSchema = z
  .object({
    length: uint,
    hashes: z.object({ sha256: sha256Hex, sha512: sha512Hex.optional() }).strict(),
  })
  .strict();

export const installedImageSchema = z
  .object({ filepath: targetPathSchema, fileinfo: fileInfoSchema })
  .strict();

export const ecuVersionReportSchema = z
  .object({
    ecu_serial: ecuSerialSchema,
    installed_image: installedImageSchema,
    attacks_detected: text(256),
    report_counter: uint,
    nonce: z.string().regex(/^[0-9a-f]{32,64}$/),
    timeserver_time: isoTime,
    previous_timeserver_time: isoTime.optional(),
  })
  .strict();
export type EcuVersionReport = z.infer<typeof ecuVersionReportSchema>;
export const signedEcuVersionReportSchema = envelopeSchema(ecuVersionReportSchema);

export const installationReportSchema = z
  .object({
    correlation_id: correlationIdSchema,
    items: z
      .array(
        z
          .object({
            ecu: ecuSerialSchema,
            result: z
              .object({ code: text(64), success: z.boolean(), description: text(512) })
              .strict(),
          })
          .strict(),
      )
      .max(256),
  })
  .strict();

export const vehicleVersionManifestSchema = z
  .object({
    vehicle: vehicleCommitmentSchema,
    primary_ecu_serial: ecuSerialSchema,
    ecu_version_manifests: z.record(ecuSerialSchema, signedEcuVersionReportSchema),
    installation_report: installationReportSchema.optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    for (const [serial, report] of Object.entries(m.ecu_version_manifests)) {
      if (report.signed.ecu_serial !== serial) {
        ctx.addIssue({ code: 'custom', message: `report under ${serial} names another ECU` });
      }
    }
  });
export type VehicleVersionManifest = z.infer<typeof vehicleVersionManifestSchema>;
export const signedVehicleVersionManifestSchema = envelopeSchema(vehicleVersionManifestSchema);

// ---- secondary install results ---------------------------------------------------------------

export const ecuInstallResultSchema = z
  .object({
    ecu_serial: ecuSerialSchema,
    correlation_id: correlationIdSchema.nullable(),
    target: installedImageSchema,
    result: z.enum(['SUCCESS', 'ROLLED_BACK', 'FAILURE']),
    code: z.string().regex(/^[A-Z0-9_]{0,64}$/),
    report_counter: uint,
    timeserver_time: isoTime,
  })
  .strict();
export type EcuInstallResult = z.infer<typeof ecuInstallResultSchema>;
export const signedEcuInstallResultSchema = envelopeSchema(ecuInstallResultSchema);
export type SignedEcuInstallResult = SignedEnvelope<EcuInstallResult>;

// ---- the log entry of a Director targets version ---------------------------------------------

export const directorTargetsLogEntrySchema = z
  .object({
    type: z.literal('director-targets'),
    vehicle: vehicleCommitmentSchema,
    targetsVersion: z.number().int().positive(),
    targetsHash: sha256Hex,
    correlationId: correlationIdSchema.nullable(),
    images: z
      .array(
        z
          .object({
            /** computeEcuCommitment(serial, the version's salt): never the serial in clear. */
            ecu: sha256Hex,
            hardwareId: hardwareIdSchema,
            name: targetPathSchema,
            sha256: sha256Hex,
            releaseCounter: uint,
          })
          .strict(),
      )
      .max(256),
  })
  .strict();
export type DirectorTargetsLogEntry = z.infer<typeof directorTargetsLogEntrySchema>;

/** Parses `x` with `schema`, throwing `code` with zod's explanation. */
export function parseWire<T extends z.ZodType>(
  schema: T,
  x: unknown,
  code: 'DIRECTOR_METADATA_INVALID' | 'MALFORMED_MANIFEST' | 'MALFORMED_ENVELOPE',
  what: string,
): z.infer<T> {
  const result = schema.safeParse(x);
  if (!result.success) {
    throw new TransparencyError(code, `${what}: ${z.prettifyError(result.error)}`);
  }
  return result.data;
}
