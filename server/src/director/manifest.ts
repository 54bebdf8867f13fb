import {
  verifyEnvelope,
  type EcuRegistration,
  type VehicleVersionManifest,
} from '@tufchain/transparency/wire';
import { computeKeyId } from '@tufchain/keys';
import { ServerError } from '../error.js';
import type { AssignmentRecord, DirectorStore, EcuReportRecord, ManifestFlag } from './store.js';

/** The TUF key id of a registered `clientKey` (sha256 of its canonical JSON). */
export function ecuKeyId(key: EcuRegistration['ecus'][number]['clientKey']): string {
  return computeKeyId(key);
}

/**
 * Checks every ECU report of a manifest whose primary signature already verified. A report with a
 * signature by its ECU's registered key id that does not verify refuses the whole manifest
 * (MANIFEST_SIGNATURE_INVALID: a forgery). Everything else is flagged per ECU (UPTANE.md), and only
 * reports signed by their own ECU's key, with a counter above that ECU's last and a nonce this
 * vehicle never sent before, are `trusted` (count toward completing an assignment).
 */
export async function verifyManifestReports(o: {
  vehicle: string;
  manifest: VehicleVersionManifest;
  registration: EcuRegistration;
  assignments: AssignmentRecord[];
  store: Pick<DirectorStore, 'lastReportCounter' | 'nonceSeen' | 'firstReportedImage'>;
}): Promise<{ flags: ManifestFlag[]; reports: EcuReportRecord[] }> {
  const flags: ManifestFlag[] = [];
  const reports: EcuReportRecord[] = [];
  const ecus = new Map(o.registration.ecus.map((e) => [e.ecu_serial, e]));
  const byKeyId = new Map(o.registration.ecus.map((e) => [ecuKeyId(e.clientKey), e]));
  const flag = (ecuSerial: string, f: ManifestFlag['flag'], detail: string) =>
    flags.push({ ecuSerial, flag: f, detail });

  for (const [serial, envelope] of Object.entries(o.manifest.ecu_version_manifests)) {
    const report = envelope.signed;
    const image = report.installed_image;
    const record: EcuReportRecord = {
      ecuSerial: serial,
      reportCounter: report.report_counter,
      nonce: report.nonce,
      filepath: image.filepath,
      sha256: image.fileinfo.hashes.sha256,
      trusted: false,
    };
    reports.push(record);
    const ecu = ecus.get(serial);
    if (!ecu) {
      flag(serial, 'ECU_UNKNOWN', 'no such ECU in the registered inventory');
      continue;
    }
    const keyId = ecuKeyId(ecu.clientKey);
    if (envelope.signatures.some((s) => s.keyid === keyId)) {
      try {
        verifyEnvelope(envelope, keyId, ecu.clientKey);
      } catch (error) {
        throw new ServerError(
          'MANIFEST_SIGNATURE_INVALID',
          `the report of ECU ${serial} does not verify under its registered key`,
          { cause: error },
        );
      }
    } else {
      const other = envelope.signatures
        .map((s) => byKeyId.get(s.keyid))
        .find((e) => {
          if (!e) return false;
          try {
            verifyEnvelope(envelope, ecuKeyId(e.clientKey), e.clientKey);
            return true;
          } catch {
            return false;
          }
        });
      flag(
        serial,
        'ECU_KEY_MISMATCH',
        other
          ? `signed by the key of ECU ${other.ecu_serial}, not by this ECU's registered key`
          : "not signed by this ECU's registered key",
      );
      continue;
    }
    let trusted = true;
    const last = await o.store.lastReportCounter(o.vehicle, serial);
    if (last !== undefined && report.report_counter <= last) {
      flag(serial, 'REPORT_COUNTER_REPLAYED', `counter ${report.report_counter} after ${last}`);
      trusted = false;
    }
    if (await o.store.nonceSeen(o.vehicle, report.nonce)) {
      flag(serial, 'NONCE_REPLAYED', 'an earlier manifest of this vehicle carried this nonce');
      trusted = false;
    }
    if (report.attacks_detected !== '') {
      flag(serial, 'ATTACK_REPORTED', report.attacks_detected);
    }
    if (trusted) {
      const factory = await o.store.firstReportedImage(o.vehicle, serial);
      const assigned = o.assignments.some((a) =>
        a.images.some(
          (i) =>
            i.ecuSerial === serial &&
            i.name === image.filepath &&
            i.sha256 === image.fileinfo.hashes.sha256,
        ),
      );
      const isFactory =
        factory === undefined ||
        (factory.filepath === image.filepath && factory.sha256 === image.fileinfo.hashes.sha256);
      if (!assigned && !isFactory) {
        flag(serial, 'IMAGE_NOT_ASSIGNED', `${image.filepath} was never assigned to this ECU`);
      }
    }
    record.trusted = trusted;
  }
  for (const serial of ecus.keys()) {
    if (!(serial in o.manifest.ecu_version_manifests)) {
      flag(serial, 'ECU_MISSING', 'a registered ECU sent no report');
    }
  }
  return { flags, reports };
}
