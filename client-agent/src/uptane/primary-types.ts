/** The primary's options, result and per-cycle state (`Cycle`), shared by its modules. */
import type { Config } from '../config.js';
import type { VehicleCredentials } from '../report/attestation.js';
import type { SlotImage, SlotName, SlotStore } from '../slots/slot-store.js';
import type { RequestSigner } from '../tuf/fetcher.js';
import type { createDispatcher } from '../util/http.js';
import type { FirmwareKey } from '../verify/attestation.js';
import type { ReleaseLog } from '../verify/chain.js';
import type { AtomicJournalStore, LocalEcu } from './atomic.js';
import { type AtomicRun, type EcuOutcome } from './atomic.js';
import type { RemoteEcu } from './ecu.js';
import { type EcuEndpoint, type PinnedEcuKey } from './ecu.js';
import type { ManifestDelivery } from './manifest-outbox.js';
import type { SecondaryTransport } from './transport.js';
import type { LogTrust } from './verify-vehicle.js';

export interface SecondaryEcuConfig {
  ecuSerial: string;
  hardwareId: string;
  verification: 'full' | 'partial';
  /** The secondary's registered key (UPTANE.md clientKey) and its TUF key id. */
  key: PinnedEcuKey;
  transport: SecondaryTransport;
}

export interface VehicleUpdateOptions {
  /** The update server: image repository at /metadata and /targets, Director at /director. */
  serverUrl: string;
  /** The server of the Director (/director/…, /api/v1/director/…), if not serverUrl. */
  directorUrl?: string;
  image: { metadataDir: string; trustedRootJson: Uint8Array };
  director: { metadataDir: string; trustedRootJson: Uint8Array };
  chain: ReleaseLog;
  firmwareKey: FirmwareKey;
  /** The vehicle key and certificate: the primary ECU's key, Director request signatures. */
  vehicle: VehicleCredentials;
  primary: {
    ecuSerial: string;
    hardwareId: string;
    slots: SlotStore;
    healthCheck?: (slot: SlotName, image: SlotImage) => Promise<boolean>;
  };
  secondaries: readonly SecondaryEcuConfig[];
  /** The transparency log's pinned key(s): Director metadata needs its signed promise. */
  transparencyLog: LogTrust;
  stateDir: string;
  /** Send the signed vehicle version manifest to the Director (default true). */
  sendManifest?: boolean;
  /** Send the queued install reports at the end of the cycle (default true). */
  sendReports?: boolean;
  /** Chain ID recorded in install reports (default: the reader's `chainId`). */
  chainId?: number;
  odometerKm?: number;
  clock?: () => Date;
  onProgress?: (received: number, total: number) => void;
  config?: Partial<Config>;
}

export interface VehicleUpdateResult {
  status: 'UPDATED' | 'UP_TO_DATE' | 'ROLLED_BACK';
  /** Why the set rolled back (the culprit's code). */
  code?: string;
  director: { targetsVersion: number; targetsHash: string; correlationId: string | null };
  ecus: EcuOutcome[];
  /** What an earlier, interrupted set was brought to first. */
  recovered?: AtomicRun;
  /** The signed vehicle version manifest: sent, or kept for the next cycle (MANIFEST_REJECTED). */
  manifest?: ManifestDelivery;
  /** One signed install report per ECU of the set (and of a recovered set), queued durably. */
  reports?: { id: string; ecuSerial: string; sent: boolean }[];
}

export interface Cycle {
  opts: VehicleUpdateOptions;
  cfg: Config;
  signRequest: RequestSigner;
  dispatcher: ReturnType<typeof createDispatcher>;
  now: () => Date;
  local: LocalEcu;
  remotes: RemoteEcu[];
  journal: AtomicJournalStore;
}

export function directorBase(opts: VehicleUpdateOptions): string {
  return (opts.directorUrl ?? opts.serverUrl).replace(/\/+$/, '');
}

export function endpoints(c: Cycle): EcuEndpoint[] {
  return [c.local, ...c.remotes];
}
