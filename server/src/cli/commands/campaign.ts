import type { Command } from 'commander';
import {
  addJsonOption,
  addServerOptions,
  collect,
  createApiClient,
  emit,
  parsePositiveInt,
  type CliRun,
  type JsonOption,
  type ServerOptions,
} from '../context.js';
import { CliError } from '../error.js';

/** A campaign as the server answers it (GET /api/v1/campaigns/{id}). */
interface CampaignView {
  id: number;
  urn: string;
  name: string;
  groupId: number;
  state: string;
  wave: number;
  reason: string | null;
  release: { hardwareId: string; name: string }[];
  waves: {
    wave: number;
    percent: number;
    startedAt: string | null;
    assignedAt: string | null;
    counts: {
      members: number;
      assigned: number;
      skipped: number;
      inProgress: number;
      deferred: number;
      retriesExhausted: number;
      succeeded: number;
      failed: number;
    };
  }[];
}

export function campaignText(c: CampaignView): string {
  return [
    `campaign ${c.id} "${c.name}" ${c.state}${c.wave > 0 ? ` (wave ${c.wave} of ${c.waves.length})` : ''}: group ${c.groupId}`,
    ...(c.reason ? [`  reason: ${c.reason}`] : []),
    ...c.release.map((r) => `  ${r.hardwareId} <- ${r.name}`),
    ...c.waves.map((w) => {
      const n = w.counts;
      const head = `  wave ${w.wave} (${w.percent} %)`;
      if (!w.startedAt) return `${head}: not started`;
      return `${head}: ${n.members} members, ${n.assigned} assigned, ${n.succeeded} succeeded, ${n.failed} failed, ${n.inProgress} in progress, ${n.deferred} deferred, ${n.retriesExhausted} gave up, ${n.skipped} skipped${w.assignedAt ? '' : ' (assigning)'}`;
    }),
  ].join('\n');
}

/** `--image HW=NAME` pairs. */
function parseRelease(pairs: string[]): { hardwareId: string; name: string }[] {
  if (pairs.length === 0) throw new CliError('USAGE_ERROR', 'at least one --image HW=NAME');
  return pairs.map((p) => {
    const at = p.indexOf('=');
    if (at <= 0 || at === p.length - 1) {
      throw new CliError('USAGE_ERROR', `--image ${p}: expected HARDWARE_ID=TARGET_NAME`);
    }
    return { hardwareId: p.slice(0, at), name: p.slice(at + 1) };
  });
}

/** `1,10,50,100` */
function parseWaves(text: string): number[] {
  const waves = text.split(',').map(Number);
  if (waves.some((w) => !Number.isFinite(w) || w <= 0 || w > 100)) {
    throw new CliError('USAGE_ERROR', `--waves ${text}: expected percentages such as 1,10,50,100`);
  }
  return waves;
}

function parseNumber(text: string, what: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new CliError('INVALID_ARGUMENT', `${what} must be a number ≥ 0, got ${text}`);
  }
  return n;
}

interface CreateOptions extends JsonOption, ServerOptions {
  name: string;
  group: string;
  image: string[];
  waves: string;
  soak: string;
  successPercent: string;
  failPercent?: string;
  failCount?: string;
  maxDeferrals: string;
}

/** `tufchain campaign create|start|pause|resume|cancel|rollback|status` (token scope campaigns). */
export function registerCampaignCommand(program: Command, run: CliRun): void {
  const campaign = program
    .command('campaign')
    .description(
      'staged rollouts of a release set to a fleet group, in waves with gates and an automatic stop',
    );

  const create = campaign
    .command('create')
    .description('create a draft campaign (nothing is assigned until `campaign start`)')
    .requiredOption('--name <name>', 'a name for people (never a VIN)')
    .requiredOption('--group <id>', 'fleet group id')
    .option('--image <hw=name>', 'hardware ID = image-repository target name (repeat)', collect, [])
    .option('--waves <list>', 'cumulative percentages', '1,10,50,100')
    .option('--soak <seconds>', 'minimum soak time of each wave', '3600')
    .option('--success-percent <p>', 'succeeded share of a wave before the next starts', '95')
    .option('--fail-percent <p>', 'stop when failures exceed this share of a wave')
    .option('--fail-count <n>', 'stop when a wave has this many failures')
    .option('--max-deferrals <n>', 'deferrals after which a vehicle is no longer waited for', '3');
  addServerOptions(create);
  addJsonOption(create).action(async (opts: CreateOptions) => {
    if (opts.failPercent === undefined && opts.failCount === undefined) {
      throw new CliError('USAGE_ERROR', 'set --fail-percent, --fail-count or both');
    }
    const soak = parseNumber(opts.soak, '--soak');
    const successPercent = parseNumber(opts.successPercent, '--success-percent');
    const body = {
      name: opts.name,
      groupId: parsePositiveInt(opts.group, 'the group id'),
      release: parseRelease(opts.image),
      waves: parseWaves(opts.waves).map((percent) => ({
        percent,
        minSoakSeconds: soak,
        successPercent,
      })),
      failureThreshold: {
        ...(opts.failPercent === undefined
          ? {}
          : { percent: parseNumber(opts.failPercent, '--fail-percent') }),
        ...(opts.failCount === undefined
          ? {}
          : { count: parsePositiveInt(opts.failCount, '--fail-count') }),
      },
      maxDeferrals: parsePositiveInt(opts.maxDeferrals, '--max-deferrals'),
    };
    const api = await createApiClient(run, opts);
    const res = await api.json<CampaignView>('POST', '/api/v1/campaigns', { body });
    emit(run, opts, res.body, campaignText(res.body));
  });

  const status = campaign
    .command('status')
    .description('a campaign with its counts per wave (verified reports only)')
    .argument('<id>', 'campaign id')
    .option(
      '--watch [seconds]',
      'print it again every few seconds (default 5) until it is finished or cancelled; with --json one line per print',
    );
  addServerOptions(status);
  addJsonOption(status).action(
    async (id: string, opts: JsonOption & ServerOptions & { watch?: string | true }) => {
      const api = await createApiClient(run, opts);
      const n = parsePositiveInt(id, 'the campaign id');
      const get = async () => (await api.json<CampaignView>('GET', `/api/v1/campaigns/${n}`)).body;
      if (opts.watch === undefined) {
        const body = await get();
        emit(run, opts, body, campaignText(body));
        return;
      }
      const seconds = opts.watch === true ? 5 : parseNumber(opts.watch, '--watch');
      const stop = run.stopSignal?.();
      for (;;) {
        const body = await get();
        run.io.stdout(
          opts.json ? JSON.stringify(body) : `${new Date().toISOString()}\n${campaignText(body)}`,
        );
        if (body.state === 'finished' || body.state === 'cancelled' || stop?.aborted) return;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0.5, seconds) * 1000);
          stop?.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        if (stop?.aborted) return;
      }
    },
  );

  for (const [name, description, withReason] of [
    ['start', 'snapshot the group and start wave 1', false],
    ['pause', 'pause: no further vehicle is assigned until resumed', true],
    ['resume', 'resume a paused or automatically stopped campaign', false],
    ['cancel', 'cancel: no further vehicle is assigned, ever', true],
  ] as const) {
    const cmd = campaign.command(name).description(description).argument('<id>', 'campaign id');
    if (withReason) cmd.requiredOption('--reason <text>', 'why (kept and logged; never a VIN)');
    addServerOptions(cmd);
    addJsonOption(cmd).action(
      async (id: string, opts: JsonOption & ServerOptions & { reason?: string }) => {
        const api = await createApiClient(run, opts);
        const n = parsePositiveInt(id, 'the campaign id');
        const res = await api.json<CampaignView>('POST', `/api/v1/campaigns/${n}/${name}`, {
          ...(withReason ? { body: { reason: opts.reason } } : {}),
        });
        emit(run, opts, res.body, campaignText(res.body));
      },
    );
  }

  const rollback = campaign
    .command('rollback')
    .description(
      'create the draft campaigns giving the vehicles this finished or cancelled campaign updated what they ran before (one per previous release set)',
    )
    .argument('<id>', 'campaign id')
    .option('--name <name>', 'a name for people (default: "rollback of …")')
    .option('--waves <list>', 'cumulative percentages (default: 100)');
  addServerOptions(rollback);
  addJsonOption(rollback).action(
    async (id: string, opts: JsonOption & ServerOptions & { name?: string; waves?: string }) => {
      const n = parsePositiveInt(id, 'the campaign id');
      const body = {
        ...(opts.name === undefined ? {} : { name: opts.name }),
        ...(opts.waves === undefined
          ? {}
          : { waves: parseWaves(opts.waves).map((percent) => ({ percent })) }),
      };
      const api = await createApiClient(run, opts);
      const res = await api.json<{ campaigns: CampaignView[] }>(
        'POST',
        `/api/v1/campaigns/${n}/rollback`,
        { body },
      );
      // One draft per release set the updated vehicles ran before.
      emit(run, opts, res.body, res.body.campaigns.map((c) => campaignText(c)).join('\n\n'));
    },
  );
}
