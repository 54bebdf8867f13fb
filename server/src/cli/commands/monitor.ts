import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import { pino } from 'pino';
import { MetricsRegistry } from '../../metrics.js';
import type { Alert } from '../../monitor/alert.js';
import { createMonitorMetrics } from '../../monitor/metrics.js';
import { openMonitor } from '../../monitor/open.js';
import { addChainOptions, createChainReader, type ChainOptions } from '../chain-options.js';
import {
  addJsonOption,
  parsePositiveInt,
  resolveServerUrl,
  type CliRun,
  type JsonOption,
} from '../context.js';
import { CliError } from '../error.js';

interface MonitorOptions extends ChainOptions, JsonOption {
  server?: string;
  root: string;
  expectations: string;
  state: string;
  webhook?: string;
  webhookSecretFile?: string;
  pollMs: string;
  auditGraceS: string;
  metricsPort?: string;
  once?: boolean;
}

function formatAlert(a: Alert): string {
  return `${a.severity.toUpperCase()} ${a.kind} ${a.message} (alert ${a.id.slice(0, 16)})`;
}

export function registerMonitorCommand(program: Command, run: CliRun): void {
  const cmd = program
    .command('monitor')
    .description(
      "follow the contract's events and alert on any logged release, signer, delegation or publisher the OEM does not expect, on recalls, minimum-version changes, inconsistent anchors, served snapshots not logged and metadata close to expiry",
    )
    .option('--server <url>', 'update server base URL (default: $TUFCHAIN_SERVER)')
    .requiredOption('--root <file>', 'trusted root metadata (normally 1.root.json)')
    .requiredOption('--expectations <file>', "the OEM's expectations (JSON; see server/README.md)")
    .requiredOption('--state <file>', 'checkpoint and raised alert IDs, kept across restarts')
    .option('--webhook <url>', 'POST each alert here as JSON, signed with X-Tufchain-Signature')
    .option('--webhook-secret-file <file>', 'HMAC-SHA256 secret of the webhook (first line)')
    .option('--poll-ms <ms>', 'how often to poll the chain', '1000')
    .option('--audit-grace-s <s>', 'how long an audit finding must persist before it alerts', '30')
    .option('--metrics-port <port>', 'serve Prometheus metrics on 127.0.0.1:<port>/metrics')
    .option('--once', 'poll once, print the alerts and exit (1 when any alert was raised)');
  addChainOptions(cmd, 'JSON-RPC endpoint (repeat for a k-of-n quorum)');
  addJsonOption(cmd).action(async (opts: MonitorOptions) => {
    if (opts.chainId === undefined) {
      throw new CliError('USAGE_ERROR', '--chain-id is required: alert IDs are per chain');
    }
    if ((opts.webhook === undefined) !== (opts.webhookSecretFile === undefined)) {
      throw new CliError('USAGE_ERROR', '--webhook and --webhook-secret-file go together');
    }
    const serverUrl = resolveServerUrl(run, opts);
    const pollIntervalMs = parsePositiveInt(opts.pollMs, '--poll-ms');
    const auditGraceMs = Number(opts.auditGraceS) * 1000;
    if (!Number.isFinite(auditGraceMs) || auditGraceMs < 0) {
      throw new CliError(
        'INVALID_ARGUMENT',
        `--audit-grace-s must be >= 0, got ${opts.auditGraceS}`,
      );
    }
    const metricsPort =
      opts.metricsPort === undefined
        ? undefined
        : parsePositiveInt(opts.metricsPort, '--metrics-port');
    const logger = pino(
      { base: { component: 'monitor' } },
      { write: (line: string) => run.io.stderr(line.trimEnd()) },
    );
    const metrics = new MetricsRegistry(logger);
    const chain = await createChainReader(opts);
    const metricsServer =
      metricsPort === undefined
        ? undefined
        : createServer((req, res) => {
            if (req.url !== '/metrics') {
              res.writeHead(404).end();
              return;
            }
            void metrics.render().then((text) => {
              res.writeHead(200, { 'content-type': metrics.contentType }).end(text);
            });
          });
    try {
      const monitor = await openMonitor({
        chain,
        chainId: parsePositiveInt(opts.chainId, '--chain-id'),
        contractAddress: opts.contract!,
        serverUrl,
        rootFile: opts.root,
        expectationsFile: opts.expectations,
        state: { file: opts.state },
        ...(opts.webhook && opts.webhookSecretFile
          ? { webhook: { url: opts.webhook, secretFile: opts.webhookSecretFile } }
          : {}),
        logger,
        metrics: createMonitorMetrics(metrics),
        config: { pollIntervalMs, auditGraceMs },
      });
      const print = (alerts: readonly Alert[]): void => {
        for (const a of alerts) run.io.stdout(opts.json ? JSON.stringify(a) : formatAlert(a));
      };
      if (opts.once) {
        const alerts = await monitor.poll();
        print(alerts);
        if (alerts.length > 0) run.exitCode = 1;
        return;
      }
      if (metricsServer) {
        await new Promise<void>((resolve) =>
          metricsServer.listen(metricsPort, '127.0.0.1', resolve),
        );
        logger.info({ port: (metricsServer.address() as AddressInfo).port }, 'metrics listening');
      }
      const signal = run.stopSignal?.() ?? new AbortController().signal;
      const loop = monitor.run(print);
      logger.info({ checkpoint: monitor.checkpoint }, 'monitor running');
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      await loop.stop();
    } finally {
      metricsServer?.close();
      chain.destroy();
    }
  });
}
