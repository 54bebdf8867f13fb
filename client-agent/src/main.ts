/**
 * tufchain-agent: the vehicle agent's command line and daemon. The only module that reads
 * process.env and process.argv.
 *
 *   tufchain-agent run-once   [--config FILE] [--json]   one verified update cycle
 *   tufchain-agent daemon     [--config FILE] [--json]   poll at the configured interval, with jitter
 *   tufchain-agent status     [--config FILE] [--json]   slots, journal, report queue
 *   tufchain-agent send-reports [--config FILE] [--json] flush queued install reports
 *   tufchain-agent provision  [--config FILE] --image FILE --name NAME --version V --release-counter N
 *   tufchain-agent sync-chain [--config FILE] [--json]   store the chain snapshot for offline installs
 *   tufchain-agent install-bundle FILE [--config FILE] [--json]   install an offline bundle, no network
 *   tufchain-agent secondary  --config FILE               a secondary ECU (Uptane), until stopped
 *   tufchain-agent register-ecus [--config FILE] [--json] register the vehicle's ECUs with the Director
 *   tufchain-agent bundle create --server URL --hardware-id ID --out FILE [--delta-from VERSION [--delta-only]]
 *                                                          (dealer tool, no settings)
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { runUpdate, sendQueuedReports, type UpdateResult } from './agent.js';
import { runUpdateWithRenewal, type CertificateCheck } from './enroll/renewal.js';
import { createProgressBar } from './cli/progress.js';
import { ENV, loadSettings, nextPollDelayMs } from './cli/settings.js';
import { buildUpdateOptions, readStatus } from './cli/wire.js';
import { AgentError } from './error.js';
import { FileSlotStore } from './slots/ab-slots.js';

// Modules of the other commands load when those run: less resident memory for an update.
const offlineBundle = () => import('./offline/bundle.js');
const chainSnapshot = () => import('./verify/chain-snapshot.js');
const pollLoop = () => import('./cli/daemon.js');

/** User Timing entry of a run-once update cycle (bench/agent-probe.mjs reads it). */
const UPDATE_CYCLE_MEASURE = 'tufchain:update-cycle';

const USAGE = `usage: tufchain-agent <run-once|daemon|status|send-reports|register-ecus|provision|sync-chain|install-bundle FILE> [--config FILE] [--json]
       tufchain-agent bundle create --server URL --hardware-id ID --out FILE [--delta-from VERSION [--delta-only]]
       tufchain-agent secondary --config FILE   (a secondary ECU; key passphrase: $TUFCHAIN_SECONDARY_PASSPHRASE)
  settings file: --config, or $${ENV.config}; overrides: $${ENV.serverUrl}, $${ENV.rpcUrls},
  $${ENV.hardwareId}, $${ENV.pollInterval}; vehicle key passphrase: $${ENV.vehiclePassphrase}
  or a file named by $${ENV.vehiclePassphraseFile}`;

async function passphraseOf(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const file = env[ENV.vehiclePassphraseFile];
  return (
    env[ENV.vehiclePassphrase] ?? (file ? (await readFile(file, 'utf8')).trimEnd() : undefined)
  );
}

function summarize(result: UpdateResult): string {
  const t = result.target ? `${result.target.name} (${result.target.version})` : '';
  const chain = result.release
    ? ` logged at block ${result.release.blockNumber} tx ${result.release.txHash}`
    : '';
  return `${result.status} ${t}; active slot ${result.activeSlot}${chain}`;
}

function errorJson(err: unknown): { error: { code: string; message: string } } {
  if (err instanceof AgentError) return { error: { code: err.code, message: err.message } };
  const code = (err as { code?: unknown } | null)?.code;
  return {
    error: {
      code: typeof code === 'string' ? code : 'INTERNAL',
      message: err instanceof Error ? err.message : String(err),
    },
  };
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      image: { type: 'string' },
      name: { type: 'string' },
      version: { type: 'string' },
      'release-counter': { type: 'string' },
      server: { type: 'string' },
      'hardware-id': { type: 'string' },
      out: { type: 'string' },
      'delta-from': { type: 'string' },
      'delta-only': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const command = positionals[0];
  const out = (text: string, json: unknown): void => {
    process.stdout.write(values.json ? `${JSON.stringify(json)}\n` : `${text}\n`);
  };
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  if (command === 'bundle') {
    const { server, out: outPath } = values;
    const hardwareId = values['hardware-id'];
    if (positionals[1] !== 'create' || !server || !hardwareId || !outPath) {
      throw new AgentError(
        'CONFIG_INVALID',
        'usage: bundle create --server URL --hardware-id ID --out FILE [--delta-from VERSION [--delta-only]]',
      );
    }
    const { createOfflineBundle } = await offlineBundle();
    const deltaFrom = values['delta-from'];
    const deltaOnly = values['delta-only'] === true;
    if (deltaOnly && deltaFrom === undefined) {
      throw new AgentError('CONFIG_INVALID', '--delta-only needs --delta-from VERSION');
    }
    const made = await createOfflineBundle({
      serverUrl: server,
      hardwareId,
      outPath,
      ...(deltaFrom !== undefined ? { deltaFrom } : {}),
      ...(deltaOnly ? { deltaOnly } : {}),
    });
    const delta = made.delta
      ? ` (${made.fullImage ? 'with' : 'only'} the delta from ${made.delta.baseVersion}, ${made.delta.length} bytes)`
      : '';
    out(`wrote ${outPath}: ${made.target}, ${made.bytes} bytes${delta}`, { out: outPath, ...made });
    return 0;
  }
  if (command === 'secondary') {
    if (!values.config) throw new AgentError('CONFIG_INVALID', 'usage: secondary --config FILE');
    const { runSecondary } = await import('./uptane/secondary-main.js');
    return runSecondary(values.config, env);
  }
  const configPath = values.config ?? env[ENV.config];
  if (!configPath)
    throw new AgentError('CONFIG_INVALID', `no settings file (--config or $${ENV.config})`);
  const settings = await loadSettings(configPath, env);

  switch (command) {
    case 'status': {
      const status = await readStatus(settings);
      const active = status.slots.slots[status.slots.active];
      out(
        `active slot ${status.slots.active}: ${active?.name ?? '?'} ${active?.version ?? ''}; ` +
          `journal ${status.journal}; reports queued ${status.reports.queued}`,
        status,
      );
      return 0;
    }
    case 'provision': {
      const { image, name, version } = values;
      const counter = Number(values['release-counter']);
      if (!image || !name || !version || !Number.isSafeInteger(counter) || counter < 0) {
        throw new AgentError(
          'CONFIG_INVALID',
          'provision needs --image --name --version --release-counter',
        );
      }
      await FileSlotStore.provision(settings.slotsDir, {
        image: await readFile(image),
        name,
        version,
        releaseCounter: counter,
      });
      out(`provisioned ${settings.slotsDir} with ${name} ${version}`, {
        provisioned: settings.slotsDir,
      });
      return 0;
    }
    case 'send-reports': {
      const flushed = await sendQueuedReports({
        serverUrl: settings.serverUrl,
        stateDir: settings.stateDir,
      });
      out(`sent ${flushed.sent.length}, pending ${flushed.pending.length}`, flushed);
      return 0;
    }
    case 'sync-chain': {
      const opts = await buildUpdateOptions(settings, await passphraseOf(env));
      try {
        const { syncChainSnapshot } = await chainSnapshot();
        const snap = await syncChainSnapshot({
          chain: opts.chain,
          hardwareId: settings.hardwareId,
          chainId: settings.chain.chainId,
          stateDir: settings.stateDir,
        });
        out(
          `chain snapshot at block ${snap.checkpoint.blockNumber}: ${snap.releases.length} releases`,
          {
            checkpoint: snap.checkpoint,
            releases: snap.releases.length,
            minimumVersion: snap.minimumVersion,
          },
        );
        return 0;
      } finally {
        opts.chain.destroy();
      }
    }
    case 'install-bundle': {
      const bundlePath = positionals[1];
      if (!bundlePath) throw new AgentError('CONFIG_INVALID', 'usage: install-bundle FILE');
      const opts = await buildUpdateOptions(settings, await passphraseOf(env));
      opts.chain.destroy();
      const { serverUrl: _s, chain: _c, chainId: _i, sendReports: _r, ...offline } = opts;
      const { installOfflineBundle } = await offlineBundle();
      const result = await installOfflineBundle({ ...offline, bundlePath });
      out(summarize(result), {
        ...result,
        report: result.report && { id: result.report.id, sent: false },
      });
      return 0;
    }
    case 'register-ecus': {
      if (!settings.director)
        throw new AgentError('CONFIG_INVALID', 'register-ecus needs a director section');
      const { buildVehicleUpdateOptions } = await import('./cli/vehicle-wire.js');
      const { registerEcus } = await import('./uptane/register.js');
      const opts = await buildVehicleUpdateOptions(settings, await passphraseOf(env));
      try {
        const r = await registerEcus(opts);
        out(
          `${r.changed ? `registered inventory version ${r.version ?? '?'}` : 'inventory unchanged'}: ` +
            r.registration.ecus.map((e) => `${e.ecu_serial} (${e.hardware_identifier})`).join(', '),
          r,
        );
        return 0;
      } finally {
        opts.chain.destroy();
      }
    }
    case 'run-once':
    case 'daemon': {
      if (settings.director) return runVehicle(command, settings, env, out, values.json);
      const opts = await buildUpdateOptions(settings, await passphraseOf(env));
      if (!values.json && process.stderr.isTTY) {
        opts.onProgress = createProgressBar((s) => process.stderr.write(s));
      }
      const { renewal, ...updateOptions } = opts;
      // Keeps the vehicle certificate fresh first; the update itself never waits on it.
      const cycle = async (): Promise<UpdateResult & { certificate?: CertificateCheck }> => {
        if (!renewal) return runUpdate(updateOptions);
        const result = await runUpdateWithRenewal({ ...updateOptions, renewal });
        updateOptions.vehicle = {
          ...updateOptions.vehicle,
          certificatePem: result.certificate.certificatePem,
        };
        return result;
      };
      try {
        if (command === 'run-once') {
          const started = performance.now();
          const result = await cycle();
          performance.measure(UPDATE_CYCLE_MEASURE, { start: started });
          out(summarize(result), {
            ...result,
            report: result.report && { id: result.report.id, sent: result.report.sent },
          });
          return 0;
        }
        const controller = new AbortController();
        for (const sig of ['SIGTERM', 'SIGINT'] as const)
          process.once(sig, () => controller.abort());
        const { runPollLoop } = await pollLoop();
        await runPollLoop({
          cycle,
          nextDelayMs: () => nextPollDelayMs(settings.pollIntervalSeconds, settings.pollJitter),
          onResult: (r) =>
            out(`${new Date().toISOString()} ${summarize(r)}`, {
              at: new Date().toISOString(),
              status: r.status,
              target: r.target,
              activeSlot: r.activeSlot,
            }),
          onError: (err) =>
            values.json
              ? process.stdout.write(
                  `${JSON.stringify({ at: new Date().toISOString(), ...errorJson(err) })}\n`,
                )
              : process.stderr.write(
                  `${new Date().toISOString()} ${errorJson(err).error.code}: ${errorJson(err).error.message}\n`,
                ),
          signal: controller.signal,
        });
        return 0;
      } finally {
        opts.chain.destroy();
      }
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      return 2;
  }
}

/** run-once / daemon of a vehicle's primary (settings with a `director` section): Uptane. */
async function runVehicle(
  command: 'run-once' | 'daemon',
  settings: Awaited<ReturnType<typeof loadSettings>>,
  env: NodeJS.ProcessEnv,
  out: (text: string, json: unknown) => void,
  json: boolean,
): Promise<number> {
  const { buildVehicleUpdateOptions } = await import('./cli/vehicle-wire.js');
  const { runVehicleUpdate } = await import('./uptane/primary.js');
  const opts = await buildVehicleUpdateOptions(settings, await passphraseOf(env));
  if (!json && process.stderr.isTTY) {
    opts.onProgress = createProgressBar((s) => process.stderr.write(s));
  }
  const say = (r: Awaited<ReturnType<typeof runVehicleUpdate>>): string =>
    `${r.status}${r.code ? ` ${r.code}` : ''}; Director targets v${r.director.targetsVersion}; ` +
    r.ecus.map((e) => `${e.serial} ${e.outcome} ${e.target.name}`).join(', ');
  try {
    if (command === 'run-once') {
      const started = performance.now();
      const result = await runVehicleUpdate(opts);
      performance.measure(UPDATE_CYCLE_MEASURE, { start: started });
      out(say(result), result);
      return 0;
    }
    const controller = new AbortController();
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => controller.abort());
    const { runPollLoop } = await pollLoop();
    await runPollLoop({
      cycle: () => runVehicleUpdate(opts),
      nextDelayMs: () => nextPollDelayMs(settings.pollIntervalSeconds, settings.pollJitter),
      onResult: (r) =>
        out(`${new Date().toISOString()} ${say(r)}`, { at: new Date().toISOString(), ...r }),
      onError: (err) =>
        json
          ? process.stdout.write(
              `${JSON.stringify({ at: new Date().toISOString(), ...errorJson(err) })}\n`,
            )
          : process.stderr.write(
              `${new Date().toISOString()} ${errorJson(err).error.code}: ${errorJson(err).error.message}\n`,
            ),
      signal: controller.signal,
    });
    return 0;
  } finally {
    opts.chain.destroy();
  }
}

if (import.meta.main) {
  const json = process.argv.includes('--json');
  const fail = (err: unknown): never => {
    const e = errorJson(err);
    if (json) process.stdout.write(`${JSON.stringify(e)}\n`);
    else process.stderr.write(`tufchain-agent: ${e.error.code}: ${e.error.message}\n`);
    process.exit(err instanceof AgentError && err.code === 'CONFIG_INVALID' ? 2 : 1);
  };
  // A command whose work is pending while nothing is left to wake it would let Node exit 0 with
  // nothing said (a request that can never end did that once); say so and fail instead.
  process.once('beforeExit', () =>
    fail(new AgentError('AGENT_STALLED', 'the command stopped before it finished')),
  );
  main(process.argv.slice(2), process.env).then((code) => process.exit(code), fail);
}
