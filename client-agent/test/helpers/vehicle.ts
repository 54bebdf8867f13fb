/**
 * A test vehicle for the Uptane tests: the fixture's image repository and primary slots, the test
 * Director beside it, and secondaries, each with its own ed25519 key, A/B slots and state, served
 * over real loopback TCP by a Secondary (in this process for the attack tables; the crash test and
 * the bench start them as processes with `tufchain-agent secondary`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { createKeySigner, generateKeyPair, type Signer } from '@tufchain/keys';
import { FileSlotStore } from '../../src/slots/ab-slots.js';
import type { SlotImage, SlotName } from '../../src/slots/slot-store.js';
import type { VehicleUpdateOptions } from '../../src/uptane/primary.js';
import { Secondary } from '../../src/uptane/secondary.js';
import { formatAddress, listenSecondary, SocketTransport } from '../../src/uptane/transport.js';
import type { ReleaseLog } from '../../src/verify/chain.js';
import { Fixture, type Release } from './fixture.js';
import { LOG_ORIGIN, TestDirector, type DirectorImage } from './test-director.js';
import { sha512hex } from './tuf-repo.js';

export const PRIMARY = { serial: 'GW-0001', hardwareId: 'ecu-gateway-rev-c' };

export interface TestSecondary {
  serial: string;
  hardwareId: string;
  verification: 'full' | 'partial';
  signer: Signer;
  slots: FileSlotStore;
  stateDir: string;
  secondary?: Secondary;
  server?: Server;
  address: string;
  /** Set to make its next health checks fail. */
  unhealthy: boolean;
}

export class TestVehicle {
  f!: Fixture;
  director!: TestDirector;
  chainVehicle!: ReturnType<TestDirector['enroll']>;
  secondaries: TestSecondary[] = [];
  primaryUnhealthy = false;

  static async create(
    secondaries: { serial: string; hardwareId: string; verification: 'full' | 'partial' }[],
    chain?: ReleaseLog,
  ): Promise<TestVehicle> {
    const v = new TestVehicle();
    v.f = await Fixture.create();
    v.director = new TestDirector(v.f.repo);
    v.chainVehicle = v.director.enroll(v.f.identity.certificatePem, v.f.identity.vinCommitment);
    for (const s of secondaries) {
      const dir = join(v.f.dir, 'ecu', s.serial);
      const slots = await FileSlotStore.provision(join(dir, 'slots'), {
        image: Buffer.from(`factory ${s.serial}\n`),
        name: 'factory.img',
        version: '1.0.0',
        releaseCounter: 1,
      });
      const stateDir = join(dir, 'state');
      await mkdir(stateDir, { recursive: true });
      v.secondaries.push({
        ...s,
        signer: createKeySigner(generateKeyPair('ed25519').privateKey),
        slots,
        stateDir,
        address: '',
        unhealthy: false,
      });
    }
    if (chain) for (const s of v.secondaries) await v.serve(s, chain);
    return v;
  }

  /** Starts the secondary in this process, on loopback TCP. */
  async serve(s: TestSecondary, chain: ReleaseLog): Promise<void> {
    s.secondary = new Secondary({
      ecuSerial: s.serial,
      hardwareId: s.hardwareId,
      verification: s.verification,
      signer: s.signer,
      slots: s.slots,
      stateDir: s.stateDir,
      directorRootJson: this.director.rootBytes,
      ...(s.verification === 'full'
        ? {
            full: {
              imageRootJson: this.f.repo.rootBytes(1),
              chain,
              vehicleCommitment: this.f.identity.vinCommitment,
              log: { logKeys: [this.director.logKey], origin: LOG_ORIGIN },
            },
          }
        : {}),
      healthCheck: () => Promise.resolve(!s.unhealthy),
      config: { maxBootAttempts: 3 },
    });
    const secondary = s.secondary;
    const { server, address } = await listenSecondary({ host: '127.0.0.1', port: 0 }, () =>
      secondary.session(),
    );
    s.server = server;
    s.address = formatAddress(address);
  }

  /** A firmware release for `hardwareId`, published and logged. */
  async release(
    log: (r: Release) => Promise<void>,
    hardwareId: string,
    version: string,
    releaseCounter: number,
    size = 32 * 1024,
  ): Promise<Release & DirectorImageBase> {
    const r = await this.f.addRelease({
      version,
      releaseCounter,
      hardwareIds: [hardwareId],
      name: `${hardwareId}-${version}.img`,
      size,
    });
    await log(r);
    return { ...r, length: r.image.length, sha512: sha512hex(r.image), releaseCounter };
  }

  options(chain: ReleaseLog, overrides: Partial<VehicleUpdateOptions> = {}): VehicleUpdateOptions {
    return {
      serverUrl: this.f.repo.url,
      image: {
        metadataDir: join(this.f.dir, 'md-image'),
        trustedRootJson: this.f.repo.rootBytes(1),
      },
      director: {
        metadataDir: join(this.f.dir, 'md-director'),
        trustedRootJson: this.director.rootBytes,
      },
      chain,
      firmwareKey: this.f.firmwareKey,
      vehicle: {
        signer: this.f.vehicleSigner,
        certificatePem: this.f.identity.certificatePem,
        vinCommitment: this.f.identity.vinCommitment,
      },
      primary: {
        ecuSerial: PRIMARY.serial,
        hardwareId: PRIMARY.hardwareId,
        slots: this.f.slots,
        healthCheck: (_slot: SlotName, _image: SlotImage) =>
          Promise.resolve(!this.primaryUnhealthy),
      },
      secondaries: this.secondaries.map((s) => ({
        ecuSerial: s.serial,
        hardwareId: s.hardwareId,
        verification: s.verification,
        key: { keyId: s.signer.keyId, publicKey: s.signer.publicKey as never },
        transport: new SocketTransport(s.address),
      })),
      transparencyLog: { logKeys: [this.director.logKey], origin: LOG_ORIGIN },
      stateDir: join(this.f.dir, 'primary-state'),
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

  /** Every ECU's active image sha256, by serial (primary first). */
  async activeImages(): Promise<Record<string, string | undefined>> {
    const out: Record<string, string | undefined> = {};
    for (const [serial, slots] of [
      [PRIMARY.serial, this.f.slots] as const,
      ...this.secondaries.map((s) => [s.serial, s.slots] as const),
    ]) {
      const st = await slots.readState();
      out[serial] = st.slots[st.active]?.sha256;
      const bytes = await readFile(slots.slotPath(st.active));
      const held = createHash('sha256')
        .update(bytes.subarray(0, st.slots[st.active]?.length ?? 0))
        .digest('hex');
      if (held !== out[serial]) out[serial] = `UNVERIFIED:${held}`;
    }
    return out;
  }

  async stop(): Promise<void> {
    for (const s of this.secondaries) {
      s.server?.close();
    }
    await this.f.cleanup();
  }
}

interface DirectorImageBase {
  length: number;
  sha512: string;
  releaseCounter: number;
}

export function assignment(
  ecu: { serial: string; hardwareId: string },
  r: { name: string; length: number; sha256: string; sha512: string; releaseCounter: number },
): DirectorImage {
  return {
    ecuSerial: ecu.serial,
    hardwareId: ecu.hardwareId,
    name: r.name,
    length: r.length,
    sha256: r.sha256,
    sha512: r.sha512,
    releaseCounter: r.releaseCounter,
  };
}

export const randomImage = (n: number): Buffer => randomBytes(n);
