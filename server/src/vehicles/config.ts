/** Durations are in days unless the name says otherwise. */
export interface VehicleEnrollmentConfig {
  /** Validity of a certificate issued at enrollment or re-enrollment. */
  certificateValidDays: number;
  /** A vehicle may renew its certificate itself from this many days before notAfter on. */
  renewBeforeDays: number;
  /**
   * How long after notAfter an expired certificate still authenticates a re-enrollment (and its
   * install reports are still accepted, flagged). Past this, a workshop re-enrolls the vehicle
   * with a factory token.
   */
  reenrollGraceDays: number;
  /**
   * Install reports must come from a certificate this server enrolled. Turn off only while
   * vehicles provisioned offline (PKCS#12 from the factory line) are still in the field.
   */
  requireEnrollment: boolean;
  /** nextUpdate of each CRL = thisUpdate + this. */
  crlValidityDays: number;
  /** A served CRL older than this is replaced by a fresh one (new CRL number). */
  crlRefreshSeconds: number;
  /** Cache-Control max-age of the CRL routes. */
  crlMaxAgeSeconds: number;
}

export const defaultVehicleEnrollmentConfig: VehicleEnrollmentConfig = {
  certificateValidDays: 3 * 365,
  renewBeforeDays: 30,
  reenrollGraceDays: 2 * 365,
  requireEnrollment: true,
  crlValidityDays: 7,
  crlRefreshSeconds: 24 * 60 * 60,
  crlMaxAgeSeconds: 60,
};

export function resolveVehicleEnrollmentConfig(
  input: Partial<VehicleEnrollmentConfig> = {},
): VehicleEnrollmentConfig {
  return { ...defaultVehicleEnrollmentConfig, ...input };
}
