import { prepareGrantRole, prepareSetMinimumVersion } from '@tufchain/transparency';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestRepo, type TestRepo } from '../../../test/support/fixtures.js';
import type { CliContext } from '../context.js';
import { runCli } from '../run.js';

const HW = 'acme-gateway-ecu-rev3';
const CONTRACT = '0x' + '12'.repeat(20);
const MULTISIG = '0x' + '34'.repeat(20);

let t: TestRepo;
beforeEach(async () => {
  t = await createTestRepo();
});
afterEach(async () => {
  await t.cleanup();
});

/** The CLI against the real Hono app in process (chain double behind it). */
async function cli(args: string[], token = t.tokens.revoke) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    env: { server: 'http://server.test', token },
    io: {
      stdout: (s) => out.push(s),
      stderr: (s) => err.push(s),
      stderrRaw: (s) => err.push(s),
      stderrIsTty: false,
    },
    fetch: (input, init) =>
      Promise.resolve(t.parts.app.request(String(input as string), init as RequestInit)),
  };
  const code = await runCli(args, ctx);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('tufchain min-version', () => {
  it('documents set, show and prepare in --help', async () => {
    const help = await cli(['min-version', '--help']);
    expect(help.code).toBe(0);
    for (const sub of ['set', 'show', 'prepare']) expect(help.out).toContain(sub);
    const setHelp = await cli(['min-version', 'set', '--help']);
    expect(setHelp.out).toContain('--yes');
    expect(setHelp.out).toContain('--json');
  });

  it('raises the floor with --yes and shows it, as JSON', async () => {
    const set = await cli(['min-version', 'set', HW, '3', '--yes', '--json']);
    expect(set.code, set.err).toBe(0);
    expect(JSON.parse(set.out)).toMatchObject({
      hardwareId: HW,
      minimumVersion: 3,
      previousVersion: 0,
    });
    const show = await cli(['min-version', 'show', HW, '--json']);
    expect(JSON.parse(show.out)).toMatchObject({ hardwareId: HW, minimumVersion: 3 });
    expect((await cli(['min-version', 'show', HW])).out).toBe(`${HW}: minimum version 3`);
  });

  const refusals = [
    {
      desc: 'without --yes',
      args: ['min-version', 'set', HW, '9'],
      exit: 2,
      wantCode: 'CONFIRMATION_REQUIRED',
    },
    {
      desc: 'below the current floor',
      args: ['min-version', 'set', HW, '2', '--yes'],
      exit: 1,
      wantCode: 'MINIMUM_VERSION_NOT_INCREASING',
    },
    {
      desc: 'with a negative version',
      args: ['min-version', 'set', HW, '-1', '--yes'],
      exit: 2,
      wantCode: 'INVALID_ARGUMENT',
    },
    {
      desc: 'with version 0',
      args: ['min-version', 'set', HW, '0', '--yes'],
      exit: 2,
      wantCode: 'INVALID_ARGUMENT',
    },
  ];
  for (const { desc, args, exit, wantCode } of refusals) {
    it(`exits ${exit} with ${wantCode} ${desc}, and the floor stays at 5`, async () => {
      expect((await cli(['min-version', 'set', HW, '5', '--yes'])).code).toBe(0);
      const r = await cli([...args, '--json']);
      expect(r.code).toBe(exit);
      expect((JSON.parse(r.out) as { error: { code: string } }).error.code).toBe(wantCode);
      expect(t.chain.floors.get(HW)?.version).toBe(5);
    });
  }

  it('exits 1 with INSUFFICIENT_SCOPE for a token with only the publish scope', async () => {
    const r = await cli(['min-version', 'set', HW, '4', '--yes', '--json'], t.tokens.publish);
    expect(r.code).toBe(1);
    expect((JSON.parse(r.out) as { error: { code: string } }).error.code).toBe(
      'INSUFFICIENT_SCOPE',
    );
    expect(t.chain.floors.get(HW)).toBeUndefined();
  });

  it('prepares the multisig calls offline: grant the publisher role, then raise the floor', async () => {
    const r = await cli([
      'min-version',
      'prepare',
      HW,
      '7',
      '--contract',
      CONTRACT,
      '--grant-publisher-to',
      MULTISIG,
      '--json',
    ]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({
      calls: [
        prepareGrantRole(CONTRACT, 'publisher', MULTISIG),
        prepareSetMinimumVersion(CONTRACT, HW, 7),
      ],
    });
    const bad = await cli(['min-version', 'prepare', HW, '7', '--contract', 'nope', '--json']);
    expect(bad.code).toBe(2);
    expect((JSON.parse(bad.out) as { error: { code: string } }).error.code).toBe(
      'INVALID_ARGUMENT',
    );
  });
});
