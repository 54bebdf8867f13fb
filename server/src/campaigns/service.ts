import { randomBytes } from 'node:crypto';
import type { CampaignEventKind } from '@tufchain/transparency/wire';
import type { Logger } from 'pino';
import type { Clock } from '../config.js';
import type { DirectorService } from '../director/service.js';
import { ServerError } from '../error.js';
import { assertNoVinInClear } from '../fleet/attributes.js';
import { assertLoggable } from '../log/loggable.js';
import { membersSha256, type FleetService } from '../fleet/service.js';
import type { TransparencyLogSink } from '../log-sink.js';
import { Mutex } from '../mutex.js';
import { errorText } from '../tuf/service.js';
import { assignCampaignVehicle } from './assign.js';
import { cancelOpenAssignments } from './cancel.js';
import { flushCampaignEvents } from './outbox.js';
import { createRollbackCampaigns, planRollback } from './rollback.js';
import {
  campaignStatus,
  waveSnapshotPage,
  type CampaignStatus,
  type WaveSnapshotPage,
} from './queries.js';
import { checkCoverage, checkOverlap } from './checks.js';
import { countWaves, decideGate, failureStop, outcomeOf, type GateDecision } from './gates.js';
import type {
  CampaignEventRecord,
  CreateCampaignInput,
  RollbackInput,
  CampaignRecord,
  CampaignState,
  ReleaseImage,
  VehicleOutcomeRow,
} from './model.js';
import type { CampaignStore, Transition } from './store.js';
import { assignmentSha256, checkWaves, waveMembers } from './waves.js';

export type { CreateCampaignInput, RollbackInput } from './model.js';
export type { CampaignStatus, WaveSnapshotPage } from './queries.js';

/** Campaign vehicles assigned between two reads of the campaign's state (a pause stops there). */
const ASSIGN_BATCH = 50;
/** Errors that end a wave start by pausing the campaign with the code as the reason. */
const PAUSING_CODES = new Set([
  'EMPTY_GROUP',
  'GROUP_NOT_FOUND',
  'RELEASE_INCOMPLETE',
  'CAMPAIGN_OVERLAP',
]);

/**
 * Campaigns: a release set rolled out to a fleet group in waves, through the Director's
 * assignments, with gates between waves and an automatic stop on failures. Every state change is
 * a transition persisted in one transaction with its event; events reach the transparency log
 * through an outbox (flushEvents), appended once each.
 */
export class CampaignService {
  readonly store: CampaignStore;
  readonly #fleet: FleetService;
  readonly #director: DirectorService;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #log: TransparencyLogSink | undefined;
  readonly #advancing = new Mutex();
  readonly #assignBatch: number;

  constructor(o: {
    store: CampaignStore;
    fleet: FleetService;
    director: DirectorService;
    clock: Clock;
    logger: Logger;
    log: TransparencyLogSink | undefined;
    /** Vehicles assigned between two checks of the state and the failure threshold. */
    assignBatch?: number;
  }) {
    this.store = o.store;
    this.#fleet = o.fleet;
    this.#director = o.director;
    this.#clock = o.clock;
    this.#logger = o.logger;
    this.#log = o.log;
    this.#assignBatch = o.assignBatch ?? ASSIGN_BATCH;
  }

  #now(): string {
    return this.#clock().toISOString();
  }

  async campaign(id: number): Promise<CampaignRecord> {
    const found = await this.store.campaign(id);
    if (!found) throw new ServerError('CAMPAIGN_NOT_FOUND', `no campaign ${id}`);
    return found;
  }

  campaigns(filter: { after?: number; limit: number }): Promise<CampaignRecord[]> {
    return this.store.campaigns(filter);
  }

  async status(id: number): Promise<CampaignStatus> {
    return campaignStatus(this.store, await this.campaign(id));
  }

  events(id: number): Promise<CampaignEventRecord[]> {
    return this.store.events(id);
  }

  /**
   * For an auditor: a page of the members of the fleet snapshot a started wave was cut from
   * (commitments only), by the campaign's URN as the log names it. With the salt of the logged
   * `created` event, they let the auditor recompute the wave's members.
   */
  waveSnapshot(
    urn: string,
    wave: number,
    page: { after?: string; limit: number },
  ): Promise<WaveSnapshotPage> {
    return waveSnapshotPage({ store: this.store, fleet: this.#fleet }, urn, wave, page);
  }

  // ---------------------------------------------------------------- OEM actions

  async create(
    input: CreateCampaignInput,
    by: string,
    origin: { rollbackOf?: string; rollbackCohort?: number; rollbackCohorts?: number } = {},
  ): Promise<CampaignRecord> {
    assertNoVinInClear({ name: input.name });
    checkWaves(input.waves);
    const hardwareIds = input.release.map((r) => r.hardwareId);
    if (new Set(hardwareIds).size !== hardwareIds.length) {
      throw new ServerError('INVALID_REQUEST', 'the release set names a hardware ID twice');
    }
    const release: ReleaseImage[] = [];
    for (const wanted of [...input.release].sort((a, b) =>
      a.hardwareId < b.hardwareId ? -1 : 1,
    )) {
      const image = await this.#director.resolveImage(wanted.name, wanted.hardwareId);
      release.push({
        hardwareId: wanted.hardwareId,
        name: image.name,
        sha256: image.sha256,
        length: image.length,
      });
    }
    const group = await this.#fleet.group(input.groupId);
    const { members } = await this.#fleet.evaluate(group.definition);
    if (members.length === 0) {
      throw new ServerError('EMPTY_GROUP', `group ${group.name} has no member now`);
    }
    await checkCoverage(this.#fleet, release, members);
    await checkOverlap({ store: this.store, fleet: this.#fleet }, { id: 0, release }, members);
    const at = this.#now();
    const urn = `urn:tufchain:campaign:${randomBytes(16).toString('hex')}`;
    const salt = randomBytes(32).toString('hex');
    const created = {
      kind: 'created' as const,
      at,
      detail: {
        groupId: group.id,
        release,
        releaseSha256: assignmentSha256(release),
        waves: input.waves,
        failureThreshold: input.failureThreshold,
        maxDeferrals: input.maxDeferrals,
        salt,
        ...origin,
      },
    };
    // Refused now (PERSONAL_DATA_REJECTED), not stuck in the outbox: the log would never take it.
    assertLoggable({
      type: 'campaign',
      campaign: urn,
      seq: 1,
      event: created.kind,
      at,
      detail: created.detail,
    });
    const record = await this.store.insertCampaign(
      {
        urn,
        name: input.name,
        groupId: group.id,
        release,
        waves: input.waves,
        failureThreshold: input.failureThreshold,
        maxDeferrals: input.maxDeferrals,
        salt,
        state: 'draft',
        wave: 0,
        reason: null,
        createdAt: at,
        createdBy: by,
      },
      created,
    );
    await this.flushEvents();
    return record;
  }

  /** draft → running: snapshots the group and starts wave 1 (assigned by the next advance). */
  async start(id: number, by: string): Promise<CampaignRecord> {
    const campaign = await this.#expectState(id, ['draft'], 'start');
    const group = await this.#fleet.group(campaign.groupId);
    const { members } = await this.#fleet.evaluate(group.definition);
    if (members.length === 0) {
      throw new ServerError('EMPTY_GROUP', `group ${group.name} has no member now`);
    }
    await checkCoverage(this.#fleet, campaign.release, members);
    await checkOverlap({ store: this.store, fleet: this.#fleet }, campaign, members);
    return this.#startWave(campaign, 1, by);
  }

  async pause(id: number, reason: string, by: string): Promise<CampaignRecord> {
    assertNoVinInClear({ reason });
    const campaign = await this.#expectState(id, ['running'], 'pause');
    return this.#transition(campaign, 'paused', 'paused', { reason, by }, { reason });
  }

  /** paused or stopped → running; resuming after a stop accepts the failures seen so far. */
  async resume(id: number, by: string): Promise<CampaignRecord> {
    const campaign = await this.#expectState(id, ['paused', 'stopped'], 'resume');
    const counts = countWaves(
      await this.store.vehicleOutcomes(id),
      campaign.waves.length,
      campaign.maxDeferrals,
    );
    const acknowledged = counts[campaign.wave - 1]?.failed ?? 0;
    return this.#transition(
      campaign,
      'running',
      'resumed',
      { by, wave: campaign.wave, acknowledgedFailures: acknowledged },
      { reason: null, acknowledge: { wave: campaign.wave, failures: acknowledged } },
    );
  }

  /**
   * Any state but finished or cancelled → cancelled: no further vehicle is assigned, and the
   * Director assignments still open are cancelled (event `assignments-cancelled`).
   */
  async cancel(id: number, reason: string, by: string): Promise<CampaignRecord> {
    assertNoVinInClear({ reason });
    const campaign = await this.#expectState(
      id,
      ['draft', 'running', 'paused', 'stopped'],
      'cancel',
    );
    const cancelled = await this.#transition(
      campaign,
      'cancelled',
      'cancelled',
      { reason, by },
      { reason },
    );
    return this.#cancelAssignments(cancelled, by);
  }

  /** Cancels the open Director assignments of a cancelled campaign and logs which, if any. */
  async #cancelAssignments(campaign: CampaignRecord, by: string): Promise<CampaignRecord> {
    const vehicles = await cancelOpenAssignments(
      this.#director,
      await this.store.vehicleOutcomes(campaign.id),
    );
    if (vehicles.length === 0) return campaign;
    this.#logger.info(
      { campaign: campaign.id, assignments: vehicles.length },
      'cancelled campaign: open Director assignments cancelled',
    );
    return this.#appendEvent(campaign, 'assignments-cancelled', {
      count: vehicles.length,
      vehiclesSha256: membersSha256(vehicles),
      by,
    });
  }

  /**
   * A finished or cancelled campaign → new draft campaigns that assign what each vehicle the
   * original updated ran before (planRollback) to exactly those vehicles: one per previous release
   * set (each cohort uniform, so every wave still receives one release set), each through a static
   * group made for it, created together (oldest first). Logged on both sides: each `created`
   * carries `rollbackOf` and its cohort (`rollbackCohort` of `rollbackCohorts`), and the original
   * gets one `rollback-created` per new campaign.
   */
  async rollback(id: number, input: RollbackInput, by: string): Promise<CampaignRecord[]> {
    if (input.waves) checkWaves(input.waves);
    const original = await this.campaign(id);
    const plans = await planRollback({ store: this.store, director: this.#director }, original);
    // Every image must still be served before any campaign is made (IMAGE_NOT_IN_REPOSITORY).
    for (const plan of plans) {
      for (const r of plan.release) await this.#director.resolveImage(r.name, r.hardwareId);
    }
    const created = await createRollbackCampaigns(original, plans, input, {
      createGroup: (group) => this.#fleet.createGroup(group, by),
      create: (campaign, extra) => this.create(campaign, by, extra),
      cancel: (campaignId, reason) => this.cancel(campaignId, reason, by),
      logger: this.#logger,
    });
    let current = original;
    for (const [i, c] of created.entries()) {
      current = await this.#appendEvent(current, 'rollback-created', {
        rollbackCampaign: c.urn,
        vehicleCount: plans[i]!.vehicles.length,
        vehiclesSha256: membersSha256(plans[i]!.vehicles),
        ...(plans.length > 1 ? { cohort: i + 1, cohorts: plans.length } : {}),
        by,
      });
    }
    return created;
  }

  /** An event that changes no state, retried on a concurrent change (CAMPAIGN_CHANGED). */
  async #appendEvent(
    campaign: CampaignRecord,
    kind: CampaignEventKind,
    detail: Record<string, unknown>,
  ): Promise<CampaignRecord> {
    for (let attempt = 0; ; attempt += 1) {
      const current = attempt === 0 ? campaign : await this.campaign(campaign.id);
      try {
        return await this.#transition(current, current.state, kind, detail);
      } catch (error) {
        if (!(error instanceof ServerError && error.code === 'CAMPAIGN_CHANGED') || attempt >= 3) {
          throw error;
        }
      }
    }
  }

  async #expectState(
    id: number,
    states: readonly CampaignState[],
    action: string,
  ): Promise<CampaignRecord> {
    const campaign = await this.campaign(id);
    if (!states.includes(campaign.state)) {
      throw new ServerError(
        'CAMPAIGN_STATE_INVALID',
        `campaign ${id} is ${campaign.state}; ${action} needs ${states.join(' or ')}`,
      );
    }
    return campaign;
  }

  async #transition(
    campaign: CampaignRecord,
    state: CampaignState,
    kind: CampaignEventKind,
    detail: Record<string, unknown>,
    extra: Partial<Omit<Transition, 'campaignId' | 'expectedVersion' | 'state' | 'event'>> = {},
  ): Promise<CampaignRecord> {
    const at = this.#now();
    const next = await this.store.transition({
      campaignId: campaign.id,
      expectedVersion: campaign.version,
      state,
      wave: extra.wave ?? campaign.wave,
      reason: extra.reason === undefined ? campaign.reason : extra.reason,
      at,
      event: { kind, at, detail },
      ...(extra.startWave ? { startWave: extra.startWave } : {}),
      ...(extra.waveAssigned !== undefined ? { waveAssigned: extra.waveAssigned } : {}),
      ...(extra.acknowledge ? { acknowledge: extra.acknowledge } : {}),
    });
    this.#logger.info({ campaign: campaign.id, state, event: kind }, 'campaign state changed');
    await this.flushEvents();
    return next;
  }

  async #startWave(campaign: CampaignRecord, wave: number, by: string): Promise<CampaignRecord> {
    const spec = campaign.waves[wave - 1];
    if (!spec) throw new ServerError('CAMPAIGN_STATE_INVALID', `campaign has no wave ${wave}`);
    const snapshot = await this.#fleet.snapshot(campaign.groupId, by);
    const members: string[] = [];
    for (;;) {
      const page = await this.#fleet.snapshotMembers(snapshot.id, {
        ...(members.length > 0 ? { after: members[members.length - 1] } : {}),
        limit: 10_000,
      });
      members.push(...page);
      if (page.length < 10_000) break;
    }
    const already = new Set(await this.store.campaignVehicles(campaign.id));
    const added = waveMembers(campaign.salt, members, spec.percent, already);
    const waveSha256 = membersSha256(added);
    const releaseSha256 = assignmentSha256(campaign.release);
    const at = this.#now();
    return this.#transition(
      campaign,
      'running',
      'wave-started',
      {
        wave,
        percent: spec.percent,
        snapshotId: snapshot.id,
        snapshotMembersSha256: snapshot.membersSha256,
        snapshotMemberCount: snapshot.memberCount,
        memberCount: added.length,
        membersSha256: waveSha256,
        assignmentSha256: releaseSha256,
      },
      {
        wave,
        reason: null,
        startWave: {
          wave,
          snapshotId: snapshot.id,
          memberCount: added.length,
          membersSha256: waveSha256,
          assignmentSha256: releaseSha256,
          startedAt: at,
          members: added,
        },
      },
    );
  }

  // ---------------------------------------------------------------- the background step

  /**
   * One step of every running campaign (the leader's background job): assign what is pending,
   * then apply the gates. Safe to run again at any point after a crash.
   */
  async advanceAll(): Promise<void> {
    let after = 0;
    for (;;) {
      const running = await this.store.campaigns({ states: ['running'], after, limit: 100 });
      for (const c of running) {
        await this.advance(c.id).catch((error: unknown) => {
          // An OEM action between this step's read and write: the next tick reads it again.
          if (error instanceof ServerError && error.code === 'CAMPAIGN_CHANGED') {
            this.#logger.info({ campaign: c.id }, 'campaign changed during its step');
            return;
          }
          this.#logger.error({ campaign: c.id, err: errorText(error) }, 'campaign step failed');
        });
      }
      if (running.length < 100) break;
      after = running[running.length - 1]!.id;
    }
    await this.flushEvents();
  }

  advance(id: number): Promise<CampaignRecord> {
    return this.#advancing.run(async () => {
      let campaign = await this.campaign(id);
      // Assign the current wave's pending members, reading the state again between batches.
      while (campaign.state === 'running') {
        const pending = await this.store.pendingVehicles(id, campaign.wave, this.#assignBatch);
        if (pending.length === 0) break;
        for (const row of pending) {
          await assignCampaignVehicle(
            { store: this.store, fleet: this.#fleet, director: this.#director },
            campaign,
            row.vehicle,
          );
        }
        campaign = await this.campaign(id);
        // Cancelled while this batch ran: what the batch assigned after the cancel is cancelled too.
        if (campaign.state === 'cancelled') return this.#cancelAssignments(campaign, 'campaign');
        if (campaign.state !== 'running') return campaign;
        const stopped = await this.#stopIfFailing(campaign);
        if (stopped) return stopped;
      }
      if (campaign.state !== 'running') return campaign;
      const waves = await this.store.waves(id);
      const current = waves.find((w) => w.wave === campaign.wave);
      const outcomes = await this.store.vehicleOutcomes(id);
      if (current && current.assignedAt === null) {
        const rows = outcomes.filter((o) => o.wave === current.wave);
        const assigned = rows.filter((o) => o.status === 'assigned').map((o) => o.vehicle);
        const skipped = rows.filter((o) => o.status === 'skipped');
        return this.#transition(
          campaign,
          'running',
          'wave-assigned',
          {
            wave: current.wave,
            assignedCount: assigned.length,
            assignedSha256: membersSha256(assigned),
            skippedCount: skipped.length,
            skipped: skipped.map((s) => ({ vehicle: s.vehicle, code: s.reason })),
          },
          { waveAssigned: current.wave },
        );
      }
      await this.#releaseExhausted(outcomes, campaign.maxDeferrals);
      const counts = countWaves(outcomes, campaign.waves.length, campaign.maxDeferrals);
      const decision = decideGate(campaign, waves, counts, this.#clock());
      switch (decision.kind) {
        case 'wait':
          return campaign;
        case 'stop':
          return this.#stop(campaign, decision);
        case 'finish':
          return this.#transition(campaign, 'finished', 'finished', {
            counts: counts.map(({ wave, assigned, succeeded, failed, skipped }) => ({
              wave,
              assigned,
              succeeded,
              failed,
              skipped,
            })),
          });
        case 'next-wave':
          try {
            return await this.#startWave(campaign, campaign.wave + 1, `campaign:${campaign.id}`);
          } catch (error) {
            if (!(error instanceof ServerError) || !PAUSING_CODES.has(error.code)) throw error;
            const reason = `${error.code}: ${error.message}`;
            return this.#transition(
              campaign,
              'paused',
              'paused',
              { reason, by: 'campaign' },
              { reason },
            );
          }
      }
    });
  }

  #stop(campaign: CampaignRecord, d: Extract<GateDecision, { kind: 'stop' }>) {
    const reason = `FAILURE_THRESHOLD: wave ${d.wave} has ${d.failed} failures of ${d.assigned} assigned (${d.threshold})`;
    return this.#transition(
      campaign,
      'stopped',
      'stopped',
      { reason, wave: d.wave, failed: d.failed, assigned: d.assigned },
      { reason },
    );
  }

  /** The automatic stop, checked between assignment batches: stopped campaign, or undefined. */
  async #stopIfFailing(campaign: CampaignRecord): Promise<CampaignRecord | undefined> {
    const outcomes = await this.store.vehicleOutcomes(campaign.id);
    const counts = countWaves(outcomes, campaign.waves.length, campaign.maxDeferrals);
    const stop = failureStop(campaign, await this.store.waves(campaign.id), counts);
    return stop ? this.#stop(campaign, stop) : undefined;
  }

  /** Cancels the Director assignment of each vehicle that deferred too often: it stops retrying. */
  async #releaseExhausted(outcomes: readonly VehicleOutcomeRow[], maxDeferrals: number) {
    for (const row of outcomes) {
      if (row.directorStatus !== 'active' || row.assignmentId === null) continue;
      if (outcomeOf(row, maxDeferrals) !== 'retries-exhausted') continue;
      await this.#director.cancel(row.assignmentId).catch((error: unknown) => {
        if (!(error instanceof ServerError && error.code === 'ASSIGNMENT_NOT_ACTIVE')) throw error;
      });
      this.#logger.info(
        { vehicle: row.vehicle, assignment: row.assignmentId },
        'campaign gave up on a vehicle that kept deferring',
      );
    }
  }

  /** Appends events not yet in the transparency log (each once), oldest first. */
  flushEvents(): Promise<void> {
    return flushCampaignEvents({ store: this.store, log: this.#log, logger: this.#logger });
  }
}
