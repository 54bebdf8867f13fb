import { verifyEnvelope } from '@tufchain/transparency/wire';
import { ecuKeyId } from '../director/manifest.js';
import type { DirectorStore } from '../director/store.js';
import { ServerError } from '../error.js';
import type { InstallClaims } from './verifier.js';

const bareHex = (h: string): string => h.toLowerCase().replace(/^0x/, '');

/**
 * The Uptane check of an install report that carries an ECU's own signed result (`ecuResult`,
 * transparency/UPTANE.md): the result must verify under the key that ECU registered in the
 * vehicle's Director inventory (ECU_RESULT_SIGNATURE_INVALID: no Director, no such ECU, another
 * key, a bad signature) and say what the report says (ECU_RESULT_MISMATCH: another ECU, image,
 * correlation ID, or success where the ECU did not report one).
 */
export async function checkEcuResult(
  claims: InstallClaims,
  director: Pick<DirectorStore, 'latestInventory'> | undefined,
): Promise<void> {
  const report = claims.ecuResult;
  if (!report) return;
  const serial = claims.ecuSerial;
  const signatureInvalid = (why: string, cause?: unknown) =>
    new ServerError(
      'ECU_RESULT_SIGNATURE_INVALID',
      `the result of ECU ${serial} ${why}`,
      cause === undefined ? undefined : { cause },
    );
  if (!director) throw signatureInvalid('cannot be checked: this server runs no Director');
  const inventory = await director.latestInventory(claims.vinCommitment);
  const ecu = inventory?.registration.ecus.find((e) => e.ecu_serial === serial);
  if (!ecu)
    throw signatureInvalid('is not signed by a registered key: the vehicle has no such ECU');
  try {
    verifyEnvelope(report.ecuResult, ecuKeyId(ecu.clientKey), ecu.clientKey);
  } catch (error) {
    throw signatureInvalid("does not verify under that ECU's registered key", error);
  }
  const signed = report.ecuResult.signed;
  const mismatch =
    signed.ecu_serial !== serial
      ? `names ECU ${signed.ecu_serial}`
      : signed.target.filepath !== report.to.name ||
          signed.target.fileinfo.hashes.sha256 !== bareHex(report.to.digest)
        ? `names image ${signed.target.filepath} (${signed.target.fileinfo.hashes.sha256})`
        : signed.correlation_id !== report.director.correlationId
          ? `names correlation ID ${String(signed.correlation_id)}`
          : (signed.result === 'SUCCESS') !== (report.result === 'SUCCESS')
            ? `says ${signed.result}, the report ${report.result}`
            : undefined;
  if (mismatch !== undefined) {
    throw new ServerError(
      'ECU_RESULT_MISMATCH',
      `the signed result of ECU ${serial} ${mismatch}: not what the report says`,
    );
  }
}
