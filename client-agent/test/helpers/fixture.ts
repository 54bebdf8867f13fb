/**
 * Test world for the agent: a loopback TUF repository, OEM firmware-attestation key, vehicle CA and
 * identity (all generated now with @tufchain/keys), and a provisioned FileSlotStore.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKeySigner,
  createVehicleCa,
  createVehicleIdentity,
  generateKeyPair,
  signFirmwareAttestation,
  type Signer,
  type VehicleCa,
  type VehicleIdentity,
} from '@tufchain/keys';
import type { UpdateOptions } from '../../src/agent.js';
import { createDelta, DELTA_MEDIA_TYPE } from '@tufchain/transparency/delta';
import { FileSlotStore } from '../../src/slots/ab-slots.js';
import type { ReleaseLog, TrustedCheckpoint } from '../../src/verify/chain.js';
import { TestRepository, type Published } from './tuf-repo.js';

export const HARDWARE_ID = 'ecu-gateway-rev-c';
/** The supplier's delegated targets role of `addRelease({ delegated: true })`. */
export const SUPPLIER_ROLE = 'supplier-acme';

export interface ReleaseEntryLike {
  metadataVersion: number;
  metadataHash: string;
  firmware: { digest: string; hardwareId: string; version: number }[];
}

export interface Release {
  name: string;
  image: Buffer;
  sha256: string;
  published: Published;
  entry: ReleaseEntryLike;
}

export interface ReleaseInput {
  version: string;
  releaseCounter: number;
  size?: number;
  image?: Buffer;
  hardwareIds?: string[];
  /** Replaces the Sigstore bundle bytes served for this firmware. */
  attestation?: (bundle: unknown) => unknown;
  /** Sign the attestation with this key instead of the pinned OEM key. */
  attestationSigner?: Signer;
  /** Subject digest claimed by the attestation (default: the image's). */
  attestedSha256?: string;
  /** More fields of the firmware target's `custom` (e.g. `deltas`). */
  custom?: Record<string, unknown>;
  /** Serve a large image from this file instead of memory. */
  file?: { path: string; length: number; sha256: string; sha512: string };
  /**
   * Sign the image and its attestation with the supplier's delegated role (`supplier-acme`,
   * `<hardware ID>/<name>`), found through the server's hint, instead of the top-level targets.
   */
  delegated?: boolean;
  /** The target name (default `gateway-<version>.img`). */
  name?: string;
}

export class Fixture {
  readonly repo = new TestRepository();
  dir = '';
  metadataDir = '';
  stateDir = '';
  slots!: FileSlotStore;
  firmwareSigner!: Signer;
  ca!: VehicleCa;
  identity!: VehicleIdentity;
  vehicleSigner!: Signer;
  factoryImage = Buffer.from('factory image 1.0.0\n');

  static async create(): Promise<Fixture> {
    const f = new Fixture();
    f.dir = await mkdtemp(join(tmpdir(), 'agent-'));
    f.metadataDir = join(f.dir, 'metadata');
    f.stateDir = join(f.dir, 'state');
    f.slots = await FileSlotStore.provision(join(f.dir, 'slots'), {
      image: f.factoryImage,
      name: 'factory.img',
      version: '1.0.0',
      releaseCounter: 1,
    });
    f.firmwareSigner = createKeySigner(generateKeyPair('ecdsa-p256').privateKey);
    f.ca = await createVehicleCa({ commonName: 'Test OEM Vehicle CA' });
    f.identity = await createVehicleIdentity(f.ca, {
      vin: 'WVWZZZ1JZXW000001',
      ecuSerial: 'GW-0001',
    });
    f.vehicleSigner = createKeySigner(f.identity.privateKey);
    await f.repo.start();
    return f;
  }

  get firmwareKey(): { publicKeyPem: string; keyId: string } {
    return { publicKeyPem: this.firmwareSigner.publicKeyPem(), keyId: this.firmwareSigner.keyId };
  }

  /** Adds a firmware target and its attestation target, then publishes new metadata. */
  async addRelease(input: ReleaseInput): Promise<Release> {
    const image = input.file
      ? Buffer.alloc(0)
      : (input.image ?? randomBytes(input.size ?? 64 * 1024));
    const hardwareIds = input.hardwareIds ?? [HARDWARE_ID];
    if (input.delegated && !this.repo.supplier)
      this.repo.delegateSupplier(SUPPLIER_ROLE, hardwareIds);
    const name =
      input.name ?? `${input.delegated ? `${HARDWARE_ID}/` : ''}gateway-${input.version}.img`;
    const sha256 = input.file?.sha256 ?? createHash('sha256').update(image).digest('hex');
    const attestationName = `${name}.sigstore.json`;
    let bundle: unknown = await signFirmwareAttestation(
      {
        name,
        sha256: input.attestedSha256 ?? sha256,
        hardwareIds,
        version: input.version,
        releaseCounter: input.releaseCounter,
      },
      input.attestationSigner ?? this.firmwareSigner,
    );
    if (input.attestation) bundle = input.attestation(bundle);
    const add = input.delegated
      ? this.repo.addSupplierTarget.bind(this.repo)
      : this.repo.addTarget.bind(this.repo);
    add(attestationName, Buffer.from(JSON.stringify(bundle)), { kind: 'attestation' });
    const custom = {
      kind: 'firmware',
      hardwareIds,
      version: input.version,
      releaseCounter: input.releaseCounter,
      attestation: attestationName,
      ...input.custom,
    };
    if (input.file) this.repo.addFileTarget(name, input.file, custom);
    else add(name, image, custom);
    const published = this.repo.publish();
    if (input.delegated) this.repo.hint(HARDWARE_ID, name);
    return {
      name,
      image,
      sha256,
      published,
      entry: {
        metadataVersion: published.snapshotVersion,
        metadataHash: published.snapshotHash,
        firmware: hardwareIds.map((hardwareId) => ({
          digest: '0x' + sha256,
          hardwareId,
          version: input.releaseCounter,
        })),
      },
    };
  }

  /**
   * addRelease, plus the delta from `base` (release `baseVersion`) as the server publishes it: its
   * own TUF target, linked from the image's `custom.deltas`.
   */
  async addDeltaRelease(
    input: ReleaseInput & { image: Buffer },
    base: { release: Release; version: string },
  ): Promise<Release> {
    const name = input.name ?? `gateway-${input.version}.img`;
    const deltaName = `${name}.from-${base.release.sha256.slice(0, 16)}.delta`;
    this.repo.addTarget(deltaName, createDelta(base.release.image, input.image), {
      kind: 'delta',
      format: DELTA_MEDIA_TYPE,
      target: name,
      targetSha256: createHash('sha256').update(input.image).digest('hex'),
      base: {
        sha256: base.release.sha256,
        length: base.release.image.length,
        version: base.version,
      },
    });
    const link = { target: deltaName, baseSha256: base.release.sha256, baseVersion: base.version };
    return this.addRelease({ ...input, name, custom: { ...input.custom, deltas: [link] } });
  }

  options(chain: ReleaseLog, overrides: Partial<UpdateOptions> = {}): UpdateOptions {
    return {
      serverUrl: this.repo.url,
      metadataDir: this.metadataDir,
      stateDir: this.stateDir,
      trustedRootJson: this.repo.rootBytes(1),
      hardwareId: HARDWARE_ID,
      ecuSerial: 'GW-0001',
      chain,
      chainId: 31337,
      firmwareKey: this.firmwareKey,
      slots: this.slots,
      vehicle: {
        signer: this.vehicleSigner,
        certificatePem: this.identity.certificatePem,
        vinCommitment: this.identity.vinCommitment,
      },
      odometerKm: 12345.6,
      sendReports: false,
      config: {
        fetchTimeoutMs: 2000,
        retryBaseDelayMs: 1,
        retryMaxDelayMs: 5,
        fetchRetries: 1,
        downloadResumes: 2,
      },
      ...overrides,
    };
  }

  async activeSlotBytes(): Promise<Buffer> {
    const { readFile } = await import('node:fs/promises');
    const s = await this.slots.readState();
    return (await readFile(this.slots.slotPath(s.active))).subarray(
      0,
      s.slots[s.active]?.length ?? 0,
    );
  }

  async cleanup(): Promise<void> {
    await this.repo.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** An in-memory stand-in for the on-chain log, for unit tests of the agent's decision logic. */
export class MemoryReleaseLog implements ReleaseLog {
  readonly entries: ReleaseEntryLike[] = [];
  readonly recalled = new Set<string>();
  readonly minimums = new Map<string, number>();
  time: TrustedCheckpoint = {
    blockNumber: 10,
    blockHash: '0x' + 'ab'.repeat(32),
    timestamp: Math.floor(Date.now() / 1000),
  };
  failWith: { code: string } | undefined;

  log(entry: ReleaseEntryLike): void {
    this.entries.push(entry);
  }

  async #toLogged(r: ReleaseEntryLike, index: number) {
    const { keccak256, toUtf8Bytes } = await import('ethers');
    return {
      metadataVersion: r.metadataVersion,
      metadataHash: r.metadataHash,
      txHash: '0x' + '11'.repeat(32),
      blockNumber: 5 + index,
      blockHash: '0x' + '22'.repeat(32),
      firmware: r.firmware.map((f) => ({
        digest: f.digest,
        hardwareIdHash: keccak256(toUtf8Bytes(f.hardwareId)),
        version: f.version,
      })),
    };
  }

  async findRelease(metadataHash: string) {
    await Promise.resolve();
    if (this.failWith) throw Object.assign(new Error('chain says no'), this.failWith);
    const index = this.entries.findIndex((e) => e.metadataHash === metadataHash);
    if (index === -1) throw Object.assign(new Error('not logged'), { code: 'METADATA_NOT_LOGGED' });
    return { ...(await this.#toLogged(this.entries[index]!, index)), confirmations: 6 };
  }
  async releases() {
    if (this.failWith) throw Object.assign(new Error('chain says no'), this.failWith);
    return Promise.all(this.entries.map((r, i) => this.#toLogged(r, i)));
  }
  async isRecalled(hash: string): Promise<boolean> {
    await Promise.resolve();
    return this.recalled.has(hash.toLowerCase());
  }
  async minimumVersion(hardwareId: string): Promise<number> {
    await Promise.resolve();
    return this.minimums.get(hardwareId) ?? 0;
  }
  async trustedTime(): Promise<TrustedCheckpoint> {
    await Promise.resolve();
    return this.time;
  }
}
