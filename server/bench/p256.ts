import { createSign, createVerify, generateKeyPairSync, randomBytes } from 'node:crypto';

/**
 * Raw ECDSA P-256 verifications per CPU second (node:crypto, this process, the replicas idle): a SHA-256 digest and a verify of a 1 KiB message, about the size of a report's DSSE PAE.
 */
export function p256VerifyPerSecond(seconds: number): number {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const message = randomBytes(1024);
  const signature = createSign('sha256').update(message).sign(privateKey);
  const deadline = performance.now() + seconds * 1000;
  let n = 0;
  // Per CPU second, as the intake is counted: other work on the machine slows both alike.
  const started = process.cpuUsage();
  while (performance.now() < deadline) {
    for (let i = 0; i < 100; i++) {
      if (!createVerify('sha256').update(message).verify(publicKey, signature))
        throw new Error('P-256 verify failed');
    }
    n += 100;
  }
  const used = process.cpuUsage(started);
  return n / ((used.user + used.system) / 1e6);
}
