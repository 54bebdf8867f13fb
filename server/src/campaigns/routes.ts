import { createRoute, z } from '@hono/zod-openapi';
import { hardwareIdSchema, targetPathSchema } from '@tufchain/transparency/wire';
import type { App, ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import {
  CommitmentSchema,
  errors,
  IdParamSchema,
  jsonLimit,
  limitQuery,
  pageLimit,
} from '../fleet/route-schemas.js';
import { bearerAuth, requireScope } from '../routes/auth.js';
import type { CampaignService, CampaignStatus } from './service.js';

/** Snapshot members per page of the auditors' route (and its default). */
const MAX_SNAPSHOT_PAGE = 10_000;

const WaveSnapshotSchema = z
  .object({
    campaign: z.string(),
    wave: z.number().int(),
    snapshotMemberCount: z.number().int(),
    snapshotMembersSha256: z.string(),
    members: z.array(z.string()).openapi({ description: 'vehicle commitments, byte order' }),
    nextAfter: z.string().nullable(),
  })
  .openapi('CampaignWaveSnapshot');

/** A campaign body is a handful of images and waves: 64 KiB is generous. */
const CAMPAIGN_MAX_BYTES = 64 * 1024;
const MAX_WAVES = 20;
const MAX_RELEASE_IMAGES = 64;
/** A year: longer soaks are a paused campaign. */
const MAX_SOAK_SECONDS = 366 * 24 * 3600;

function requireCampaigns(ctx: ServerContext): CampaignService {
  if (!ctx.campaigns) {
    throw new ServerError(
      'CAMPAIGNS_NOT_CONFIGURED',
      'this server was started without campaigns (they need a Director and a fleet store)',
    );
  }
  return ctx.campaigns;
}

/** Above 0 (written as a minimum: OpenAPI's exclusiveMinimum is less widely supported). */
const percent = z.number().min(0.001).max(100);

const WaveSpecSchema = z
  .object({
    percent: percent.openapi({ description: 'cumulative share of the group, 0 < p ≤ 100' }),
    minSoakSeconds: z.number().int().min(0).max(MAX_SOAK_SECONDS).default(0),
    successPercent: z.number().min(0).max(100).default(0).openapi({
      description: 'gate to the next wave: succeeded vehicles in percent of those assigned',
    }),
  })
  .strict();

const CreateCampaignSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,99}$/),
    groupId: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    release: z
      .array(z.object({ hardwareId: hardwareIdSchema, name: targetPathSchema }).strict())
      .min(1)
      .max(MAX_RELEASE_IMAGES),
    waves: z.array(WaveSpecSchema).min(1).max(MAX_WAVES),
    failureThreshold: z
      .object({
        percent: percent.optional().openapi({
          description: 'stop when failures exceed this percentage of the wave',
        }),
        count: z
          .number()
          .int()
          .min(1)
          .max(1_000_000_000)
          .optional()
          .openapi({ description: 'stop when a wave has this many failures' }),
      })
      .strict()
      .refine(
        (t) => t.percent !== undefined || t.count !== undefined,
        'set percent, count or both',
      ),
    maxDeferrals: z.number().int().min(1).max(100).default(3).openapi({
      description:
        'signed deferrals (installation_report code DEFERRED or PRECONDITIONS_NOT_MET) after which a vehicle is no longer waited for and its assignment is cancelled',
    }),
  })
  .strict()
  .openapi('CampaignInput');

const RollbackSchema = z
  .object({
    name: CreateCampaignSchema.shape.name.optional(),
    waves: CreateCampaignSchema.shape.waves.optional().openapi({
      description: 'default: one wave of 100 %',
    }),
    failureThreshold: CreateCampaignSchema.shape.failureThreshold.optional().openapi({
      description: "default: the original campaign's",
    }),
    maxDeferrals: z.number().int().min(1).max(100).optional(),
  })
  .strict()
  .openapi('CampaignRollbackInput');

const ReasonSchema = z
  .object({ reason: z.string().min(1).max(512) })
  .strict()
  .openapi('CampaignReason');

const CountsSchema = z.object({
  members: z.number().int(),
  assigning: z.number().int(),
  skipped: z.number().int(),
  assigned: z.number().int(),
  inProgress: z.number().int(),
  deferred: z.number().int(),
  retriesExhausted: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
});

const CampaignSchema = z
  .object({
    id: z.number().int(),
    urn: z.string(),
    name: z.string(),
    groupId: z.number().int(),
    state: z.enum(['draft', 'running', 'paused', 'stopped', 'finished', 'cancelled']),
    wave: z.number().int(),
    reason: z.string().nullable(),
    release: z.array(
      z.object({
        hardwareId: z.string(),
        name: z.string(),
        sha256: z.string(),
        length: z.number(),
      }),
    ),
    failureThreshold: z.object({ percent: z.number().nullable(), count: z.number().nullable() }),
    maxDeferrals: z.number().int(),
    salt: z.string().openapi({ description: 'hex; wave order is sha256(salt ‖ commitment)' }),
    version: z.number().int(),
    createdAt: z.string(),
    createdBy: z.string(),
    updatedAt: z.string(),
    waves: z.array(
      z.object({
        wave: z.number().int(),
        percent: z.number(),
        minSoakSeconds: z.number().int(),
        successPercent: z.number(),
        startedAt: z.string().nullable(),
        assignedAt: z.string().nullable(),
        snapshotId: z.number().int().nullable(),
        membersSha256: z.string().nullable(),
        assignmentSha256: z.string().nullable(),
        acknowledgedFailures: z.number().int(),
        counts: CountsSchema,
      }),
    ),
  })
  .openapi('Campaign');

const EventSchema = z
  .object({
    seq: z.number().int(),
    event: z.string(),
    at: z.string(),
    detail: z.record(z.string(), z.unknown()),
    logIndex: z.number().int().nullable(),
  })
  .openapi('CampaignEvent');

function campaignView(s: CampaignStatus): z.infer<typeof CampaignSchema> {
  const { campaign } = s;
  return {
    ...campaign,
    waves: campaign.waves.map((spec, i) => {
      const w = s.waves[i] ?? null;
      const { wave: _wave, ...counts } = s.counts[i]!;
      return {
        wave: i + 1,
        ...spec,
        startedAt: w?.startedAt ?? null,
        assignedAt: w?.assignedAt ?? null,
        snapshotId: w?.snapshotId ?? null,
        membersSha256: w?.membersSha256 ?? null,
        assignmentSha256: w?.assignmentSha256 ?? null,
        acknowledgedFailures: w?.acknowledgedFailures ?? 0,
        counts,
      };
    }),
  };
}

const common = {
  400: 'INVALID_REQUEST or MALFORMED_JSON',
  401: 'UNAUTHENTICATED',
  403: 'INSUFFICIENT_SCOPE: needs campaigns',
  503: 'CAMPAIGNS_NOT_CONFIGURED',
};
const one = { ...common, 404: 'CAMPAIGN_NOT_FOUND' };

/** /api/v1/campaigns: staged rollouts of a release set to a fleet group. */
export function registerCampaignRoutes(app: App, ctx: ServerContext): void {
  const by = (c: { get(key: 'token'): { id: string } }) => `token:${c.get('token').id}`;
  const answer = async (id: number) => campaignView(await requireCampaigns(ctx).status(id));

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/campaigns',
      summary: 'Creates a draft campaign: a release set (one image per hardware ID) for a group',
      security: bearerAuth('campaigns'),
      middleware: [requireScope(ctx, 'campaigns'), jsonLimit(ctx, CAMPAIGN_MAX_BYTES)] as const,
      request: {
        body: { required: true, content: { 'application/json': { schema: CreateCampaignSchema } } },
      },
      responses: {
        201: {
          description: 'Created',
          content: { 'application/json': { schema: CampaignSchema } },
        },
        ...errors({
          ...common,
          400: 'INVALID_REQUEST, MALFORMED_JSON or CAMPAIGN_WAVES_INVALID (percentages must rise to 100)',
          404: 'GROUP_NOT_FOUND',
          409: 'CAMPAIGN_OVERLAP: a running campaign for one of these hardware IDs holds a member',
          413: 'PAYLOAD_TOO_LARGE',
          422: 'EMPTY_GROUP, RELEASE_INCOMPLETE (an ECU of the group has no image), IMAGE_NOT_IN_REPOSITORY, HARDWARE_ID_MISMATCH or PERSONAL_DATA_REJECTED',
        }),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const created = await requireCampaigns(ctx).create(
        {
          ...body,
          failureThreshold: {
            percent: body.failureThreshold.percent ?? null,
            count: body.failureThreshold.count ?? null,
          },
        },
        by(c),
      );
      return c.json(await answer(created.id), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/campaigns',
      summary: 'Campaigns by id',
      security: bearerAuth('campaigns'),
      middleware: [requireScope(ctx, 'campaigns')] as const,
      request: {
        query: z.object({
          after: z
            .string()
            .regex(/^[1-9]\d{0,14}$/)
            .optional(),
          limit: limitQuery(1000),
        }),
      },
      responses: {
        200: {
          description: 'A page',
          content: {
            'application/json': {
              schema: z.object({
                campaigns: z.array(CampaignSchema.omit({ waves: true })),
                nextAfter: z.number().int().nullable(),
              }),
            },
          },
        },
        ...errors(common),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const limit = pageLimit(q.limit);
      const page = await requireCampaigns(ctx).campaigns({
        ...(q.after === undefined ? {} : { after: Number(q.after) }),
        limit,
      });
      const last = page.at(-1);
      return c.json(
        { campaigns: page, nextAfter: last && page.length === limit ? last.id : null },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/campaigns/{id}',
      summary: 'A campaign with its waves and per-wave counts from verified reports',
      security: bearerAuth('campaigns'),
      middleware: [requireScope(ctx, 'campaigns')] as const,
      request: { params: IdParamSchema },
      responses: {
        200: { description: 'Status', content: { 'application/json': { schema: CampaignSchema } } },
        ...errors(one),
      },
    }),
    async (c) => c.json(await answer(Number(c.req.valid('param').id)), 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/campaigns/{id}/events',
      summary: 'Every state change of a campaign, with its index in the transparency log',
      security: bearerAuth('campaigns'),
      middleware: [requireScope(ctx, 'campaigns')] as const,
      request: { params: IdParamSchema },
      responses: {
        200: {
          description: 'Events by seq',
          content: { 'application/json': { schema: z.object({ events: z.array(EventSchema) }) } },
        },
        ...errors(one),
      },
    }),
    async (c) => {
      const id = Number(c.req.valid('param').id);
      const service = requireCampaigns(ctx);
      await service.campaign(id);
      const events = (await service.events(id)).map((e) => ({
        seq: e.seq,
        event: e.kind,
        at: e.at,
        detail: e.detail,
        logIndex: e.logIndex,
      }));
      return c.json({ events }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/campaigns/{id}/rollback',
      summary:
        'Creates the draft rollback campaigns: what the vehicles this campaign updated ran before, to them, one campaign per previous release set',
      security: bearerAuth('campaigns'),
      middleware: [requireScope(ctx, 'campaigns'), jsonLimit(ctx, CAMPAIGN_MAX_BYTES)] as const,
      request: {
        params: IdParamSchema,
        body: { required: true, content: { 'application/json': { schema: RollbackSchema } } },
      },
      responses: {
        201: {
          description:
            'The rollback campaigns, drafts created together: one per release set the updated vehicles ran before (one when they all ran the same)',
          content: {
            'application/json': {
              schema: z.object({ campaigns: z.array(CampaignSchema).min(1) }),
            },
          },
        },
        ...errors({
          ...one,
          400: 'INVALID_REQUEST, MALFORMED_JSON or CAMPAIGN_WAVES_INVALID',
          409: 'CAMPAIGN_STATE_INVALID (needs finished or cancelled) or CAMPAIGN_OVERLAP',
          413: 'PAYLOAD_TOO_LARGE',
          422: 'ROLLBACK_NOTHING_UPDATED, ROLLBACK_PREVIOUS_UNKNOWN (no record of what a vehicle ran before), ROLLBACK_PREVIOUS_MIXED (ECUs of one hardware ID in one vehicle ran different images before), IMAGE_NOT_IN_REPOSITORY (the previous image is no longer served)',
        }),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const service = requireCampaigns(ctx);
      const created = await service.rollback(
        Number(c.req.valid('param').id),
        {
          ...(body.name === undefined ? {} : { name: body.name }),
          ...(body.waves === undefined ? {} : { waves: body.waves }),
          ...(body.failureThreshold === undefined
            ? {}
            : {
                failureThreshold: {
                  percent: body.failureThreshold.percent ?? null,
                  count: body.failureThreshold.count ?? null,
                },
              }),
          ...(body.maxDeferrals === undefined ? {} : { maxDeferrals: body.maxDeferrals }),
        },
        by(c),
      );
      const campaigns = [];
      for (const one of created) campaigns.push(await answer(one.id));
      return c.json({ campaigns }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/audit/campaigns/{urn}/waves/{wave}/members',
      summary:
        'For auditors: a page of the fleet snapshot a campaign wave was cut from (vehicle commitments only)',
      description:
        "With the salt of the campaign's logged `created` event, these let an auditor recompute each wave's members (`tufchain audit --oem-token`). Commitments and their digest only: no VIN, no group definition, no attribute. Any valid token, the read-only `audit` scope included.",
      security: bearerAuth('any'),
      middleware: [requireScope(ctx, 'any')] as const,
      request: {
        params: z.object({
          urn: z
            .string()
            .regex(/^urn:tufchain:campaign:[0-9a-f]{32}$/)
            .openapi({ param: { name: 'urn', in: 'path' }, description: 'the URN the log names' }),
          wave: z
            .string()
            .regex(/^[1-9]\d{0,2}$/)
            .openapi({ param: { name: 'wave', in: 'path' } }),
        }),
        query: z.object({
          after: CommitmentSchema.optional(),
          limit: limitQuery(MAX_SNAPSHOT_PAGE),
        }),
      },
      responses: {
        200: {
          description: "The snapshot's size and digest, and a page of its members in byte order",
          content: { 'application/json': { schema: WaveSnapshotSchema } },
        },
        ...errors({
          400: 'INVALID_REQUEST',
          401: 'UNAUTHENTICATED',
          404: 'CAMPAIGN_NOT_FOUND: no campaign of this URN, or it never started this wave',
          503: 'CAMPAIGNS_NOT_CONFIGURED',
        }),
      },
    }),
    async (c) => {
      const { urn, wave } = c.req.valid('param');
      const q = c.req.valid('query');
      const page = await requireCampaigns(ctx).waveSnapshot(urn, Number(wave), {
        ...(q.after === undefined ? {} : { after: q.after }),
        limit: q.limit === undefined ? MAX_SNAPSHOT_PAGE : Number(q.limit),
      });
      return c.json(page, 200);
    },
  );

  const action = (
    name: 'start' | 'pause' | 'resume' | 'cancel',
    summary: string,
    states: string,
    run: (service: CampaignService, id: number, reason: string, by: string) => Promise<unknown>,
  ) => {
    const withReason = name === 'pause' || name === 'cancel';
    app.openapi(
      createRoute({
        method: 'post',
        path: `/api/v1/campaigns/{id}/${name}`,
        summary,
        security: bearerAuth('campaigns'),
        middleware: [requireScope(ctx, 'campaigns'), jsonLimit(ctx, CAMPAIGN_MAX_BYTES)] as const,
        request: {
          params: IdParamSchema,
          ...(withReason
            ? {
                body: { required: true, content: { 'application/json': { schema: ReasonSchema } } },
              }
            : {}),
        },
        responses: {
          200: {
            description: 'Changed',
            content: { 'application/json': { schema: CampaignSchema } },
          },
          ...errors({
            ...one,
            409: `CAMPAIGN_STATE_INVALID (needs ${states}), CAMPAIGN_CHANGED (changed meanwhile: read again)${name === 'start' ? ' or CAMPAIGN_OVERLAP' : ''}`,
            ...(name === 'start'
              ? { 422: 'EMPTY_GROUP or RELEASE_INCOMPLETE (the group changed since creation)' }
              : {}),
            ...(withReason ? { 413: 'PAYLOAD_TOO_LARGE' } : {}),
          }),
        },
      }),
      async (c) => {
        const id = Number(c.req.param('id'));
        const reason = withReason ? (await c.req.json<{ reason: string }>()).reason : '';
        await run(requireCampaigns(ctx), id, reason, by(c));
        return c.json(await answer(id), 200);
      },
    );
  };
  action('start', 'Snapshots the group and starts wave 1', 'draft', (s, id, _r, b) =>
    s.start(id, b),
  );
  action(
    'pause',
    'Pauses: no further vehicle is assigned until resumed',
    'running',
    (s, id, r, b) => s.pause(id, r, b),
  );
  action(
    'resume',
    'Resumes a paused or automatically stopped campaign (the failures seen so far are accepted)',
    'paused or stopped',
    (s, id, _r, b) => s.resume(id, b),
  );
  action(
    'cancel',
    'Cancels: no further vehicle is assigned, ever',
    'draft, running, paused or stopped',
    (s, id, r, b) => s.cancel(id, r, b),
  );
}
