/**
 * Campaign test support: the simulated vehicles (scripts/fleet-sim/vehicle.ts, shared with the
 * fleet simulator) and a Director root for the test server.
 */
import {
  createKeySigner,
  finalizeRootCeremony,
  generateKeyPair,
  initRootCeremony,
  signRootCeremony,
  type Signer,
} from '@tufchain/keys';
import type { DirectorStore } from '../../src/director/store.js';
import { initDirectorFromRoot } from '../../src/index.js';

export {
  directorAssignment,
  enrollSimulatedVehicle,
  installReport,
  sendVersionManifest,
  vehicleRequest,
  type DirectorImage,
  type SimulatedVehicle,
} from '../../scripts/fleet-sim/vehicle.js';

/** A Director root (1 of 1, made by the offline ceremony) and its online signers, stored. */
export async function initTestDirector(
  store: DirectorStore,
): Promise<{ targets: Signer; snapshot: Signer; timestamp: Signer }> {
  const ed = (): Signer => createKeySigner(generateKeyPair('ed25519').privateKey);
  const rootKey = ed();
  const online = { targets: ed(), snapshot: ed(), timestamp: ed() };
  let ceremony = initRootCeremony({
    root: { keys: [rootKey.publicKey], threshold: 1 },
    targets: { keys: [online.targets.publicKey], threshold: 1 },
    snapshot: { keys: [online.snapshot.publicKey], threshold: 1 },
    timestamp: { keys: [online.timestamp.publicKey], threshold: 1 },
    expires: new Date(Date.now() + 365 * 86_400_000),
  });
  ceremony = await signRootCeremony(ceremony, rootKey);
  await initDirectorFromRoot({
    store,
    rootBytes: new TextEncoder().encode(JSON.stringify(finalizeRootCeremony(ceremony))),
    signers: online,
    clock: () => new Date(),
  });
  return online;
}
