/** Child process for the crash test: appends batches to a SQLite log until it is killed. */
import { generateKeyPairSync } from 'node:crypto';
import {
  createNoteSigner,
  openLogDatabase,
  SqliteLogStorage,
  TransparencyLog,
} from '../../src/index.js';

const path = process.argv[2]!;
const db = openLogDatabase(path);
const log = new TransparencyLog({
  storage: new SqliteLogStorage(db),
  origin: 'tufchain.test/log',
  signers: [createNoteSigner('tufchain.test/log', generateKeyPairSync('ed25519').privateKey)],
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
