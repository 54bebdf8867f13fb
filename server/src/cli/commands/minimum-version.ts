import type { Command } from 'commander';
import {
  addJsonOption,
  addServerOptions,
  type CliRun,
  createApiClient,
  emit,
  type JsonOption,
  parsePositiveInt,
  type ServerOptions,
} from '../context.js';
import { CliError } from '../error.js';

interface MinimumVersionView {
  hardwareId: string;
  hardwareIdHash: string;
  minimumVersion: number;
}

interface MinimumVersionChange extends MinimumVersionView {
  previousVersion: number;
  chain: { txHash: string; blockNumber: number; blockHash: string };
}

interface SetOptions extends JsonOption, ServerOptions {
  yes?: boolean;
}

interface PrepareOptions extends JsonOption {
  contract: string;
  grantPublisherTo?: string;
}

const address = /^0x[0-9a-fA-F]{40}$/;

export function registerMinimumVersionCommand(program: Command, run: CliRun): void {
  const group = program
    .command('min-version')
    .description(
      'the on-chain minimum version (release counter) per hardware ID: vehicles refuse older releases with BELOW_MINIMUM_VERSION; it can only rise',
    );

  const show = group
    .command('show')
    .description('show the minimum version of a hardware ID, as the server’s publisher reads it')
    .argument('<hardware-id>', 'hardware ID, e.g. acme-gateway-ecu-rev3');
  addServerOptions(show);
  addJsonOption(show).action(async (hardwareId: string, opts: JsonOption & ServerOptions) => {
    const api = await createApiClient(run, opts);
    const { body } = await api.json<MinimumVersionView>(
      'GET',
      `/api/v1/minimum-version?hardwareId=${encodeURIComponent(hardwareId)}`,
    );
    emit(
      run,
      opts,
      body,
      `${body.hardwareId}: minimum version ${body.minimumVersion}${body.minimumVersion === 0 ? ' (none set)' : ''}`,
    );
  });

  const set = group
    .command('set')
    .description(
      'raise the minimum version of a hardware ID on chain, signed by the server’s publisher account (needs a token with the revoke scope); it can never be lowered again',
    )
    .argument('<hardware-id>', 'hardware ID')
    .argument('<version>', 'the new minimum release counter (a positive integer)')
    .option('--yes', 'confirm: every vehicle of this hardware ID refuses older releases for good');
  addServerOptions(set);
  addJsonOption(set).action(async (hardwareId: string, version: string, opts: SetOptions) => {
    const wanted = parsePositiveInt(version, 'the version');
    if (!opts.yes) {
      throw new CliError(
        'CONFIRMATION_REQUIRED',
        `raising the minimum version of ${hardwareId} to ${wanted} cannot be undone; add --yes`,
      );
    }
    const api = await createApiClient(run, opts);
    const { body } = await api.json<MinimumVersionChange>('PUT', '/api/v1/minimum-version', {
      body: { hardwareId, version: wanted },
    });
    emit(
      run,
      opts,
      body,
      [
        `${body.hardwareId}: minimum version ${body.previousVersion} -> ${body.minimumVersion}`,
        `tx ${body.chain.txHash} (block ${body.chain.blockNumber}), confirmed`,
      ].join('\n'),
    );
  });

  const prepare = group
    .command('prepare')
    .description(
      'print the calls a multisig (or any account the server does not hold) submits to raise the minimum version itself: optionally the admin granting the publisher role, then setMinimumVersion; works offline',
    )
    .argument('<hardware-id>', 'hardware ID')
    .argument('<version>', 'the new minimum release counter')
    .requiredOption('--contract <address>', 'TufchainLog address')
    .option(
      '--grant-publisher-to <address>',
      'also prepare the admin’s grantRole(PUBLISHER_ROLE, address) (e.g. the multisig itself)',
    );
  addJsonOption(prepare).action(
    async (hardwareId: string, version: string, opts: PrepareOptions) => {
      const wanted = parsePositiveInt(version, 'the version');
      for (const [what, value] of [
        ['--contract', opts.contract],
        ['--grant-publisher-to', opts.grantPublisherTo],
      ] as const) {
        if (value !== undefined && !address.test(value)) {
          throw new CliError('INVALID_ARGUMENT', `${what} must be a 0x address, got ${value}`);
        }
      }
      const { prepareGrantRole, prepareSetMinimumVersion } = await import('@tufchain/transparency');
      const calls = [
        ...(opts.grantPublisherTo
          ? [prepareGrantRole(opts.contract, 'publisher', opts.grantPublisherTo)]
          : []),
        prepareSetMinimumVersion(opts.contract, hardwareId, wanted),
      ];
      emit(
        run,
        opts,
        { calls },
        calls
          .map((c, i) => `call ${i + 1}: ${c.description}\n  to:   ${c.to}\n  data: ${c.data}`)
          .join('\n'),
      );
    },
  );
}
