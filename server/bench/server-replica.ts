/**
 * One replica for bench:server's side-by-side with nginx: the server on the bench's repository
 * (its SQLite data dir, which the bench process keeps open and no longer writes), in a process of
 * its own, as nginx serves from a worker of its own. The bench process holds the heap of a
 * 1,000-target publish; its full GCs showed up in the server's p99 and throughput (2026-12-06).
 *
 * argv: DATA_DIR. Prints `listening <url>`; stops on SIGTERM. It only serves what is stored: its
 * online keys are fresh and unused (no publish, and `resignIntervalMs: 0`), so no key of the
 * bench's repository leaves the bench process.
 */
import { createKeySigner, createVehicleCa, generateKeyPair } from '@tufchain/keys';
import { openRepository, startServer } from '../src/index.js';
import { MemoryReleaseLog } from '../test/support/fixtures.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: server-replica.ts DATA_DIR');
const unused = () => createKeySigner(generateKeyPair('ed25519').privateKey);
const repo = await openRepository({ dataDir });
const server = await startServer({
  port: 0,
  deps: {
    store: repo.store,
    blobs: repo.blobs,
    signers: { targets: unused(), snapshot: unused(), timestamp: unused() },
    releaseLog: new MemoryReleaseLog(),
    firmwareKey: { publicKeyPem: unused().publicKeyPem(), keyId: 'unused' },
    vehicleCaPem: (await createVehicleCa({ commonName: 'unused' })).certificatePem,
    config: { resignIntervalMs: 0 },
  },
});
process.stdout.write(`listening ${server.url}\n`);
process.once('SIGTERM', () => {
  void server
    .close()
    .then(() => repo.close())
    .then(() => process.exit(0));
});
