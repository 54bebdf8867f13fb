import type { VehicleAttributes } from './attributes.js';

/** One ECU as the Director knows it: from the latest inventory and the latest trusted report. */
export interface FleetEcu {
  ecuSerial: string;
  hardwareId: string;
  /** The image its latest trusted (signed, not replayed) version report names; null if none yet. */
  installed: { name: string; sha256: string } | null;
}

/**
 * A vehicle of the registry: known to the server by its VIN commitment (an enrolled certificate
 * or an ECU inventory), with what the OEM set and what signed data says.
 */
export interface FleetVehicle {
  vehicle: string;
  attributes: VehicleAttributes | null;
  /** Sorted by serial; empty until the vehicle registers its ECUs with the Director. */
  ecus: FleetEcu[];
}
