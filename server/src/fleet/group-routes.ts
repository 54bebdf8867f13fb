import { createRoute, z } from '@hono/zod-openapi';
import type { App, ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import { bearerAuth, requireScope } from '../routes/auth.js';
import { descriptionSchema, groupNameSchema } from './attributes.js';
import { MAX_FILTER_DEPTH, MAX_FILTER_NODES } from './filter.js';
import {
  CommitmentSchema,
  errors,
  IdParamSchema,
  jsonLimit,
  limitQuery,
  pageLimit,
  requireFleet,
} from './route-schemas.js';
import type { Evaluation, GroupDefinitionInput } from './service.js';
import type { GroupRecord, SnapshotRecord } from './store.js';

/** Members of a static group: a pilot cohort or a test fleet, not a whole model line. */
const MAX_STATIC_MEMBERS = 10_000;
/** 10,000 quoted commitments are ~670 KB. */
const GROUP_MAX_BYTES = 1024 * 1024;
const MAX_MEMBERS_PAGE = 10_000;

const FilterSchema = z.record(z.string(), z.unknown()).openapi('FleetFilter', {
  description: `{ all: [F…] } | { any: [F…] } | { not: F } | { model: { in: [..] } } | { modelYear: { gte?, lte? } } | { region: { in: [..] } } | { tag } | { hardwareId } | { installed: { name?, sha256?, hardwareId? } } (name or sha256: an ECU whose latest trusted version report names that image). At most ${MAX_FILTER_DEPTH} nested all/any/not and ${MAX_FILTER_NODES} nodes (FILTER_TOO_COMPLEX); anything else FILTER_INVALID.`,
});

/** One object rather than a oneOf: `vehicles` with kind static, `filter` with kind dynamic. */
const DefinitionSchema = z
  .object({
    kind: z.enum(['static', 'dynamic']),
    vehicles: z.array(CommitmentSchema).min(1).max(MAX_STATIC_MEMBERS).optional().openapi({
      description: 'kind static only: the members (commitments of known vehicles)',
    }),
    filter: FilterSchema.optional(),
  })
  .strict()
  .openapi('FleetGroupDefinitionInput', {
    description: 'kind static: vehicles, no filter; kind dynamic: filter, no vehicles',
  });

type DefinitionBody = z.infer<typeof DefinitionSchema>;

/** The body's definition in the service's terms: exactly the field its kind needs. */
function definitionOf(body: DefinitionBody): GroupDefinitionInput {
  if (body.kind === 'static' && body.vehicles !== undefined && body.filter === undefined) {
    return { kind: 'static', vehicles: body.vehicles };
  }
  if (body.kind === 'dynamic' && body.filter !== undefined && body.vehicles === undefined) {
    return { kind: 'dynamic', filter: body.filter };
  }
  throw new ServerError(
    'INVALID_REQUEST',
    'a static group has vehicles and no filter; a dynamic group a filter and no vehicles',
  );
}

const CreateGroupSchema = z
  .object({
    name: groupNameSchema,
    description: descriptionSchema.optional(),
    definition: DefinitionSchema,
  })
  .strict()
  .openapi('FleetGroupInput');

const GroupSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    description: z.string().nullable(),
    definition: z.union([
      z.object({ kind: z.literal('static'), vehicles: z.array(z.string()) }),
      z.object({ kind: z.literal('dynamic'), filter: FilterSchema }),
    ]),
    createdAt: z.string(),
    createdBy: z.string(),
  })
  .openapi('FleetGroup');

const EvaluationSchema = z
  .object({
    count: z.number().int(),
    membersSha256: z.string(),
    members: z.array(z.string()),
    truncated: z.boolean(),
  })
  .openapi('FleetGroupEvaluation', {
    description:
      'the exact member set now: its size and sha256 (canonical JSON of the sorted list), and its first `limit` members',
  });

const SnapshotSchema = z
  .object({
    id: z.number().int(),
    groupId: z.number().int(),
    groupName: z.string(),
    definition: GroupSchema.shape.definition,
    memberCount: z.number().int(),
    membersSha256: z.string(),
    createdAt: z.string(),
    createdBy: z.string(),
  })
  .openapi('FleetGroupSnapshot');

const MembersQuerySchema = z.object({ limit: limitQuery(MAX_MEMBERS_PAGE) });

const groupView = (g: GroupRecord) => g as z.infer<typeof GroupSchema>;
const snapshotView = (s: SnapshotRecord) => s as z.infer<typeof SnapshotSchema>;
const evaluationView = (e: Evaluation, limit: number) => ({
  count: e.members.length,
  membersSha256: e.membersSha256,
  members: e.members.slice(0, limit),
  truncated: e.members.length > limit,
});

const groupErrors = {
  400: 'INVALID_REQUEST, MALFORMED_JSON, FILTER_INVALID or FILTER_TOO_COMPLEX',
  401: 'UNAUTHENTICATED',
  403: 'INSUFFICIENT_SCOPE: needs fleet',
  413: 'PAYLOAD_TOO_LARGE',
  422: 'GROUP_MEMBER_UNKNOWN (a static member the server does not know) or PERSONAL_DATA_REJECTED',
  503: 'FLEET_NOT_CONFIGURED',
};

/** Groups (static lists, dynamic filters), their evaluation, and snapshots of their members. */
export function registerFleetGroupRoutes(app: App, ctx: ServerContext): void {
  const by = (c: { get(key: 'token'): { id: string } }) => `token:${c.get('token').id}`;

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/fleet/groups',
      summary: 'Creates a static (list) or dynamic (filter) group of vehicles',
      security: bearerAuth('fleet'),
      middleware: [requireScope(ctx, 'fleet'), jsonLimit(ctx, GROUP_MAX_BYTES)] as const,
      request: {
        body: { required: true, content: { 'application/json': { schema: CreateGroupSchema } } },
      },
      responses: {
        201: { description: 'Created', content: { 'application/json': { schema: GroupSchema } } },
        ...errors({ ...groupErrors, 409: 'GROUP_NAME_TAKEN' }),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const group = await requireFleet(ctx).createGroup(
        {
          name: body.name,
          description: body.description,
          definition: definitionOf(body.definition),
        },
        by(c),
      );
      return c.json(groupView(group), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/fleet/groups/preview',
      summary: 'Evaluates a group definition without storing it',
      security: bearerAuth('fleet'),
      middleware: [requireScope(ctx, 'fleet'), jsonLimit(ctx, GROUP_MAX_BYTES)] as const,
      request: {
        query: MembersQuerySchema,
        body: { required: true, content: { 'application/json': { schema: DefinitionSchema } } },
      },
      responses: {
        200: {
          description: 'The member set now',
          content: { 'application/json': { schema: EvaluationSchema } },
        },
        ...errors(groupErrors),
      },
    }),
    async (c) => {
      const fleet = requireFleet(ctx);
      const definition = await fleet.checkDefinition(definitionOf(c.req.valid('json')));
      const evaluation = await fleet.evaluate(definition);
      return c.json(evaluationView(evaluation, pageLimit(c.req.valid('query').limit)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/fleet/groups',
      summary: 'Groups by id',
      security: bearerAuth('any'),
      middleware: [requireScope(ctx, 'any')] as const,
      request: {
        query: z.object({
          after: z
            .string()
            .regex(/^[1-9]\d{0,14}$/)
            .optional()
            .openapi({ description: 'the last id of the previous page' }),
          limit: limitQuery(1000),
        }),
      },
      responses: {
        200: {
          description: 'A page of groups; nextAfter is null on the last page',
          content: {
            'application/json': {
              schema: z.object({ groups: z.array(GroupSchema), nextAfter: z.number().nullable() }),
            },
          },
        },
        ...errors({ 400: 'INVALID_REQUEST', 401: 'UNAUTHENTICATED', 503: 'FLEET_NOT_CONFIGURED' }),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const limit = pageLimit(q.limit);
      const groups = await requireFleet(ctx).groups({
        ...(q.after === undefined ? {} : { after: Number(q.after) }),
        limit,
      });
      const nextAfter = groups.length === limit ? (groups.at(-1)?.id ?? null) : null;
      return c.json({ groups: groups.map(groupView), nextAfter }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/fleet/groups/{id}',
      summary: 'One group',
      security: bearerAuth('any'),
      middleware: [requireScope(ctx, 'any')] as const,
      request: { params: IdParamSchema },
      responses: {
        200: { description: 'The group', content: { 'application/json': { schema: GroupSchema } } },
        ...errors({
          400: 'INVALID_REQUEST',
          401: 'UNAUTHENTICATED',
          404: 'GROUP_NOT_FOUND',
          503: 'FLEET_NOT_CONFIGURED',
        }),
      },
    }),
    async (c) =>
      c.json(groupView(await requireFleet(ctx).group(Number(c.req.valid('param').id))), 200),
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/api/v1/fleet/groups/{id}',
      summary: 'Deletes a group; its snapshots stay',
      security: bearerAuth('fleet'),
      middleware: [requireScope(ctx, 'fleet')] as const,
      request: { params: IdParamSchema },
      responses: {
        204: { description: 'Deleted' },
        ...errors({
          400: 'INVALID_REQUEST',
          401: 'UNAUTHENTICATED',
          403: 'INSUFFICIENT_SCOPE: needs fleet',
          404: 'GROUP_NOT_FOUND',
          503: 'FLEET_NOT_CONFIGURED',
        }),
      },
    }),
    async (c) => {
      await requireFleet(ctx).deleteGroup(Number(c.req.valid('param').id));
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/fleet/groups/{id}/members',
      summary: "Evaluates a group now: its exact member set (a dynamic group's filter is run)",
      security: bearerAuth('any'),
      middleware: [requireScope(ctx, 'any')] as const,
      request: { params: IdParamSchema, query: MembersQuerySchema },
      responses: {
        200: {
          description: 'The member set now',
          content: { 'application/json': { schema: EvaluationSchema } },
        },
        ...errors({
          400: 'INVALID_REQUEST',
          401: 'UNAUTHENTICATED',
          404: 'GROUP_NOT_FOUND',
          503: 'FLEET_NOT_CONFIGURED',
        }),
      },
    }),
    async (c) => {
      const fleet = requireFleet(ctx);
      const group = await fleet.group(Number(c.req.valid('param').id));
      const evaluation = await fleet.evaluate(group.definition);
      return c.json(evaluationView(evaluation, pageLimit(c.req.valid('query').limit)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/fleet/groups/{id}/snapshots',
      summary: 'Evaluates a group and records exactly that member set',
      security: bearerAuth('fleet'),
      middleware: [requireScope(ctx, 'fleet')] as const,
      request: { params: IdParamSchema },
      responses: {
        201: {
          description: 'Recorded',
          content: { 'application/json': { schema: SnapshotSchema } },
        },
        ...errors({
          400: 'INVALID_REQUEST',
          401: 'UNAUTHENTICATED',
          403: 'INSUFFICIENT_SCOPE: needs fleet',
          404: 'GROUP_NOT_FOUND',
          422: 'EMPTY_GROUP: no member now (a campaign refuses an empty group)',
          503: 'FLEET_NOT_CONFIGURED',
        }),
      },
    }),
    async (c) => {
      const snapshot = await requireFleet(ctx).snapshot(Number(c.req.valid('param').id), by(c));
      return c.json(snapshotView(snapshot), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/fleet/snapshots/{id}',
      summary: 'A snapshot and a page of its members, in order',
      security: bearerAuth('any'),
      middleware: [requireScope(ctx, 'any')] as const,
      request: {
        params: IdParamSchema,
        query: z.object({
          after: CommitmentSchema.optional(),
          limit: limitQuery(MAX_MEMBERS_PAGE),
        }),
      },
      responses: {
        200: {
          description: 'The snapshot; nextAfter is null on the last page of members',
          content: {
            'application/json': {
              schema: z.object({
                snapshot: SnapshotSchema,
                members: z.array(z.string()),
                nextAfter: z.string().nullable(),
              }),
            },
          },
        },
        ...errors({
          400: 'INVALID_REQUEST',
          401: 'UNAUTHENTICATED',
          404: 'SNAPSHOT_NOT_FOUND',
          503: 'FLEET_NOT_CONFIGURED',
        }),
      },
    }),
    async (c) => {
      const fleet = requireFleet(ctx);
      const id = Number(c.req.valid('param').id);
      const q = c.req.valid('query');
      const limit = pageLimit(q.limit);
      const snapshot = await fleet.snapshotRecord(id);
      const members = await fleet.snapshotMembers(id, {
        ...(q.after === undefined ? {} : { after: q.after }),
        limit,
      });
      const nextAfter = members.length === limit ? (members.at(-1) ?? null) : null;
      return c.json({ snapshot: snapshotView(snapshot), members, nextAfter }, 200);
    },
  );
}
