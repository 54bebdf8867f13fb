/** Child process of the PostgreSQL log crash test: appends batches to the shared log until killed. */
import { generateKeyPairSync } from 'node:crypto';
import { createNoteSigner, TransparencyLog } from '@tufchain/transparency';
import { PostgresStore } from '../../src/storage/postgres-store.js';

const store = await PostgresStore.open({ connectionString: process.argv[2]! });
const log = new TransparencyLog({
  storage: store.logStores().storage,
  origin: 'tufchain.test/pg-log',
  signers: [createNoteSigner('tufchain.test/pg-log', generateKeyPairSync('ed25519').privateKey)],
});
process.stdout.write('ready\n');
for (let batch = 0; ; batch++) {
  await log.append(
    ...Array.from({ length: 50 }, (_, i) => ({
      type: 'recall' as const,
      subject: '0x' + (batch * 50 + i).toString(16).padStart(64, '0'),
      reason: 'crash test',
    })),
  );
  if (batch % 10 === 0) await log.checkpoint();
}
