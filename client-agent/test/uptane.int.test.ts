/**
 * The Uptane primary and its secondaries against real parts: anvil with the TufchainLog contract,
 * the image repository and the test Director on loopback HTTP, secondaries on loopback TCP with
 * their own keys, slots and state. Every attack row asserts its code AND that no ECU's active
 * slot changed.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createKeySigner, createVehicleIdentity, generateKeyPair } from '@tufchain/keys';
import { verifyStatementBundle } from '@tufchain/keys';
import {
  parseInstallPredicate,
  verifyEnvelope,
  type InstallPredicate,
} from '@tufchain/transparency/wire';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runVehicleUpdate } from '../src/uptane/primary.js';
import { SocketTransport, formatAddress, listenSecondary } from '../src/uptane/transport.js';
import { TestChain } from './helpers/chain.js';
import type { Release } from './helpers/fixture.js';
import { sha256hex, sha512hex } from './helpers/tuf-repo.js';
import { assignment, PRIMARY, TestVehicle } from './helpers/vehicle.js';

const BRAKE = { serial: 'BRK-0042', hardwareId: 'brake-b7', verification: 'partial' as const };
const IVI = { serial: 'IVI-0007', hardwareId: 'infotainment-i3', verification: 'full' as const };

let chain: TestChain;
let v: TestVehicle;
let snapshot: string;
type Rel = Awaited<ReturnType<TestVehicle['release']>>;
let gw: Rel;
let brake: Rel;
let ivi: Rel;

beforeAll(async () => {
  chain = await TestChain.start();
});
afterAll(async () => {
  await chain.stop();
});
beforeEach(async () => {
  snapshot = await chain.snapshot();
  v = await TestVehicle.create([BRAKE, IVI], chain.reader());
  const log = (r: Release) => chain.log(r.entry);
  gw = await v.release(log, PRIMARY.hardwareId, '2.0.0', 2);
  brake = await v.release(log, BRAKE.hardwareId, '2.4.0', 12);
  ivi = await v.release(log, IVI.hardwareId, '5.0.0', 50);
});
afterEach(async () => {
  await v.stop();
  await chain.revert(snapshot);
});

const all = () => [assignment(PRIMARY, gw), assignment(BRAKE, brake), assignment(IVI, ivi)];

async function expectRefused(wantCode: string, run: () => Promise<unknown>): Promise<void> {
  const before = await v.activeImages();
  await expect(run()).rejects.toMatchObject({ code: wantCode });
  expect(await v.activeImages()).toEqual(before);
}

describe('runVehicleUpdate', () => {
  describe('when both repositories, the chain and the log agree', () => {
    it('installs the set on the primary, a partial and a full secondary, and reports it signed', async () => {
      const reportsReceived: unknown[] = [];
      v.f.repo.overrides.set('/api/v1/attestations', (_req, res, body) => {
        reportsReceived.push(JSON.parse(String(body)) as unknown);
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ inclusion: { status: 'PROMISED', index: reportsReceived.length - 1 } }),
        );
      });
      await v.director.assign(v.chainVehicle, all());
      const result = await runVehicleUpdate(v.options(chain.reader()));
      expect(result.status).toBe('UPDATED');
      expect(await v.activeImages()).toEqual({
        [PRIMARY.serial]: gw.sha256,
        [BRAKE.serial]: brake.sha256,
        [IVI.serial]: ivi.sha256,
      });
      expect(result.ecus.map((e) => [e.serial, e.outcome])).toEqual([
        [PRIMARY.serial, 'COMMITTED'],
        [BRAKE.serial, 'COMMITTED'],
        [IVI.serial, 'COMMITTED'],
      ]);
      for (const s of v.secondaries) {
        const outcome = result.ecus.find((e) => e.serial === s.serial);
        expect(outcome?.result?.signed.result).toBe('SUCCESS');
        expect(() =>
          verifyEnvelope(outcome?.result as never, s.signer.keyId, s.signer.publicKey),
        ).not.toThrow();
      }
      expect(result.manifest?.sent).toBe(true);
      const [received] = v.director.manifests;
      expect(received?.primaryVerified).toBe(true);
      const signed = (received?.manifest as { signed: { ecu_version_manifests: object } }).signed;
      expect(Object.keys(signed.ecu_version_manifests).sort()).toEqual(
        [PRIMARY.serial, BRAKE.serial, IVI.serial].sort(),
      );

      // One install report per ECU, signed by the vehicle, each naming the Director targets and,
      // for a secondary, carrying that ECU's own signed result.
      expect(result.reports?.map((r) => [r.ecuSerial, r.sent])).toEqual([
        [PRIMARY.serial, true],
        [BRAKE.serial, true],
        [IVI.serial, true],
      ]);
      expect(reportsReceived).toHaveLength(3);
      for (const [i, bundle] of reportsReceived.entries()) {
        const { predicate } = (await verifyStatementBundle(bundle, {
          caCertificatePem: v.f.ca.certificatePem,
        })) as { predicate: InstallPredicate };
        const serial = [PRIMARY.serial, BRAKE.serial, IVI.serial][i];
        expect(parseInstallPredicate(predicate)).toMatchObject({
          ecu: { serial },
          result: 'SUCCESS',
          director: {
            targetsVersion: result.director.targetsVersion,
            targetsHash: result.director.targetsHash,
            correlationId: result.director.correlationId,
          },
        });
        const s = v.secondaries.find((x) => x.serial === serial);
        if (!s) expect(predicate.ecuResult).toBeUndefined();
        else
          expect(() =>
            verifyEnvelope(predicate.ecuResult as never, s.signer.keyId, s.signer.publicKey),
          ).not.toThrow();
      }

      const again = await runVehicleUpdate(v.options(chain.reader()));
      expect(again.status).toBe('UP_TO_DATE');
      expect(reportsReceived).toHaveLength(3);
    });
  });

  describe('when newer releases are logged than the Director assigns (a staged rollout)', () => {
    it('installs what the Director chose on the primary and both secondaries (no RELEASE_WITHHELD)', async () => {
      const log = (r: Release) => chain.log(r.entry);
      await v.release(log, PRIMARY.hardwareId, '3.0.0', 3);
      await v.release(log, BRAKE.hardwareId, '2.5.0', 13);
      await v.release(log, IVI.hardwareId, '6.0.0', 60);
      await v.director.assign(v.chainVehicle, all());
      const result = await runVehicleUpdate(v.options(chain.reader()));
      expect(result.status).toBe('UPDATED');
      expect(await v.activeImages()).toEqual({
        [PRIMARY.serial]: gw.sha256,
        [BRAKE.serial]: brake.sha256,
        [IVI.serial]: ivi.sha256,
      });
    });
  });

  describe('when the Director has rotated its root and targets key since the ECUs were made', () => {
    it('hands each secondary every later root, so that a full and a partial one pinned at v1 follow the rotation', async () => {
      v.director.rotateRoot();
      v.director.rotateRoot();
      await v.director.assign(v.chainVehicle, all());
      const result = await runVehicleUpdate(v.options(chain.reader()));
      expect(result.status).toBe('UPDATED');
      expect(await v.activeImages()).toEqual({
        [PRIMARY.serial]: gw.sha256,
        [BRAKE.serial]: brake.sha256,
        [IVI.serial]: ivi.sha256,
      });
      for (const s of v.secondaries) {
        const info = await s.secondary!.handle({ op: 'info' });
        expect(info['rootVersions']).toMatchObject({ director: 3 });
      }
    });
  });

  describe('when the Director refuses the vehicle version manifest', () => {
    it('answers MANIFEST_REJECTED with the server code and keeps the manifest for the next cycle', async () => {
      await v.director.assign(v.chainVehicle, all());
      v.director.refuseManifests = { status: 409, code: 'MANIFEST_NONCE_REPLAYED' };
      const result = await runVehicleUpdate(v.options(chain.reader()));
      expect(result.status).toBe('UPDATED');
      expect(result.manifest).toMatchObject({
        sent: false,
        status: 409,
        queued: 1,
        code: 'MANIFEST_REJECTED',
        serverCode: 'MANIFEST_NONCE_REPLAYED',
      });
      expect(v.director.manifests).toHaveLength(0);

      v.director.refuseManifests = undefined;
      const again = await runVehicleUpdate(v.options(chain.reader()));
      expect(again.manifest).toMatchObject({ sent: true, queued: 0 });
      expect(v.director.manifests).toHaveLength(2);
      const kept = v.director.manifests[0]?.manifest as {
        signed: { installation_report?: { items: unknown[] } };
      };
      expect(kept.signed.installation_report?.items).toHaveLength(3);
    });
  });

  describe('attacks on the primary', () => {
    // An older release logged for each ECU's hardware ID, below the one `all()` installs.
    const downgrades = [
      { kind: 'the primary', ecu: PRIMARY, version: '1.5.0', releaseCounter: 1 },
      { kind: 'a partial secondary', ecu: BRAKE, version: '2.3.0', releaseCounter: 11 },
      { kind: 'a full secondary', ecu: IVI, version: '4.0.0', releaseCounter: 40 },
    ];
    const rows: { desc: string; attack: () => Promise<void>; wantCode: string }[] = [
      {
        desc: 'the Director assigns an image the image repository lacks',
        attack: async () => {
          await v.director.assign(v.chainVehicle, [
            assignment(PRIMARY, gw),
            { ...assignment(BRAKE, brake), name: 'brake-b7-9.9.9.img' },
          ]);
        },
        wantCode: 'DIRECTOR_IMAGE_UNKNOWN',
      },
      {
        desc: 'the repositories disagree on the hashes of an image',
        attack: async () => {
          const other = randomBytes(brake.length);
          await v.director.assign(v.chainVehicle, [
            assignment(PRIMARY, gw),
            { ...assignment(BRAKE, brake), sha256: sha256hex(other), sha512: sha512hex(other) },
          ]);
        },
        wantCode: 'DIRECTOR_IMAGE_MISMATCH',
      },
      {
        desc: "another vehicle's Director metadata is replayed to this one",
        attack: async () => {
          const other = await createVehicleIdentity(v.f.ca, {
            vin: 'WVWZZZ1JZXW000002',
            ecuSerial: 'GW-0002',
          });
          const theirs = v.director.enroll(other.certificatePem, other.vinCommitment);
          await v.director.assign(theirs, all());
          await v.director.assign(v.chainVehicle, []);
          v.chainVehicle.servedFrom = theirs;
        },
        wantCode: 'DIRECTOR_VEHICLE_MISMATCH',
      },
      {
        desc: 'the Director metadata comes without the log promise',
        attack: async () => {
          await v.director.assign(v.chainVehicle, all(), { logged: false });
        },
        wantCode: 'DIRECTOR_NOT_LOGGED',
      },
      {
        desc: 'the log promises an earlier targets version, not this one',
        attack: async () => {
          await v.director.assign(v.chainVehicle, []);
          const earlier = v.chainVehicle.promises.get(1);
          await v.director.assign(v.chainVehicle, all(), { logged: false });
          v.chainVehicle.promises.set(2, earlier);
        },
        wantCode: 'DIRECTOR_NOT_LOGGED',
      },
      {
        desc: 'the Director assigns an ECU an image for another hardware ID',
        attack: async () => {
          await v.director.assign(v.chainVehicle, [
            { ...assignment(BRAKE, ivi), hardwareId: IVI.hardwareId },
          ]);
        },
        wantCode: 'HARDWARE_ID_MISMATCH',
      },
      ...downgrades.map(({ kind, ecu, version, releaseCounter }) => ({
        desc: `the Director assigns ${kind} a release below the one it runs`,
        attack: async () => {
          const older = await v.release(
            (r) => chain.log(r.entry),
            ecu.hardwareId,
            version,
            releaseCounter,
          );
          await v.director.assign(v.chainVehicle, all());
          expect((await runVehicleUpdate(v.options(chain.reader()))).status).toBe('UPDATED');
          await v.director.assign(v.chainVehicle, [assignment(ecu, older)]);
        },
        wantCode: 'DOWNGRADE',
      })),
      {
        desc: 'an impostor on the link answers with a version report signed by another key',
        attack: async () => {
          await v.director.assign(v.chainVehicle, all());
          const s = v.secondaries[0]!;
          s.signer = createKeySigner(generateKeyPair('ed25519').privateKey);
          (s.secondary as unknown as { ecu: unknown }).ecu = undefined;
          s.server?.close();
          await v.serve(s, chain.reader());
          // the primary still pins the registered key
          s.signer = registered[0]!;
        },
        wantCode: 'ECU_REPORT_SIGNATURE_INVALID',
      },
      {
        desc: 'an impostor on the link replays an earlier signed version report',
        attack: async () => {
          await v.director.assign(v.chainVehicle, all());
          const s = v.secondaries[0]!;
          const old = await s.secondary!.handle({ op: 'version-report', nonce: 'ab'.repeat(16) });
          s.server?.close();
          const { address } = await listenSecondary({ host: '127.0.0.1', port: 0 }, () => ({
            onRequest: () => Promise.resolve(old),
            onImageBytes: () => undefined,
            onClose: () => undefined,
          }));
          s.address = formatAddress(address);
        },
        wantCode: 'ECU_REPORT_REPLAYED',
      },
    ];
    let registered: ReturnType<typeof createKeySigner>[] = [];
    beforeEach(() => {
      registered = v.secondaries.map((s) => s.signer);
    });

    it.each(rows)(
      '$desc: throws $wantCode and no ECU changes slot',
      async ({ attack, wantCode }) => {
        await attack();
        await expectRefused(wantCode, () => runVehicleUpdate(v.options(chain.reader())));
      },
    );

    it('Director targets refused for want of a log promise are not kept: the next logged version below them still installs', async () => {
      const mdDir = v.options(chain.reader()).director.metadataDir;
      await v.director.assign(v.chainVehicle, []);
      expect((await runVehicleUpdate(v.options(chain.reader()))).status).toBe('UP_TO_DATE');
      const trustedBefore = await readFile(join(mdDir, 'targets.json'));

      // Stolen online keys sign version 11 for this vehicle, never logged.
      v.chainVehicle.version = 10;
      await v.director.assign(v.chainVehicle, all(), { logged: false });
      await expectRefused('DIRECTOR_NOT_LOGGED', () => runVehicleUpdate(v.options(chain.reader())));
      expect(await readFile(join(mdDir, 'targets.json'))).toEqual(trustedBefore);

      // The honest Director's next version is 2, logged.
      v.chainVehicle.version = 1;
      await v.director.assign(v.chainVehicle, all());
      const result = await runVehicleUpdate(v.options(chain.reader()));
      expect(result.status).toBe('UPDATED');
      expect(result.director?.targetsVersion).toBe(2);
    });

    it('one ECU failing its health check rolls the whole set back (HEALTH_CHECK_FAILED)', async () => {
      await v.director.assign(v.chainVehicle, all());
      v.secondaries[1]!.unhealthy = true;
      const before = await v.activeImages();
      const result = await runVehicleUpdate(v.options(chain.reader()));
      expect(result.status).toBe('ROLLED_BACK');
      expect(result.code).toBe('HEALTH_CHECK_FAILED');
      expect(result.ecus.find((e) => e.serial === IVI.serial)?.code).toBe('HEALTH_CHECK_FAILED');
      expect(result.ecus.find((e) => e.serial === BRAKE.serial)?.code).toBe(
        'ATOMIC_SET_ROLLED_BACK',
      );
      expect(result.ecus.every((e) => e.outcome === 'ROLLED_BACK')).toBe(true);
      expect(await v.activeImages()).toEqual(before);
      for (const s of [v.f.slots, ...v.secondaries.map((x) => x.slots)]) {
        const st = await s.readState();
        expect(st.pending).toBeNull();
        expect(st.booted).toBe(st.active);
      }
    });
  });

  describe('attacks on a secondary by whoever holds the link', () => {
    const handOver = (version: number) => ({
      '1.root.json': v.director.rootBytes.toString('base64'),
      [`${version}.targets.json`]: v.chainVehicle.files
        .get(`${version}.targets.json`)!
        .toString('base64'),
    });

    it('a partial secondary refuses an image assigned for another hardware ID (HARDWARE_ID_MISMATCH)', async () => {
      const { version } = await v.director.assign(v.chainVehicle, [
        { ...assignment(BRAKE, ivi), hardwareId: IVI.hardwareId },
      ]);
      const s = v.secondaries[0]!;
      const link = await new SocketTransport(s.address).connect();
      const before = await v.activeImages();
      const answer = await link.request({ op: 'metadata', director: handOver(version) });
      link.close();
      expect(answer).toMatchObject({ ok: false, code: 'HARDWARE_ID_MISMATCH' });
      expect(await v.activeImages()).toEqual(before);
    });

    it('a partial secondary refuses a tampered image (TARGET_MISMATCH) and keeps its slot', async () => {
      const { version } = await v.director.assign(v.chainVehicle, all());
      const s = v.secondaries[0]!;
      const link = await new SocketTransport(s.address).connect();
      const before = await v.activeImages();
      expect(await link.request({ op: 'metadata', director: handOver(version) })).toMatchObject({
        ok: true,
      });
      expect(await link.request({ op: 'image-begin' })).toMatchObject({ ok: true });
      const tampered = Buffer.from(brake.image);
      tampered[100] = (tampered[100] as number) ^ 0xff;
      await link.sendImageBytes(tampered);
      const end = await link.request({ op: 'image-end' });
      expect(end).toMatchObject({ ok: false, code: 'TARGET_MISMATCH' });
      expect(await link.request({ op: 'switch' })).toMatchObject({
        ok: false,
        code: 'ECU_NOT_PREPARED',
      });
      expect(await link.request({ op: 'rollback', code: 'TARGET_MISMATCH' })).toMatchObject({
        ok: true,
      });
      link.close();
      expect(await v.activeImages()).toEqual(before);
    });

    it('a full secondary refuses Director targets without a log promise (DIRECTOR_NOT_LOGGED) and does not keep them', async () => {
      await v.director.assign(v.chainVehicle, all());
      expect((await runVehicleUpdate(v.options(chain.reader()))).status).toBe('UPDATED');
      const s = v.secondaries.find((x) => x.verification === 'full')!;
      const stored = join(s.stateDir, 'metadata', 'director', 'targets.json');
      const trustedBefore = await readFile(stored);

      v.chainVehicle.version = 10;
      const { version } = await v.director.assign(v.chainVehicle, all(), { logged: false });
      const file = (name: string) => v.chainVehicle.files.get(name)!.toString('base64');
      const primaryImage = v.options(chain.reader()).image.metadataDir;
      const { handOverMetadata } = await import('../src/uptane/memory-fetcher.js');
      const link = await new SocketTransport(s.address).connect();
      const answer = await link.request({
        op: 'metadata',
        director: {
          '1.root.json': v.director.rootBytes.toString('base64'),
          'timestamp.json': file('timestamp.json'),
          [`${version}.snapshot.json`]: file(`${version}.snapshot.json`),
          [`${version}.targets.json`]: file(`${version}.targets.json`),
        },
        image: await handOverMetadata(primaryImage),
        logPromise: v.chainVehicle.promises.get(1),
        chainTime: { timestamp: Math.floor(Date.now() / 1000) },
      });
      link.close();
      expect(answer).toMatchObject({ ok: false, code: 'DIRECTOR_NOT_LOGGED' });
      expect(await readFile(stored)).toEqual(trustedBefore);
    });

    it('a late rollback naming an earlier set does not take back the set the secondary committed since', async () => {
      await v.director.assign(v.chainVehicle, all());
      expect((await runVehicleUpdate(v.options(chain.reader()))).status).toBe('UPDATED');
      const s = v.secondaries[0]!;
      const before = await s.slots.readState();
      const link = await new SocketTransport(s.address).connect();
      const answer = await link.request({
        op: 'rollback',
        target: { sha256: 'ee'.repeat(32) },
        code: 'HEALTH_CHECK_FAILED',
      });
      link.close();
      expect(answer).toMatchObject({ ok: false, code: 'ECU_NOT_PREPARED' });
      expect(await s.slots.readState()).toEqual(before);
    });

    it('a link the primary gave up on neither ends nor feeds the image another link is streaming', async () => {
      const { version } = await v.director.assign(v.chainVehicle, all());
      const s = v.secondaries[0]!;
      const link = await new SocketTransport(s.address).connect();
      expect(await link.request({ op: 'metadata', director: handOver(version) })).toMatchObject({
        ok: true,
      });
      expect(await link.request({ op: 'image-begin' })).toMatchObject({ ok: true });
      const half = Math.floor(brake.image.length / 2);
      await link.sendImageBytes(brake.image.subarray(0, half));
      const stale = await new SocketTransport(s.address).connect();
      await stale.sendImageBytes(Buffer.from('not the image'));
      stale.close();
      await new Promise((r) => setTimeout(r, 50));
      await link.sendImageBytes(brake.image.subarray(half));
      expect(await link.request({ op: 'image-end' })).toMatchObject({ ok: true });
      link.close();
    });

    it('a late commit naming an earlier set does not commit the set now switched and undecided', async () => {
      const { version } = await v.director.assign(v.chainVehicle, all());
      const s = v.secondaries[0]!;
      const link = await new SocketTransport(s.address).connect();
      expect(await link.request({ op: 'metadata', director: handOver(version) })).toMatchObject({
        ok: true,
      });
      expect(await link.request({ op: 'image-begin' })).toMatchObject({ ok: true });
      await link.sendImageBytes(brake.image);
      expect(await link.request({ op: 'image-end' })).toMatchObject({ ok: true });
      expect(await link.request({ op: 'switch', target: { sha256: brake.sha256 } })).toMatchObject({
        ok: true,
      });
      const switched = await s.slots.readState();
      expect(switched.pending).not.toBeNull();
      expect(
        await link.request({ op: 'commit', target: { sha256: brake.sha256 } }),
        'a commit must name its atomic set',
      ).toMatchObject({ ok: false, code: 'ECU_PROTOCOL_ERROR' });
      const answer = await link.request({ op: 'commit', target: { sha256: 'ee'.repeat(32) } });
      link.close();
      expect(answer).toMatchObject({ ok: false, code: 'ECU_NOT_PREPARED' });
      expect(await s.slots.readState()).toEqual(switched);
    });

    it('a partial secondary refuses Director targets not signed by its pinned root (METADATA_UNSIGNED)', async () => {
      const { generateTufKey } = await import('./helpers/tuf-repo.js');
      const { version } = await v.director.assign(v.chainVehicle, all(), {
        signWith: generateTufKey(),
      });
      const link = await new SocketTransport(v.secondaries[0]!.address).connect();
      const answer = await link.request({ op: 'metadata', director: handOver(version) });
      link.close();
      expect(answer).toMatchObject({ ok: false, code: 'METADATA_UNSIGNED' });
    });
  });
});
