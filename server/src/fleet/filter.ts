/**
 * The filter language of dynamic groups: a small JSON tree, checked for size first (iteratively,
 * so a hostile nesting cannot overflow the stack), then parsed with zod, then evaluated by a pure
 * function over what the registry knows of each vehicle. Never compiled to SQL, never eval'd.
 *
 *   Filter    = { all: Filter[] } | { any: Filter[] } | { not: Filter } | Condition
 *   Condition = { model: { in: string[] } } | { modelYear: { gte?: int, lte?: int } }
 *             | { region: { in: string[] } } | { tag: string } | { hardwareId: string }
 *             | { installed: { name?: targetPath, sha256?: hex, hardwareId?: string } }
 */
import { hardwareIdSchema, targetPathSchema } from '@tufchain/transparency/wire';
import { z } from 'zod';
import { ServerError } from '../error.js';
import { modelSchema, modelYearSchema, regionSchema, tagSchema } from './attributes.js';
import type { FleetVehicle } from './vehicle.js';

/** Nesting of all/any/not: deep enough for "(A and B) or not C" and more, shallow for review. */
export const MAX_FILTER_DEPTH = 6;
/** Nodes of the whole tree (objects, arrays and strings): a filter a person can still read. */
export const MAX_FILTER_NODES = 256;
/** Entries of one all/any list or one `in` list. */
const MAX_LIST = 64;

export type Filter =
  | { all: Filter[] }
  | { any: Filter[] }
  | { not: Filter }
  | { model: { in: string[] } }
  | { modelYear: { gte?: number; lte?: number } }
  | { region: { in: string[] } }
  | { tag: string }
  | { hardwareId: string }
  | { installed: { name?: string; sha256?: string; hardwareId?: string } };

const inList = <T extends z.ZodType>(item: T) =>
  z.object({ in: z.array(item).min(1).max(MAX_LIST) }).strict();

const filterSchema: z.ZodType<Filter> = z.lazy(() =>
  z.union([
    z.object({ all: z.array(filterSchema).min(1).max(MAX_LIST) }).strict(),
    z.object({ any: z.array(filterSchema).min(1).max(MAX_LIST) }).strict(),
    z.object({ not: filterSchema }).strict(),
    z.object({ model: inList(modelSchema) }).strict(),
    z
      .object({
        modelYear: z
          .object({ gte: modelYearSchema.optional(), lte: modelYearSchema.optional() })
          .strict()
          .refine((r) => r.gte !== undefined || r.lte !== undefined, 'gte or lte')
          .refine((r) => (r.gte ?? 0) <= (r.lte ?? Infinity), 'gte above lte'),
      })
      .strict(),
    z.object({ region: inList(regionSchema) }).strict(),
    z.object({ tag: tagSchema }).strict(),
    z.object({ hardwareId: hardwareIdSchema }).strict(),
    z
      .object({
        installed: z
          .object({
            name: targetPathSchema.optional(),
            sha256: z
              .string()
              .regex(/^[0-9a-f]{64}$/)
              .optional(),
            hardwareId: hardwareIdSchema.optional(),
          })
          .strict()
          .refine((r) => r.name !== undefined || r.sha256 !== undefined, 'name or sha256'),
      })
      .strict(),
  ]),
) as z.ZodType<Filter>;

/**
 * Whether a JSON value stays within the bounds, checked iteratively before zod sees it: at most
 * MAX_FILTER_DEPTH all/any/not on any path, MAX_FILTER_NODES nodes, and no deeper raw nesting
 * than those combinators allow (each adds an object and an array; a condition adds at most three).
 */
function withinBounds(value: unknown): boolean {
  const stack: { v: unknown; raw: number; combinators: number }[] = [
    { v: value, raw: 0, combinators: 0 },
  ];
  let nodes = 0;
  while (stack.length > 0) {
    const { v, raw, combinators } = stack.pop()!;
    nodes += 1;
    if (nodes > MAX_FILTER_NODES) return false;
    if (typeof v !== 'object' || v === null) continue;
    if (raw > 2 * MAX_FILTER_DEPTH + 3) return false;
    const isCombinator =
      !Array.isArray(v) && ['all', 'any', 'not'].some((k) => Object.hasOwn(v, k));
    const depth = combinators + (isCombinator ? 1 : 0);
    if (depth > MAX_FILTER_DEPTH) return false;
    for (const child of Object.values(v))
      stack.push({ v: child, raw: raw + 1, combinators: depth });
  }
  return true;
}

/** Parses a filter from untrusted JSON: FILTER_TOO_COMPLEX or FILTER_INVALID, never a throw of zod. */
export function parseFilter(value: unknown): Filter {
  if (!withinBounds(value)) {
    throw new ServerError(
      'FILTER_TOO_COMPLEX',
      `a filter nests at most ${MAX_FILTER_DEPTH} all/any/not levels and has at most ${MAX_FILTER_NODES} nodes`,
    );
  }
  const parsed = filterSchema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first ? `${first.path.join('.') || '(filter)'}: ${first.message}` : '';
    throw new ServerError('FILTER_INVALID', `not a filter of the fleet filter language ${where}`);
  }
  return parsed.data;
}

/** Whether one vehicle matches; a missing attribute matches no condition on it. */
export function matchesFilter(filter: Filter, v: FleetVehicle): boolean {
  if ('all' in filter) return filter.all.every((f) => matchesFilter(f, v));
  if ('any' in filter) return filter.any.some((f) => matchesFilter(f, v));
  if ('not' in filter) return !matchesFilter(filter.not, v);
  const a = v.attributes;
  if ('model' in filter) return a?.model != null && filter.model.in.includes(a.model);
  if ('modelYear' in filter) {
    const year = a?.modelYear;
    if (year == null) return false;
    const { gte, lte } = filter.modelYear;
    return (gte === undefined || year >= gte) && (lte === undefined || year <= lte);
  }
  if ('region' in filter) return a?.region != null && filter.region.in.includes(a.region);
  if ('tag' in filter) return a?.tags.includes(filter.tag) ?? false;
  if ('hardwareId' in filter) return v.ecus.some((e) => e.hardwareId === filter.hardwareId);
  const want = filter.installed;
  return v.ecus.some(
    (e) =>
      e.installed !== null &&
      (want.hardwareId === undefined || e.hardwareId === want.hardwareId) &&
      (want.name === undefined || e.installed.name === want.name) &&
      (want.sha256 === undefined || e.installed.sha256 === want.sha256),
  );
}
