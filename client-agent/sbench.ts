import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSlotStore } from '/work/main/client-agent/src/slots/ab-slots.ts';
import { streamIntoSlot, verifySlotReadback } from '/work/main/client-agent/src/install/stream.ts';
import { createDispatcher } from '/work/main/client-agent/src/util/http.ts';
import { defaultConfig } from '/work/main/client-agent/src/config.ts';
const img = randomBytes(128 * 1024 * 1024);
const expected = {
  length: img.length,
  sha256: createHash('sha256').update(img).digest('hex'),
  sha512: createHash('sha512').update(img).digest('hex'),
};
let t = performance.now();
createHash('sha256').update(img).digest();
console.log('sha256', performance.now() - t);
t = performance.now();
createHash('sha512').update(img).digest();
console.log('sha512', performance.now() - t);
const server = createServer((req, res) => {
  res.writeHead(200, { 'content-length': img.length });
  res.end(img);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
const dir = await mkdtemp(join(tmpdir(), 'sb-'));
const slots = await FileSlotStore.provision(dir, {
  image: Buffer.from('x'),
  name: 'f',
  version: '1',
  releaseCounter: 1,
});
const dispatcher = createDispatcher(defaultConfig);
t = performance.now();
await streamIntoSlot({ url, slots, slot: 'b', expected, dispatcher, config: defaultConfig });
console.log('stream', performance.now() - t);
t = performance.now();
await verifySlotReadback(slots, 'b', expected);
console.log('readback', performance.now() - t);
process.exit(0);
