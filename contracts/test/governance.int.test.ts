import type { ContractTransactionResponse } from 'ethers';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hardwareIdHash, tufchainLogInterface } from '../src/index.js';
import type { EvmChain } from '../src/entry/dev.js';
import { randomHash } from './helpers/bytes.js';
import {
  actorsOf,
  deployWithRoles,
  revertOf,
  startSelectedEvm,
  type Actors,
  type DeployedLog,
} from './helpers/chain.js';

let chain: EvmChain;
let actors: Actors;
let log: DeployedLog;
let PUBLISHER_ROLE: string;
let LOG_OPERATOR_ROLE: string;

beforeAll(async () => {
  chain = await startSelectedEvm();
  actors = actorsOf(chain);
});

afterAll(async () => {
  // Guarded: when the chain could not start, the failure is beforeAll's, reported as such.
  (actors as Actors | undefined)?.provider.destroy();
  await (chain as EvmChain | undefined)?.stop();
});

beforeEach(async () => {
  log = await deployWithRoles(actors);
  const c = log.as(actors.other);
  PUBLISHER_ROLE = (await c.getFunction('PUBLISHER_ROLE')()) as string;
  LOG_OPERATOR_ROLE = (await c.getFunction('LOG_OPERATOR_ROLE')()) as string;
});

async function send(action: Promise<unknown>) {
  const receipt = await ((await action) as ContractTransactionResponse).wait();
  if (!receipt) throw new Error('no receipt');
  return receipt.logs
    .map((l) => tufchainLogInterface().parseLog(l))
    .filter((p) => p !== null)
    .map((p) => ({ name: p.name, args: [...p.args] as unknown[] }));
}

describe('TufchainLog roles', () => {
  describe('when the admin grants and revokes roles', () => {
    it('emits RoleGranted/RoleRevoked and the new publisher can log', async () => {
      const admin = log.as(actors.admin);
      const granted = await send(
        admin.getFunction('grantRole')(PUBLISHER_ROLE, actors.other.address),
      );
      expect(granted).toEqual([
        {
          name: 'RoleGranted',
          args: [PUBLISHER_ROLE, actors.other.address, actors.admin.address],
        },
      ]);
      await send(log.as(actors.other).getFunction('logRelease')(1, randomHash(), []));
      const revoked = await send(
        admin.getFunction('revokeRole')(PUBLISHER_ROLE, actors.other.address),
      );
      expect(revoked.map((e) => e.name)).toEqual(['RoleRevoked']);
      expect(await admin.getFunction('hasRole')(PUBLISHER_ROLE, actors.other.address)).toBe(false);
    });

    it('keeps the two roles apart', async () => {
      const admin = log.as(actors.admin);
      await send(admin.getFunction('grantRole')(LOG_OPERATOR_ROLE, actors.publisher.address));
      await send(admin.getFunction('revokeRole')(LOG_OPERATOR_ROLE, actors.publisher.address));
      expect(await admin.getFunction('hasRole')(PUBLISHER_ROLE, actors.publisher.address)).toBe(
        true,
      );
    });
  });

  describe('when a write comes from an address without the role', () => {
    const attacks = [
      {
        desc: 'a stranger grants itself the publisher role',
        call: (l: DeployedLog, a: Actors) =>
          l.as(a.attacker).getFunction('grantRole')(PUBLISHER_ROLE, a.attacker.address),
        want: 'NotAdmin',
      },
      {
        desc: 'a publisher revokes another publisher',
        call: (l: DeployedLog, a: Actors) =>
          l.as(a.publisher).getFunction('revokeRole')(PUBLISHER_ROLE, a.publisher.address),
        want: 'NotAdmin',
      },
      {
        desc: 'a stranger starts an admin transfer',
        call: (l: DeployedLog, a: Actors) =>
          l.as(a.attacker).getFunction('transferAdmin')(a.attacker.address),
        want: 'NotAdmin',
      },
      {
        desc: 'a stranger recalls a release',
        call: (l: DeployedLog, a: Actors) =>
          l.as(a.attacker).getFunction('recall')(randomHash(), 'spite'),
        want: 'NotPublisher',
      },
      {
        desc: 'a stranger raises a minimum version',
        call: (l: DeployedLog, a: Actors) =>
          l.as(a.attacker).getFunction('setMinimumVersion')(hardwareIdHash('ecu-a'), 99),
        want: 'NotPublisher',
      },
      {
        desc: 'a publisher anchors a checkpoint',
        call: (l: DeployedLog, a: Actors) =>
          l.as(a.publisher).getFunction('anchor')(1, randomHash(), []),
        want: 'NotLogOperator',
      },
      {
        desc: 'the admin itself publishes without the publisher role',
        call: (l: DeployedLog, a: Actors) =>
          l.as(a.admin).getFunction('logRelease')(1, randomHash(), []),
        want: 'NotPublisher',
      },
    ];
    it.each(attacks)('refuses when $desc ($want)', async ({ call, want }) => {
      const err = await revertOf(call(log, actors));
      expect(err.name).toBe(want);
    });
  });

  describe('when granting something malformed', () => {
    it('refuses an unknown role with UnknownRole and the zero address with ZeroAddress', async () => {
      const admin = log.as(actors.admin);
      const bogus = randomHash();
      expect(await revertOf(admin.getFunction('grantRole')(bogus, actors.other.address))).toEqual({
        name: 'UnknownRole',
        args: [bogus],
      });
      const zero = `0x${'00'.repeat(20)}`;
      expect((await revertOf(admin.getFunction('grantRole')(PUBLISHER_ROLE, zero))).name).toBe(
        'ZeroAddress',
      );
      expect((await revertOf(admin.getFunction('transferAdmin')(zero))).name).toBe('ZeroAddress');
    });
  });
});

describe('TufchainLog admin transfer (two-step; the admin may be a multisig)', () => {
  it('hands over only when the new admin accepts, and the old admin loses its powers', async () => {
    const newAdmin = actors.other;
    const started = await send(log.as(actors.admin).getFunction('transferAdmin')(newAdmin.address));
    expect(started).toEqual([
      { name: 'AdminTransferStarted', args: [actors.admin.address, newAdmin.address] },
    ]);
    expect(await log.as(actors.other).getFunction('pendingAdmin')()).toBe(newAdmin.address);

    // Not yet the admin: still refused.
    const early = await revertOf(
      log.as(newAdmin).getFunction('grantRole')(PUBLISHER_ROLE, newAdmin.address),
    );
    expect(early).toEqual({ name: 'NotAdmin', args: [newAdmin.address] });
    // Someone else cannot accept it.
    expect(await revertOf(log.as(actors.attacker).getFunction('acceptAdmin')())).toEqual({
      name: 'NotPendingAdmin',
      args: [actors.attacker.address],
    });

    const accepted = await send(log.as(newAdmin).getFunction('acceptAdmin')());
    expect(accepted).toEqual([
      { name: 'AdminTransferred', args: [actors.admin.address, newAdmin.address] },
    ]);
    expect(await log.as(actors.other).getFunction('admin')()).toBe(newAdmin.address);
    expect(await log.as(actors.other).getFunction('pendingAdmin')()).toBe(`0x${'00'.repeat(20)}`);
    await send(log.as(newAdmin).getFunction('grantRole')(PUBLISHER_ROLE, actors.attacker.address));
    expect(
      (
        await revertOf(
          log.as(actors.admin).getFunction('revokeRole')(PUBLISHER_ROLE, actors.attacker.address),
        )
      ).name,
    ).toBe('NotAdmin');
  });
});

describe('TufchainLog recalls', () => {
  it('records a recall of a digest or a metadata hash, readable by agents, once', async () => {
    const digest = randomHash();
    const metadataHash = randomHash();
    const c = log.as(actors.publisher);
    expect(await c.getFunction('isRecalled')(digest)).toBe(false);
    const events = await send(c.getFunction('recall')(digest, 'CVE-2026-0001'));
    expect(events).toEqual([
      { name: 'Recalled', args: [digest, actors.publisher.address, 'CVE-2026-0001'] },
    ]);
    await send(c.getFunction('recall')(metadataHash, 'bad release'));
    expect(await c.getFunction('isRecalled')(digest)).toBe(true);
    expect(await c.getFunction('isRecalled')(metadataHash)).toBe(true);
    expect(await c.getFunction('isRecalled')(randomHash())).toBe(false);
    expect(await c.getFunction('recalledAt')(digest)).toBeGreaterThan(0n);

    expect(await revertOf(c.getFunction('recall')(digest, 'again'))).toEqual({
      name: 'AlreadyRecalled',
      args: [digest],
    });
    expect((await revertOf(c.getFunction('recall')(`0x${'00'.repeat(32)}`, 'x'))).name).toBe(
      'ZeroSubject',
    );
  });
});

describe('TufchainLog minimum versions', () => {
  it('raises the anti-rollback floor per hardware ID and never lowers it', async () => {
    const ecuA = hardwareIdHash('ecu-brake-v1');
    const ecuB = hardwareIdHash('ecu-infotainment');
    const c = log.as(actors.publisher);
    expect(await c.getFunction('minimumVersion')(ecuA)).toBe(0n);
    const events = await send(c.getFunction('setMinimumVersion')(ecuA, 5));
    expect(events).toEqual([
      { name: 'MinimumVersionSet', args: [ecuA, 5n, 0n, actors.publisher.address] },
    ]);
    await send(c.getFunction('setMinimumVersion')(ecuA, 8));
    expect(await c.getFunction('minimumVersion')(ecuA)).toBe(8n);
    expect(await c.getFunction('minimumVersion')(ecuB)).toBe(0n);

    for (const lower of [8, 7, 0]) {
      expect(await revertOf(c.getFunction('setMinimumVersion')(ecuA, lower))).toEqual({
        name: 'MinimumVersionNotIncreasing',
        args: [8n, BigInt(lower)],
      });
    }
  });
});
