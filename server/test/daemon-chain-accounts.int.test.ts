import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Contract, parseEther, Wallet } from 'ethers';
import { TUFCHAIN_LOG_ABI } from '@tufchain/contracts';
import {
  generateSecp256k1KeyPair,
  signFirmwareAttestation,
  writeEncryptedKeyFile,
} from '@tufchain/keys';
import { CHAIN_ROLE_IDS } from '@tufchain/transparency';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestChain, type TestChain } from './support/chain.js';
import { prepareDaemon, spawnDaemon, waitReady, type DaemonFiles } from './support/daemon.js';

const ORIGIN = 'tufchain.test/daemon-accounts';

let chain: TestChain;
let files: DaemonFiles;

beforeAll(async () => {
  chain = await startTestChain();
  files = await prepareDaemon(chain, ORIGIN);
});

afterAll(async () => {
  await chain?.stop();
  if (files) await rm(files.dir, { recursive: true, force: true });
});

/** The daemon must exit by itself, non-zero, naming the code on stderr. */
async function startupRefusal(
  env: Record<string, string>,
): Promise<{ code: string; stderr: string }> {
  const daemon = spawnDaemon(env);
  const timer = setTimeout(() => void daemon.kill(), 30_000);
  const exit = await daemon.exited;
  clearTimeout(timer);
  expect(exit).toBe(1);
  const code = /tufchain server: error ([A-Z_]+)/.exec(daemon.stderr())?.[1] ?? 'NONE';
  return { code, stderr: daemon.stderr() + daemon.stdout() };
}

describe('the daemon refuses a misconfigured chain account at start-up', () => {
  const rawKey = () => chain.chain.accounts[1]!.privateKey;
  const table: {
    desc: string;
    env: () => Promise<Record<string, string>>;
    wantCode: string;
  }[] = [
    {
      desc: 'the publisher key is a plain private key in TUFCHAIN_PUBLISHER_KEY',
      env: () => Promise.resolve({ ...files.env, TUFCHAIN_PUBLISHER_KEY: rawKey() }),
      wantCode: 'RAW_CHAIN_KEY_IN_ENVIRONMENT',
    },
    {
      desc: 'the log operator key is a plain private key in TUFCHAIN_LOG_OPERATOR_KEY',
      env: () => Promise.resolve({ ...files.env, TUFCHAIN_LOG_OPERATOR_KEY: rawKey() }),
      wantCode: 'RAW_CHAIN_KEY_IN_ENVIRONMENT',
    },
    {
      desc: 'the log operator account lacks the log-operator role',
      env: () =>
        Promise.resolve({
          ...files.env,
          TUFCHAIN_LOG_OPERATOR_KEY_FILE: files.env.TUFCHAIN_PUBLISHER_KEY_FILE!,
        }),
      wantCode: 'NOT_LOG_OPERATOR',
    },
    {
      desc: 'the log operator account holds the role but no ether to pay for gas',
      env: async () => {
        const { privateKey } = generateSecp256k1KeyPair();
        const path = join(files.dir, 'unfunded-operator.key');
        await writeEncryptedKeyFile(path, privateKey, files.passphrase);
        const { createSecp256k1KeySigner } = await import('@tufchain/keys');
        const address = createSecp256k1KeySigner(privateKey).address;
        const admin = new Wallet(chain.chain.accounts[0]!.privateKey, chain.provider);
        const log = new Contract(chain.contractAddress, TUFCHAIN_LOG_ABI as never, admin);
        const tx = (await log.getFunction('grantRole')(
          CHAIN_ROLE_IDS['log-operator'],
          address,
        )) as {
          wait(): Promise<unknown>;
        };
        await tx.wait();
        return { ...files.env, TUFCHAIN_LOG_OPERATOR_KEY_FILE: path };
      },
      wantCode: 'INSUFFICIENT_FUNDS',
    },
    {
      desc: 'no contract code lives at TUFCHAIN_CONTRACT_ADDRESS',
      env: () =>
        Promise.resolve({ ...files.env, TUFCHAIN_CONTRACT_ADDRESS: '0x' + '22'.repeat(20) }),
      wantCode: 'CONTRACT_NOT_FOUND',
    },
    {
      desc: 'the RPC serves another chain than TUFCHAIN_CHAIN_ID',
      env: () => Promise.resolve({ ...files.env, TUFCHAIN_CHAIN_ID: '1' }),
      wantCode: 'CHAIN_ID_MISMATCH',
    },
    {
      desc: 'the passphrase does not open the publisher key file',
      env: () => Promise.resolve({ ...files.env, TUFCHAIN_KEY_PASSPHRASE: 'not the passphrase' }),
      wantCode: 'WRONG_PASSPHRASE',
    },
    {
      desc: 'an operator key is given without the transparency log',
      env: () => {
        const { TUFCHAIN_LOG_NOTE_KEY_FILE: _omit, ...env } = files.env;
        return Promise.resolve(env);
      },
      wantCode: 'CONFIG_INVALID',
    },
  ];
  for (const { desc, env, wantCode } of table) {
    it(`exits with ${wantCode} when ${desc}, never printing a key`, async () => {
      const refusal = await startupRefusal(await env());
      expect(refusal.code).toBe(wantCode);
      expect(refusal.stderr).not.toContain(rawKey().slice(2));
      expect(refusal.stderr).not.toContain(files.passphrase);
    }, 40_000);
  }
});

describe('the daemon when anchoring stalls at run time', () => {
  it('logs the stall, exports it in /metrics, answers /readyz 503 ANCHORING_STALLED, and recovers', async () => {
    const operator = chain.operator().address;
    const daemon = spawnDaemon({
      ...files.env,
      TUFCHAIN_DATA_DIR: join(files.dir, 'stall-data'),
      TUFCHAIN_ADMIN_TOKEN_FILE: join(files.dir, 'stall-admin.token'),
      TUFCHAIN_LOG_INTERVAL_MS: '200',
      TUFCHAIN_LOG_STALL_AFTER_MS: '1500',
    });
    try {
      await waitReady(daemon, files.baseUrl);
      const ready = (await (await fetch(`${files.baseUrl}/readyz`)).json()) as {
        checks: Record<string, string>;
      };
      expect(ready.checks.anchoring).toBe('ok');
      // The operator's account runs dry after start-up (the check passed; then it cannot pay).
      await chain.provider.send('anvil_setBalance', [operator, '0x0']);

      const token = (await readFile(join(files.dir, 'stall-admin.token'), 'utf8')).trim();
      const auth = { authorization: `Bearer ${token}` };
      const image = new TextEncoder().encode('stall image');
      expect(
        (
          await fetch(`${files.baseUrl}/api/v1/firmware/gw-1.img`, {
            method: 'PUT',
            headers: auth,
            body: image,
          })
        ).status,
      ).toBe(201);
      const claims = { hardwareIds: ['gw'], version: '1.0.0', releaseCounter: 1 };
      const attestation = await signFirmwareAttestation(
        { name: 'gw-1.img', sha256: createHash('sha256').update(image).digest('hex'), ...claims },
        files.firmwareKey,
      );
      const published = await fetch(`${files.baseUrl}/api/v1/releases`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ targets: [{ name: 'gw-1.img', ...claims, attestation }] }),
      });
      expect(published.status).toBe(201);

      await expect
        .poll(
          async () => {
            const res = await fetch(`${files.baseUrl}/readyz`);
            return res.status === 503
              ? ((await res.json()) as { error: { code: string } }).error.code
              : String(res.status);
          },
          { timeout: 20_000, interval: 200 },
        )
        .toBe('ANCHORING_STALLED');
      const metrics = await (await fetch(`${files.baseUrl}/metrics`)).text();
      expect(metrics).toMatch(/^tufchain_anchor_stalled 1$/m);
      expect(metrics).toMatch(/^tufchain_anchor_checkpoints_waiting\{status="sent"\} 1$/m);
      expect(metrics).toMatch(/^tufchain_anchor_last_confirmed_size 0$/m);
      expect(Number(/^tufchain_anchor_failures_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(
        0,
      );
      expect(
        Number(/^tufchain_anchor_oldest_waiting_seconds ([\d.]+)/m.exec(metrics)?.[1]),
      ).toBeGreaterThan(1);
      const logLines = () =>
        daemon
          .stdout()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { msg: string; code?: string; lastErrorCode?: string });
      // /readyz judges the health when asked; the log line follows at the service's next check.
      await expect.poll(logLines, { timeout: 10_000, interval: 100 }).toContainEqual(
        expect.objectContaining({
          msg: 'anchoring stalled',
          lastErrorCode: 'INSUFFICIENT_FUNDS',
        }),
      );
      expect(logLines()).toContainEqual(
        expect.objectContaining({ msg: 'anchoring failed; retrying', code: 'INSUFFICIENT_FUNDS' }),
      );
      expect(daemon.stdout()).not.toContain(files.passphrase);
      expect(daemon.stdout()).not.toContain(chain.operator().privateKey.slice(2));

      // Funding the operator again heals it: the recorded anchor is accepted and confirmed.
      await chain.provider.send('anvil_setBalance', [
        operator,
        '0x' + parseEther('10').toString(16),
      ]);
      await expect
        .poll(async () => (await fetch(`${files.baseUrl}/readyz`)).status, {
          timeout: 20_000,
          interval: 200,
        })
        .toBe(200);
      await expect
        .poll(
          async () => (await fetch(`${files.baseUrl}/api/v1/log/proof-bundle?index=0`)).status,
          {
            timeout: 20_000,
            interval: 200,
          },
        )
        .toBe(200);
      await expect
        .poll(() => daemon.stdout(), { timeout: 10_000, interval: 100 })
        .toContain('"msg":"anchoring resumed"');
    } finally {
      await daemon.kill();
    }
  }, 90_000);
});
