import { readFile } from 'node:fs/promises';
import { createHttpAuditSource } from '@tufchain/transparency';
import type { Logger } from 'pino';
import { ServerError } from '../error.js';
import { loadExpectations } from './expectations.js';
import type { MonitorMetrics } from './metrics.js';
import { Monitor, type MonitorChain, type MonitorConfig } from './monitor.js';
import { parseTrustedRoot } from './served.js';
import type { ServerReleaseRecords } from './server-releases.js';
import { createFileStateStore, type MonitorStateStore } from './state.js';

export interface OpenMonitorOptions {
  chain: MonitorChain;
  chainId: number;
  contractAddress: string;
  serverUrl: string;
  /** The root the monitor trusts on first use (normally 1.root.json). */
  rootFile: string;
  expectationsFile: string;
  /** Where the state is kept: a JSON file (the standalone monitor), or a store (the daemon's). */
  state: { file: string } | { store: MonitorStateStore };
  /** The daemon's release store: releases it recorded count as known (server-releases.ts). */
  serverReleases?: ServerReleaseRecords;
  webhook?: { url: string; secretFile: string };
  logger: Logger;
  metrics?: MonitorMetrics;
  config?: Partial<MonitorConfig>;
  /** The vehicle CA: with it the periodic audit verifies install reports too (audit packs). */
  vehicleCaPem?: string;
}

async function readConfigFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ServerError('CONFIG_INVALID', `cannot read the ${what} ${path}`, { cause: error });
  }
}

export interface MonitorFiles {
  trustedRoot: ReturnType<typeof parseTrustedRoot>;
  expectations: Awaited<ReturnType<typeof loadExpectations>>;
  webhook?: { url: string; secret: string };
}

/**
 * Reads and checks the monitor's files (the trusted root, the OEM's expectations, the webhook
 * secret); CONFIG_INVALID names the first bad one. The daemon calls it before it touches its
 * repository or the chain, so that a bad file stops the start with nothing done.
 */
export async function loadMonitorFiles(
  opts: Pick<OpenMonitorOptions, 'rootFile' | 'expectationsFile' | 'webhook'>,
): Promise<MonitorFiles> {
  let trustedRoot;
  try {
    trustedRoot = parseTrustedRoot(JSON.parse(await readConfigFile(opts.rootFile, 'trusted root')));
  } catch (error) {
    if (error instanceof ServerError) throw error;
    throw new ServerError('CONFIG_INVALID', `the trusted root ${opts.rootFile} does not verify`, {
      cause: error,
    });
  }
  let webhook;
  if (opts.webhook) {
    const url = URL.parse(opts.webhook.url);
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new ServerError(
        'CONFIG_INVALID',
        `the webhook URL must be http(s): ${opts.webhook.url}`,
      );
    }
    const secret = (await readConfigFile(opts.webhook.secretFile, 'webhook secret file')).split(
      '\n',
    )[0]!;
    // HMAC-SHA256 keys shorter than this are guessable from signed bodies.
    if (secret.length < 16) {
      throw new ServerError(
        'CONFIG_INVALID',
        `the webhook secret in ${opts.webhook.secretFile} is shorter than 16 characters`,
      );
    }
    webhook = { url: url.href, secret };
  }
  const expectations = await loadExpectations(opts.expectationsFile);
  return { trustedRoot, expectations, ...(webhook ? { webhook } : {}) };
}

/** A started Monitor from files (or from what loadMonitorFiles read of them already). */
export async function openMonitor(
  opts: OpenMonitorOptions,
  loaded?: MonitorFiles,
): Promise<Monitor> {
  const { trustedRoot, expectations, webhook } = loaded ?? (await loadMonitorFiles(opts));
  const monitor = new Monitor({
    chain: opts.chain,
    chainId: opts.chainId,
    contractAddress: opts.contractAddress,
    source: createHttpAuditSource(opts.serverUrl),
    trustedRoot,
    expectations,
    stateStore: 'store' in opts.state ? opts.state.store : createFileStateStore(opts.state.file),
    logger: opts.logger,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    ...(webhook ? { webhook } : {}),
    ...(opts.config ? { config: opts.config } : {}),
    ...(opts.vehicleCaPem ? { vehicleCaPem: opts.vehicleCaPem } : {}),
    ...(opts.serverReleases ? { serverReleases: opts.serverReleases } : {}),
  });
  await monitor.start();
  return monitor;
}
