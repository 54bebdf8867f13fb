import type { Command } from 'commander';
import { addChainOptions, createChainReader, type ChainOptions } from '../chain-options.js';
import {
  addJsonOption,
  addServerOptions,
  type CliRun,
  createApiClient,
  emit,
  type JsonOption,
  type ServerOptions,
} from '../context.js';
import { releaseText, type ReleaseView } from '../release-view.js';

interface RoleStatus {
  role: string;
  version: number;
  expires: string;
  secondsToExpiry: number;
  threshold: number;
  keyIds: string[];
  onlineKeyIds: string[];
  signing: 'online' | 'offline';
}

interface StatusOptions extends JsonOption, ServerOptions, ChainOptions {}

/** What the chain itself says about a release the server reports as logged. */
type ChainCheck =
  | { verified: true; txHash: string; blockNumber: number; confirmations: number }
  | { verified: false; code: string; message: string };

function days(seconds: number): string {
  return seconds < 0 ? 'EXPIRED' : `${(seconds / 86_400).toFixed(1)} d left`;
}

async function checkOnChain(
  releases: ReleaseView[],
  opts: StatusOptions,
): Promise<Map<number, ChainCheck>> {
  const chain = await createChainReader(opts);
  const out = new Map<number, ChainCheck>();
  try {
    for (const r of releases) {
      if ((r.status !== 'confirmed' && r.status !== 'revoked') || !r.metadataHash) continue;
      try {
        const logged = await chain.findRelease(r.metadataHash);
        if (
          r.chain &&
          (logged.txHash !== r.chain.txHash || logged.blockNumber !== r.chain.blockNumber)
        ) {
          out.set(r.id, {
            verified: false,
            code: 'CHAIN_REFERENCE_MISMATCH',
            message: `logged in tx ${logged.txHash} (block ${logged.blockNumber}), the server claims ${r.chain.txHash}`,
          });
        } else {
          out.set(r.id, {
            verified: true,
            txHash: logged.txHash,
            blockNumber: logged.blockNumber,
            confirmations: logged.confirmations,
          });
        }
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === 'RPC_UNAVAILABLE') throw error;
        out.set(r.id, {
          verified: false,
          code: typeof code === 'string' ? code : 'CHAIN_CHECK_FAILED',
          message: error instanceof Error ? error.message : String(error),
        });
      }
    }
  } finally {
    chain.destroy();
  }
  return out;
}

export function registerStatusCommand(program: Command, run: CliRun): void {
  const status = program
    .command('status')
    .description(
      'roles (version, expiry, threshold, keys, online/offline) and releases with their chain status; with --rpc, each release is checked on chain too (exit 1 if one is not)',
    );
  addChainOptions(status, 'JSON-RPC endpoint: verify every release on chain (repeat for a quorum)');
  addServerOptions(status);
  addJsonOption(status).action(async (opts: StatusOptions) => {
    const api = await createApiClient(run, opts);
    const [roles, releases] = await Promise.all([
      api.json<{ roles: RoleStatus[] }>('GET', '/api/v1/status'),
      api.json<{ releases: ReleaseView[] }>('GET', '/api/v1/releases'),
    ]);
    const checks =
      (opts.rpc ?? []).length > 0 ? await checkOnChain(releases.body.releases, opts) : undefined;
    const lines = [`server ${api.baseUrl}`, 'roles:'];
    for (const r of roles.body.roles) {
      lines.push(
        `  ${r.role.padEnd(9)} v${r.version}  expires ${r.expires} (${days(r.secondsToExpiry)})  ${r.threshold} of ${r.keyIds.length} keys, ${r.signing}`,
        ...r.keyIds.map((k) => `    ${k}${r.onlineKeyIds.includes(k) ? ' (online)' : ''}`),
      );
    }
    lines.push(`releases: ${releases.body.releases.length}`);
    for (const rel of releases.body.releases) {
      lines.push(releaseText(rel).replace(/^/gm, '  '));
      const check = checks?.get(rel.id);
      if (check?.verified)
        lines.push(`    on chain: verified, ${check.confirmations} confirmation(s)`);
      else if (check) lines.push(`    on chain: NOT VERIFIED ${check.code}: ${check.message}`);
    }
    if (checks && [...checks.values()].some((c) => !c.verified)) run.exitCode = 1;
    emit(
      run,
      opts,
      {
        server: api.baseUrl,
        roles: roles.body.roles,
        releases: releases.body.releases.map((r) =>
          checks?.has(r.id) ? { ...r, onChain: checks.get(r.id) } : r,
        ),
      },
      lines.join('\n'),
    );
  });
}
