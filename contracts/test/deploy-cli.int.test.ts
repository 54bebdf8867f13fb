import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTufchainLog } from '../src/index.js';
import { findFreePort, runDeployCli, type EvmChain } from '../src/entry/dev.js';
import { actorsOf, startSelectedEvm, type Actors } from './helpers/chain.js';

let chain: EvmChain;
let actors: Actors;

beforeAll(async () => {
  chain = await startSelectedEvm();
  actors = actorsOf(chain);
});

afterAll(async () => {
  (actors as Actors | undefined)?.provider.destroy();
  await (chain as EvmChain | undefined)?.stop();
});

async function run(argv: string[], key: string | undefined) {
  const out: string[] = [];
  const err: string[] = [];
  const exitCode = await runDeployCli(
    argv,
    { TUFCHAIN_DEPLOYER_KEY: key },
    { stdout: (l) => out.push(l), stderr: (l) => err.push(l) },
  );
  return { exitCode, out: out.join('\n'), err: err.join('\n') };
}

describe('runDeployCli (npm run deploy)', () => {
  it('deploys with the given roles, waits for confirmations and prints one JSON line', async () => {
    const key = chain.accounts[0]?.privateKey ?? '';
    const result = await run(
      [
        '--rpc-url',
        chain.rpcUrl,
        '--admin',
        actors.admin.address,
        '--publisher',
        actors.publisher.address,
        '--log-operator',
        actors.operator.address,
      ],
      key,
    );
    expect(result).toMatchObject({ exitCode: 0, err: '' });
    expect(result.out).not.toContain(key.slice(2));
    const printed = JSON.parse(result.out) as { address: string; chainId: number };
    expect(printed.chainId).toBe(chain.chainId);
    const log = connectTufchainLog(printed.address, actors.provider);
    const role = (await log.getFunction('PUBLISHER_ROLE')()) as string;
    expect(await log.getFunction('admin')()).toBe(actors.admin.address);
    expect(await log.getFunction('hasRole')(role, actors.publisher.address)).toBe(true);
  });

  const usage = [
    { desc: 'no --rpc-url', argv: ['--admin', '0x0000000000000000000000000000000000000001'] },
    { desc: 'a malformed admin', argv: ['--rpc-url', 'http://127.0.0.1:1', '--admin', '0x12'] },
    { desc: 'an unknown flag', argv: ['--rpc-url', 'http://127.0.0.1:1', '--frobnicate'] },
    {
      desc: 'zero confirmations',
      argv: [
        '--rpc-url',
        'http://127.0.0.1:1',
        '--admin',
        '0x0000000000000000000000000000000000000001',
        '--confirmations',
        '0',
      ],
    },
  ];
  it.each(usage)('exits 2 with the usage for $desc', async ({ argv }) => {
    const result = await run(argv, chain.accounts[0]?.privateKey);
    expect(result.exitCode).toBe(2);
    expect(result.err).toContain('usage:');
  });

  it('exits 1 with RPC_UNAVAILABLE when nothing answers at the RPC URL', async () => {
    const port = await findFreePort();
    const result = await run(
      ['--rpc-url', `http://127.0.0.1:${port.toString()}`, '--admin', actors.admin.address],
      chain.accounts[0]?.privateKey,
    );
    expect(result.exitCode).toBe(1);
    expect(result.err).toMatch(/^RPC_UNAVAILABLE:/);
  });

  it('exits 1 with DEPLOYER_KEY_MISSING when the key is absent or malformed', async () => {
    for (const key of [undefined, 'not-a-key']) {
      const result = await run(['--rpc-url', chain.rpcUrl, '--admin', actors.admin.address], key);
      expect(result.exitCode).toBe(1);
      expect(result.err).toMatch(/^DEPLOYER_KEY_MISSING:/);
    }
  });
});
