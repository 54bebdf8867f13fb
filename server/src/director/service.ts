import { createPublicKey, randomBytes } from 'node:crypto';
import { canonicalJson } from '@tufchain/transparency';
import {
  verifyEnvelope,
  type EcuRegistration,
  type SignedEnvelope,
  type VehicleVersionManifest,
} from '@tufchain/transparency/wire';
import type { Logger } from 'pino';
import type { Clock } from '../config.js';
import { ServerError } from '../error.js';
import type { RepositoryStore } from '../storage/store.js';
import { sha256Hex } from '../tuf/signer.js';
import type { RepositoryService } from '../tuf/service.js';
import { ecuKeyId, verifyManifestReports } from './manifest.js';
import { assertLoggable } from '../log/loggable.js';
import { directorLogEntry } from './metadata.js';
import type { DirectorRepository } from './repository.js';
import type {
  AssignedImage,
  AuthenticatedVehicle,
  AssignmentRecord,
  AssignmentStatus,
  DirectorMetadataRecord,
  DirectorStore,
  InventoryVersion,
  ManifestRecord,
} from './store.js';

export interface AssignmentRequest {
  vehicle: string;
  images: { ecuSerial: string; name: string }[];
  /** Default: true when more than one image is assigned. */
  atomic?: boolean | undefined;
  /** Campaigns pass their own (`urn:tufchain:campaign:…`); default a fresh assignment URN. */
  correlationId?: string | undefined;
}

export interface ManifestOutcome {
  record: ManifestRecord;
  created: boolean;
  targetsVersion: number | null;
}

/**
 * The Director's business: ECU inventories, assignments and vehicle version manifests, over the
 * DirectorRepository that signs and serves each vehicle's metadata.
 */
export class DirectorService {
  readonly repository: DirectorRepository;
  readonly #store: DirectorStore;
  readonly #repoStore: RepositoryStore;
  readonly #images: RepositoryService;
  readonly #clock: Clock;
  readonly #logger: Logger;

  constructor(o: {
    repository: DirectorRepository;
    store: DirectorStore;
    repositoryStore: RepositoryStore;
    images: RepositoryService;
    clock: Clock;
    logger: Logger;
  }) {
    this.repository = o.repository;
    this.#store = o.store;
    this.#repoStore = o.repositoryStore;
    this.#images = o.images;
    this.#clock = o.clock;
    this.#logger = o.logger;
  }

  get store(): DirectorStore {
    return this.#store;
  }

  async #activeAssignment(vehicle: string): Promise<AssignmentRecord | undefined> {
    return (await this.#store.assignments({ vehicle, status: 'active' }))[0];
  }

  /** Makes the vehicle's metadata current (lazily re-signs what expires) and returns nothing. */
  refreshVehicle(vehicle: string): Promise<void> {
    return this.repository.serialize(async () => {
      await this.repository.refresh(vehicle, await this.#activeAssignment(vehicle));
    });
  }

  // ---------------------------------------------------------------- ECU inventory

  /**
   * Registers the vehicle's ECUs (OTA-CE DeviceRegistration). The primary is the ECU of the
   * vehicle certificate that signed the request, with that certificate's key. Registering the same
   * inventory again changes nothing (`changed: false`); any change is a new, kept version.
   */
  registerEcus(
    vehicle: AuthenticatedVehicle,
    registration: EcuRegistration,
  ): Promise<{ version: number; changed: boolean }> {
    if (registration.primary_ecu_serial !== vehicle.ecuSerial) {
      throw new ServerError(
        'ECU_REGISTRATION_INVALID',
        `the primary ECU is ${vehicle.ecuSerial}, the ECU of the vehicle certificate`,
      );
    }
    const primary = registration.ecus.find((e) => e.ecu_serial === registration.primary_ecu_serial);
    if (!primary || !sameKey(primary.clientKey, vehicle.publicKeyPem)) {
      throw new ServerError(
        'ECU_REGISTRATION_INVALID',
        "the primary's clientKey must be the key of the vehicle certificate",
      );
    }
    const normalized: EcuRegistration = {
      primary_ecu_serial: registration.primary_ecu_serial,
      ecus: registration.ecus.map((e) => ({
        ...e,
        primary: e.ecu_serial === registration.primary_ecu_serial,
        verification: e.verification ?? 'full',
      })),
    };
    return this.repository.serialize(async () => {
      const latest = await this.#store.latestInventory(vehicle.vinCommitment);
      if (latest && canonicalJson(latest.registration) === canonicalJson(normalized)) {
        return { version: latest.version, changed: false };
      }
      const appended = await this.#store.appendInventory(
        {
          vehicle: vehicle.vinCommitment,
          registration: normalized,
          signerSerial: vehicle.serialNumber,
          createdAt: this.#clock().toISOString(),
        },
        latest?.version ?? 0,
      );
      this.#logger.info(
        { vehicle: vehicle.vinCommitment, version: appended.version, ecus: normalized.ecus.length },
        'ECU inventory registered',
      );
      return { version: appended.version, changed: true };
    });
  }

  inventoryHistory(vehicle: string): Promise<InventoryVersion[]> {
    return this.#store.inventoryHistory(vehicle);
  }

  /**
   * Every targets version served to a vehicle, oldest first, with the salt that opens its log
   * entry's ECU commitments (OEM auditors only). VEHICLE_NOT_FOUND for a vehicle the Director
   * has neither an inventory nor metadata for.
   */
  async targetsOpenings(vehicle: string): Promise<DirectorMetadataRecord[]> {
    const versions = await this.#store.publishedDirectorTargets(vehicle);
    if (versions.length === 0 && !(await this.#store.latestInventory(vehicle))) {
      throw new ServerError('VEHICLE_NOT_FOUND', 'the Director knows no such vehicle');
    }
    return versions;
  }

  // ---------------------------------------------------------------- assignments

  /**
   * Assigns image-repository images to ECUs of one vehicle and signs (and logs) the vehicle's
   * next targets version. Refuses an ECU the inventory does not hold (ECU_UNKNOWN), an image the
   * image repository does not serve (IMAGE_NOT_IN_REPOSITORY), an image whose hardware IDs do not
   * include the ECU's (HARDWARE_ID_MISMATCH), and a vehicle with an active assignment.
   */
  async assign(request: AssignmentRequest, createdBy: string): Promise<AssignmentRecord> {
    const serials = new Set<string>();
    for (const i of request.images) {
      if (serials.has(i.ecuSerial)) {
        throw new ServerError('INVALID_REQUEST', `ECU ${i.ecuSerial} is assigned twice`);
      }
      serials.add(i.ecuSerial);
    }
    const inventory = await this.#store.latestInventory(request.vehicle);
    if (!inventory) {
      throw new ServerError('ECU_UNKNOWN', 'this vehicle has registered no ECUs');
    }
    const images: AssignedImage[] = [];
    for (const wanted of request.images) {
      const ecu = inventory.registration.ecus.find((e) => e.ecu_serial === wanted.ecuSerial);
      if (!ecu) {
        throw new ServerError('ECU_UNKNOWN', `the vehicle has no ECU ${wanted.ecuSerial}`);
      }
      images.push(await this.#imageFor(wanted.name, ecu.hardware_identifier, ecu.ecu_serial));
    }
    const correlationId =
      request.correlationId ?? `urn:tufchain:assignment:${randomBytes(16).toString('hex')}`;
    assertLoggable(
      directorLogEntry({
        vehicle: request.vehicle,
        version: 1,
        targetsSha256: '0'.repeat(64),
        assignment: { correlationId, images },
        ecuSalt: new Uint8Array(32),
      }),
    );
    return this.repository.serialize(async () => {
      if (await this.#activeAssignment(request.vehicle)) {
        throw new ServerError(
          'VEHICLE_ALREADY_ASSIGNED',
          'this vehicle has an active assignment; cancel it or wait for it to complete',
        );
      }
      if (await this.#store.assignmentByCorrelationId(correlationId)) {
        throw new ServerError('CORRELATION_ID_REUSED', `${correlationId} is taken`);
      }
      const record = await this.#store.insertAssignment({
        vehicle: request.vehicle,
        correlationId,
        atomic: request.atomic ?? images.length > 1,
        status: 'active',
        images,
        createdBy,
        createdAt: this.#clock().toISOString(),
      });
      await this.repository.refresh(request.vehicle, record, { newTargets: true });
      this.#logger.info(
        { assignment: record.id, vehicle: record.vehicle, images: images.length },
        'Director assignment made',
      );
      return record;
    });
  }

  /**
   * An image-repository firmware image for a hardware ID, as an assignment would list it: the
   * same checks (IMAGE_NOT_IN_REPOSITORY, HARDWARE_ID_MISMATCH), for callers that plan
   * assignments before making them (campaigns).
   */
  resolveImage(name: string, hardwareId: string): Promise<AssignedImage> {
    return this.#imageFor(name, hardwareId, '(any)');
  }

  async #imageFor(name: string, hardwareId: string, ecuSerial: string): Promise<AssignedImage> {
    const located = await this.#images.findTarget(name);
    const file = located?.file;
    const custom = (file?.custom ?? {}) as {
      kind?: unknown;
      hardwareIds?: unknown;
      releaseCounter?: unknown;
    };
    const sha256 = file?.hashes.sha256;
    if (
      !file ||
      custom.kind !== 'firmware' ||
      typeof sha256 !== 'string' ||
      (await this.#repoStore.revokedDigest(sha256))
    ) {
      throw new ServerError(
        'IMAGE_NOT_IN_REPOSITORY',
        `the image repository serves no firmware ${name}`,
      );
    }
    const hardwareIds = Array.isArray(custom.hardwareIds) ? custom.hardwareIds : [];
    if (!hardwareIds.includes(hardwareId)) {
      throw new ServerError(
        'HARDWARE_ID_MISMATCH',
        `${name} is not for ${hardwareId}, the hardware of ECU ${ecuSerial}`,
      );
    }
    const sha512 = file.hashes.sha512;
    return {
      ecuSerial,
      hardwareId,
      name,
      length: file.length,
      sha256,
      ...(typeof sha512 === 'string' ? { sha512 } : {}),
      releaseCounter: typeof custom.releaseCounter === 'number' ? custom.releaseCounter : 0,
    };
  }

  async assignment(id: number): Promise<AssignmentRecord> {
    const record = await this.#store.assignment(id);
    if (!record) throw new ServerError('ASSIGNMENT_NOT_FOUND', `no assignment ${id}`);
    return record;
  }

  assignments(filter: {
    vehicle?: string;
    status?: AssignmentStatus;
  }): Promise<AssignmentRecord[]> {
    return this.#store.assignments(filter);
  }

  /** Cancels an active assignment; the vehicle's next targets version lists nothing. */
  cancel(id: number): Promise<AssignmentRecord> {
    return this.repository.serialize(async () => {
      const record = await this.assignment(id);
      if (record.status !== 'active') {
        throw new ServerError('ASSIGNMENT_NOT_ACTIVE', `assignment ${id} is ${record.status}`);
      }
      const updatedAt = this.#clock().toISOString();
      await this.#store.setAssignmentStatus(id, 'cancelled', updatedAt);
      await this.repository.refresh(record.vehicle, undefined, { newTargets: true });
      return { ...record, status: 'cancelled', updatedAt };
    });
  }

  // ---------------------------------------------------------------- manifests

  /**
   * Records a vehicle version manifest: the primary's signature must verify under the primary's
   * registered key, and every ECU report signed with its ECU's registered key id must verify
   * (else MANIFEST_SIGNATURE_INVALID, nothing recorded); everything else is recorded with
   * per-ECU flags. The active assignment completes when every one of its ECUs reports its image.
   */
  submitManifest(
    vehicle: AuthenticatedVehicle,
    manifest: SignedEnvelope<VehicleVersionManifest>,
  ): Promise<ManifestOutcome> {
    if (manifest.signed.vehicle !== vehicle.vinCommitment) {
      throw new ServerError(
        'MANIFEST_VEHICLE_MISMATCH',
        'the manifest names another vehicle than the request signer',
      );
    }
    return this.repository.serialize(async () => {
      const inventory = await this.#store.latestInventory(vehicle.vinCommitment);
      if (!inventory) throw new ServerError('ECU_UNKNOWN', 'this vehicle has registered no ECUs');
      const registration = inventory.registration;
      if (manifest.signed.primary_ecu_serial !== registration.primary_ecu_serial) {
        throw new ServerError(
          'MANIFEST_VEHICLE_MISMATCH',
          `the registered primary is ${registration.primary_ecu_serial}`,
        );
      }
      const primary = registration.ecus.find((e) => e.primary === true)!;
      try {
        verifyEnvelope(manifest, ecuKeyId(primary.clientKey), primary.clientKey);
      } catch (error) {
        throw new ServerError(
          'MANIFEST_SIGNATURE_INVALID',
          "the manifest does not carry a valid signature by the primary's registered key",
          { cause: error },
        );
      }
      const manifestSha256 = sha256Hex(Buffer.from(canonicalJson(manifest)));
      const seen = await this.#store.manifestBySha256(manifestSha256);
      if (seen) return { record: seen, created: false, targetsVersion: null };

      const assignments = await this.#store.assignments({ vehicle: vehicle.vinCommitment });
      const { flags, reports } = await verifyManifestReports({
        vehicle: vehicle.vinCommitment,
        manifest: manifest.signed,
        registration,
        assignments,
        store: this.#store,
      });
      const active = assignments.find((a) => a.status === 'active');
      const completed =
        active &&
        active.images.every((image) =>
          reports.some(
            (r) =>
              r.trusted &&
              r.ecuSerial === image.ecuSerial &&
              r.filepath === image.name &&
              r.sha256 === image.sha256,
          ),
        )
          ? [active.id]
          : [];
      const receivedAt = this.#clock().toISOString();
      let record: ManifestRecord;
      try {
        record = await this.#store.insertManifest(
          {
            vehicle: vehicle.vinCommitment,
            manifestSha256,
            manifest,
            flags,
            completedAssignments: completed,
            receivedAt,
          },
          reports,
        );
      } catch (error) {
        // Another replica recorded the same manifest meanwhile: answered as a duplicate.
        const raced =
          error instanceof ServerError && error.code === 'MANIFEST_ALREADY_RECORDED'
            ? await this.#store.manifestBySha256(manifestSha256)
            : undefined;
        if (raced) return { record: raced, created: false, targetsVersion: null };
        throw error;
      }
      let targetsVersion: number | null = null;
      if (active && completed.length > 0) {
        await this.#store.setAssignmentStatus(active.id, 'completed', receivedAt, record.id);
        await this.repository.refresh(vehicle.vinCommitment, undefined, { newTargets: true });
        targetsVersion =
          (await this.repository.metadata(vehicle.vinCommitment, 'targets'))?.version ?? null;
      }
      if (flags.length > 0) {
        this.#logger.warn(
          { vehicle: vehicle.vinCommitment, manifest: record.id, flags: flags.map((f) => f.flag) },
          'vehicle manifest flagged',
        );
      }
      return { record, created: true, targetsVersion };
    });
  }

  manifests(vehicle: string): Promise<ManifestRecord[]> {
    return this.#store.manifests(vehicle);
  }
}

/** Whether a TUF ECDSA clientKey holds the same public key as an SPKI PEM. */
function sameKey(key: EcuRegistration['ecus'][number]['clientKey'], spkiPem: string): boolean {
  if (key.keytype !== 'ecdsa') return false;
  try {
    const a = createPublicKey(key.keyval.public).export({ type: 'spki', format: 'der' });
    const b = createPublicKey(spkiPem).export({ type: 'spki', format: 'der' });
    return a.equals(b);
  } catch {
    return false;
  }
}
