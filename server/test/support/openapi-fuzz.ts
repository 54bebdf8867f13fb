import fc from 'fast-check';
import type { TokenScope } from '../../src/index.js';
import { BAD_AUTH, type AuthVariant } from './wired-server.js';

/**
 * Request generators derived from the server's own OpenAPI 3.1 document, so that a route added
 * later is fuzzed without anyone writing a generator for it. Whatever the generators cannot
 * produce requests for (a schema keyword, a content type, a parameter location) is reported by
 * `listOperations` instead of being skipped.
 */

export type JsonSchema = Record<string, unknown>;

interface ParameterObject {
  name: string;
  in: string;
  required?: boolean;
  schema?: JsonSchema;
}

interface OperationObject {
  parameters?: ParameterObject[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> };
  security?: Record<string, string[]>[];
}

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, OperationObject>>;
  components?: {
    schemas?: Record<string, JsonSchema>;
    securitySchemes?: Record<string, JsonSchema>;
  };
}

export interface Param {
  name: string;
  required: boolean;
  schema: JsonSchema;
}

export type BodyMediaType = 'application/json' | 'application/octet-stream';

export interface Operation {
  /** `POST /api/v1/releases` */
  key: string;
  method: string;
  /** OpenAPI path template, e.g. `/api/v1/releases/{id}/revoke`. */
  path: string;
  pathParams: Param[];
  queryParams: Param[];
  headerParams: Param[];
  body: { required: boolean; mediaType: BodyMediaType; schema: JsonSchema } | undefined;
  /** As declared; undefined when the operation declares none. */
  security: Record<string, string[]>[] | undefined;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const BODY_TYPES: readonly string[] = ['application/json', 'application/octet-stream'];
/** Keywords that do not change which values are valid. */
const ANNOTATIONS = new Set([
  'description',
  'example',
  'examples',
  'title',
  'default',
  'deprecated',
]);
const KEYWORDS = new Set([
  'anyOf',
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'pattern',
  'enum',
  'minimum',
  'maximum',
  'format',
  '$ref',
]);
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
const FORMATS = new Set(['binary', 'date-time']);

export function isMutating(op: Operation): boolean {
  return MUTATING.has(op.method);
}

/** Every operation of the document, and what the generators cannot produce requests for. */
export function listOperations(doc: OpenApiDocument): {
  operations: Operation[];
  unsupported: string[];
} {
  const operations: Operation[] = [];
  const unsupported: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const key = `${method.toUpperCase()} ${path}`;
      if (!METHODS.includes(method)) {
        unsupported.push(`${path}: path item field ${method}`);
        continue;
      }
      const params = op.parameters ?? [];
      for (const p of params) {
        if (!['path', 'query', 'header'].includes(p.in))
          unsupported.push(`${key}: ${p.in} parameter ${p.name}`);
        unsupported.push(...schemaProblems(doc, p.schema ?? {}, `${key} ${p.in} ${p.name}`));
      }
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] ?? '');
      const pathParams = params.filter((p) => p.in === 'path');
      for (const name of templated) {
        if (!pathParams.some((p) => p.name === name)) {
          // Undeclared path parameters are still fuzzed, as free strings.
          pathParams.push({ name, in: 'path', required: true, schema: { type: 'string' } });
        }
      }
      let body: Operation['body'];
      const content = op.requestBody?.content ?? {};
      const types = Object.keys(content);
      if (types.length > 1) unsupported.push(`${key}: more than one request content type`);
      const mediaType = types[0];
      if (mediaType !== undefined) {
        if (!BODY_TYPES.includes(mediaType))
          unsupported.push(`${key}: request content type ${mediaType}`);
        const schema = content[mediaType]?.schema ?? {};
        unsupported.push(...schemaProblems(doc, schema, `${key} body`));
        body = {
          required: op.requestBody?.required ?? false,
          mediaType: mediaType as BodyMediaType,
          schema,
        };
      }
      const toParam = (p: ParameterObject): Param => ({
        name: p.name,
        required: p.required ?? false,
        schema: p.schema ?? {},
      });
      operations.push({
        key,
        method: method.toUpperCase(),
        path,
        pathParams: pathParams.map(toParam),
        queryParams: params.filter((p) => p.in === 'query').map(toParam),
        headerParams: params.filter((p) => p.in === 'header').map(toParam),
        body,
        security: op.security,
      });
    }
  }
  return { operations, unsupported };
}

function resolve(doc: OpenApiDocument, schema: JsonSchema): JsonSchema {
  const ref = schema.$ref;
  if (typeof ref !== 'string') return schema;
  const name = /^#\/components\/schemas\/(.+)$/.exec(ref)?.[1];
  const target = name === undefined ? undefined : doc.components?.schemas?.[name];
  if (!target) throw new Error(`unresolvable $ref ${ref}`);
  return resolve(doc, target);
}

function schemaProblems(doc: OpenApiDocument, raw: JsonSchema, where: string, depth = 0): string[] {
  if (depth > 12) return [`${where}: schema nested deeper than 12 (recursive $ref?)`];
  let schema: JsonSchema;
  try {
    schema = resolve(doc, raw);
  } catch (error) {
    return [`${where}: ${(error as Error).message}`];
  }
  const problems: string[] = [];
  for (const k of Object.keys(schema)) {
    if (!KEYWORDS.has(k) && !ANNOTATIONS.has(k)) problems.push(`${where}: schema keyword ${k}`);
  }
  if (schema.type !== undefined && !(typeof schema.type === 'string' && TYPES.has(schema.type))) {
    problems.push(`${where}: type ${JSON.stringify(schema.type)}`);
  }
  if (schema.format !== undefined && !FORMATS.has(JSON.stringify(schema.format).slice(1, -1))) {
    problems.push(`${where}: format ${JSON.stringify(schema.format)}`);
  }
  if (typeof schema.pattern === 'string') {
    try {
      fc.sample(fc.stringMatching(new RegExp(schema.pattern)), { numRuns: 1, seed: 1 });
    } catch (error) {
      problems.push(`${where}: pattern ${schema.pattern}: ${(error as Error).message}`);
    }
  }
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  for (const [name, sub] of Object.entries(props)) {
    problems.push(...schemaProblems(doc, sub, `${where}.${name}`, depth + 1));
  }
  if (isSchema(schema.additionalProperties)) {
    problems.push(...schemaProblems(doc, schema.additionalProperties, `${where}.*`, depth + 1));
  }
  if (isSchema(schema.items))
    problems.push(...schemaProblems(doc, schema.items, `${where}[]`, depth + 1));
  if (schema.anyOf !== undefined) {
    if (!Array.isArray(schema.anyOf) || schema.anyOf.length === 0 || !schema.anyOf.every(isSchema))
      problems.push(`${where}: anyOf is not a list of schemas`);
    else
      schema.anyOf.forEach((sub, i) =>
        problems.push(...schemaProblems(doc, sub, `${where}|${i}`, depth + 1)),
      );
  }
  return problems;
}

function isSchema(v: unknown): v is JsonSchema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ------------------------------------------------------------------ values

/** The document's schemas, and strings that exist on the server. */
export interface SchemaSource {
  doc: OpenApiDocument;
  known?: readonly string[];
}

/**
 * Nesting deep enough to overflow a recursive walker (canonical JSON, a schema walk), small enough
 * to pass the body limits. Generated as marker strings that `json()` replaces with the raw text,
 * because JSON.stringify would overflow on the real thing first.
 */
const DEEP_TEXT: Record<string, string> = {
  '\u0000deep-array': '['.repeat(12_000) + ']'.repeat(12_000),
  '\u0000deep-object': '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_000),
};
const deepValues = Object.keys(DEEP_TEXT);

const anyJson = fc.oneof(
  { weight: 8, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(...deepValues) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(
      '__proto__',
      { __proto__: { admin: true } },
      { constructor: {} },
      '\u0000',
      '\ud800',
    ),
  },
);

function integerIn(min: number, max: number): fc.Arbitrary<number> {
  return fc.oneof(
    fc.bigInt({ min: BigInt(min), max: BigInt(max) }).map(Number),
    fc.constantFrom(min, max),
  );
}

/** Values the schema accepts (as far as JSON Schema says; routes may check more). */
export function validValue(src: SchemaSource, raw: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(src.doc, raw);
  const branches = anyOfBranches(src, s);
  if (branches) return fc.oneof(...branches.map((b) => validValue(src, b, depth + 1)));
  if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
  const minLength = typeof s.minLength === 'number' ? s.minLength : 0;
  const maxLength = typeof s.maxLength === 'number' ? s.maxLength : undefined;
  switch (s.type) {
    case 'string': {
      if (s.format === 'date-time') {
        return fc
          .date({
            min: new Date('1970-01-01T00:00:00Z'),
            max: new Date('9999-12-31T23:59:59Z'),
            noInvalidDate: true,
          })
          .map((d) => d.toISOString());
      }
      if (typeof s.pattern === 'string') {
        const re = new RegExp(s.pattern);
        return fc
          .stringMatching(re)
          .filter(
            (v) => v.length >= minLength && (maxLength === undefined || v.length <= maxLength),
          );
      }
      const random = fc.string({
        minLength,
        maxLength: Math.max(minLength, Math.min(maxLength ?? 40, 40)),
        unit: 'grapheme',
      });
      // Names that exist on the server get a request past "not found" (the schema may not show every rule).
      const known = (src.known ?? []).filter(
        (k) => k.length >= minLength && (maxLength === undefined || k.length <= maxLength),
      );
      return known.length > 0
        ? fc.oneof(random, { weight: 3, arbitrary: fc.constantFrom(...known) })
        : random;
    }
    case 'integer':
      return integerIn(
        typeof s.minimum === 'number' ? s.minimum : -Number.MAX_SAFE_INTEGER,
        typeof s.maximum === 'number' ? s.maximum : Number.MAX_SAFE_INTEGER,
      );
    case 'number':
      return fc.double({
        min: typeof s.minimum === 'number' ? s.minimum : -1e15,
        max: typeof s.maximum === 'number' ? s.maximum : 1e15,
        noNaN: true,
        noDefaultInfinity: true,
      });
    case 'boolean':
      return fc.boolean();
    case 'array': {
      const minItems = typeof s.minItems === 'number' ? s.minItems : 0;
      const maxItems = typeof s.maxItems === 'number' ? s.maxItems : 3;
      const items = isSchema(s.items) ? validValue(src, s.items, depth + 1) : anyJson;
      return fc.array(items, {
        minLength: minItems,
        maxLength: Math.max(minItems, Math.min(maxItems, 3)),
      });
    }
    case 'object':
    case undefined: {
      const props = (s.properties ?? {}) as Record<string, JsonSchema>;
      if (
        s.type === undefined &&
        Object.keys(props).length === 0 &&
        s.additionalProperties === undefined
      ) {
        return anyJson;
      }
      const required = Array.isArray(s.required) ? (s.required as string[]) : [];
      const model = Object.fromEntries(
        Object.entries(props).map(([name, sub]) => [name, validValue(src, sub, depth + 1)]),
      );
      const known = fc.record(model, { requiredKeys: required });
      if (s.additionalProperties === undefined || s.additionalProperties === false) return known;
      const extra = isSchema(s.additionalProperties)
        ? validValue(src, s.additionalProperties, depth + 1)
        : anyJson;
      return fc
        .tuple(known, fc.dictionary(fc.string({ maxLength: 12 }), extra, { maxKeys: 4 }))
        .map(([k, e]) => ({ ...e, ...k }));
    }
    default:
      throw new Error(`no generator for type ${String(s.type)}`);
  }
}

const otherTypes: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  1e308,
  -1e308,
  '',
  'x',
  '1',
  [],
  [1],
  {},
  { a: 1 },
];

function typeMatches(s: JsonSchema, v: unknown): boolean {
  switch (s.type) {
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    case 'array':
      return Array.isArray(v);
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    default:
      return true;
  }
}

/** Evil strings for any string field: traversal, NUL, controls, unicode tricks, overlong. */
export const EVIL_STRINGS = [
  '',
  ' ',
  '..',
  '../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '\u0000',
  'a\u0000b',
  'line\r\nInjected: yes',
  '\u202e',
  '\ud800',
  '\ud83d\udca9',
  'ｆｕｌｌ',
  '%00',
  '%2e%2e%2f',
  '${jndi:ldap://x}',
  "' OR 1=1 --",
  '__proto__',
  'x'.repeat(10_000),
];

/** Values the schema refuses: wrong type, out of bounds, pattern or format broken, required left out. */
export function invalidValue(src: SchemaSource, raw: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(src.doc, raw);
  const branches = anyOfBranches(src, s);
  if (branches) return invalidForEvery(src, s, branches, depth);
  const options: fc.Arbitrary<unknown>[] = [];
  const wrong = otherTypes.filter((v) => !typeMatches(s, v));
  if (s.type !== undefined && wrong.length > 0) options.push(fc.constantFrom(...wrong));
  if (Array.isArray(s.enum)) {
    const allowed = s.enum as unknown[];
    options.push(
      fc
        .constantFrom<unknown>(
          ...EVIL_STRINGS,
          String(allowed[0]).toUpperCase(),
          `${String(allowed[0])} `,
        )
        .filter((v) => !allowed.includes(v)),
    );
  }
  switch (s.type) {
    case 'string': {
      const pattern = typeof s.pattern === 'string' ? new RegExp(s.pattern) : undefined;
      const evil = EVIL_STRINGS.filter((v) => !pattern || !pattern.test(v));
      if (evil.length > 0) options.push(fc.constantFrom(...evil));
      if (typeof s.maxLength === 'number') {
        const max = s.maxLength;
        options.push(fc.integer({ min: 1, max: 64 }).map((n) => 'a'.repeat(max + n)));
      }
      if (typeof s.minLength === 'number' && s.minLength > 0)
        options.push(fc.constant('a'.repeat(s.minLength - 1)));
      if (pattern)
        options.push(fc.string({ unit: 'binary', maxLength: 80 }).filter((v) => !pattern.test(v)));
      if (s.format === 'date-time') {
        options.push(
          fc.constantFrom(
            'yesterday',
            '2026-13-45T25:61:61Z',
            '+275760-09-13T00:00:00.000Z',
            '1970-01-01',
            '2026-01-01T00:00:00',
          ),
        );
      }
      break;
    }
    case 'integer':
    case 'number': {
      const min = typeof s.minimum === 'number' ? s.minimum : undefined;
      const max = typeof s.maximum === 'number' ? s.maximum : undefined;
      const out: unknown[] = [2 ** 53 + 2, -(2 ** 53) - 2, 1e308];
      if (min !== undefined) out.push(min - 1, min - 0.5);
      if (max !== undefined) out.push(max + 1, max + 0.5);
      if (s.type === 'integer') out.push(1.5, 0.1);
      options.push(
        fc.constantFrom(...out.filter((v) => typeof v === 'number' && Number.isFinite(v))),
      );
      break;
    }
    case 'array': {
      const item = isSchema(s.items) ? s.items : {};
      if (typeof s.maxItems === 'number') {
        const max = s.maxItems;
        options.push(
          validValue(src, item, depth + 1).map((v) => {
            // One item too many; a cheap item where copies of a big one would make hundreds of MB.
            const size = json(v).length * (max + 1);
            return Array.from({ length: max + 1 }, () => (size > 4_000_000 ? null : v));
          }),
        );
      }
      if (typeof s.minItems === 'number' && s.minItems > 0) options.push(fc.constant([]));
      if (isSchema(s.items) && depth < 6) {
        options.push(
          fc
            .tuple(
              fc.array(validValue(src, item, depth + 1), { maxLength: 2 }),
              invalidValue(src, item, depth + 1),
            )
            .map(([ok, bad]) => [...ok, bad]),
        );
      }
      break;
    }
    case 'object':
    case undefined: {
      const props = (s.properties ?? {}) as Record<string, JsonSchema>;
      const names = Object.keys(props);
      const required = Array.isArray(s.required) ? (s.required as string[]) : [];
      if (names.length === 0) break;
      const base = validValue(src, s, depth + 1) as fc.Arbitrary<Record<string, unknown>>;
      if (required.length > 0) {
        options.push(
          fc.tuple(base, fc.constantFrom(...required)).map(([v, drop]) => {
            const copy = { ...v };
            delete copy[drop];
            return copy;
          }),
        );
      }
      if (depth < 6) {
        options.push(
          fc
            .constantFrom(...names)
            .chain((name) =>
              fc
                .tuple(base, invalidValue(src, props[name] ?? {}, depth + 1))
                .map(([v, bad]) => ({ ...v, [name]: bad })),
            ),
        );
      }
      options.push(
        fc
          .tuple(
            base,
            fc.constantFrom('__proto__', 'constructor', 'extra', 'x'.repeat(1000)),
            anyJson,
          )
          .map(([v, k, x]) => {
            const copy = { ...v };
            // defineProperty, so that `__proto__` is an own key that JSON.stringify writes out
            Object.defineProperty(copy, k, {
              value: x,
              enumerable: true,
              writable: true,
              configurable: true,
            });
            return copy;
          }),
      );
      break;
    }
    default:
      break;
  }
  if (options.length === 0) throw new Error(`no invalid values for ${JSON.stringify(s)}`);
  return fc.oneof(...options);
}

/** The resolved branches of an `anyOf`, or undefined when the schema has none. */
function anyOfBranches(src: SchemaSource, s: JsonSchema): JsonSchema[] | undefined {
  if (!Array.isArray(s.anyOf)) return undefined;
  return (s.anyOf as JsonSchema[]).map((b) => resolve(src.doc, b));
}

/**
 * Values no branch of an `anyOf` accepts: a type none of them has, or a valid value of one branch
 * without a property every branch requires.
 */
function invalidForEvery(
  src: SchemaSource,
  s: JsonSchema,
  branches: JsonSchema[],
  depth: number,
): fc.Arbitrary<unknown> {
  const options: fc.Arbitrary<unknown>[] = [];
  const wrong = otherTypes.filter((v) =>
    branches.every((b) => b.type !== undefined && !typeMatches(b, v)),
  );
  if (wrong.length > 0) options.push(fc.constantFrom(...wrong));
  const requiredBy = (b: JsonSchema) => (Array.isArray(b.required) ? (b.required as string[]) : []);
  const common = requiredBy(branches[0] ?? {}).filter((k) =>
    branches.every((b) => requiredBy(b).includes(k)),
  );
  if (common.length > 0) {
    options.push(
      fc.tuple(validValue(src, s, depth + 1), fc.constantFrom(...common)).map(([v, drop]) => {
        const copy = { ...(v as Record<string, unknown>) };
        delete copy[drop];
        return copy;
      }),
    );
  }
  if (options.length === 0) throw new Error(`no invalid values for ${JSON.stringify(s)}`);
  return fc.oneof(...options);
}

// ------------------------------------------------------------------ requests

/** A request body; prints as a summary in counterexamples instead of every byte. */
export class Body {
  constructor(
    readonly bytes: Uint8Array,
    readonly chunked: boolean,
    readonly label: string,
  ) {}
  [fc.toStringMethod](): string {
    const preview = Buffer.from(this.bytes.subarray(0, 80)).toString('latin1');
    return `<${this.label}: ${this.bytes.length} bytes${this.chunked ? ', chunked' : ''} ${JSON.stringify(preview)}>`;
  }
}

export interface FuzzRequest {
  method: string;
  target: string;
  auth: AuthVariant;
  headers: Record<string, string>;
  body: Body | undefined;
}

export interface FuzzContext {
  doc: OpenApiDocument;
  /** Scopes tokens can have (`scope:<name>` auth variants). */
  scopes: readonly TokenScope[];
  /** Values that exist on the server (ids, names); used where a parameter's schema allows them. */
  known: readonly string[];
  /** JSON documents to mutate into octet-stream uploads. */
  corpus: readonly Uint8Array[];
  /** Bodies of this many bytes are above every body limit of the server. */
  hugeBytes: number;
}

const encoder = new TextEncoder();

/** Percent-encodes every byte but the unreserved ones (lone surrogates become U+FFFD, as on the wire). */
export function encodeSegment(value: string): string {
  return [...Buffer.from(value, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9\-._~]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

/** Path segments as an attacker writes them: traversal, NUL, broken escapes, overlong UTF-8, huge. */
export const EVIL_SEGMENTS = [
  '..',
  '.',
  '..%2F..%2F..%2Fetc%2Fpasswd',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '%2E%2E',
  '..%5C..%5Cwin.ini',
  '%252e%252e%252f',
  '%c0%ae%c0%ae%c0%af',
  '%00',
  'a%00b',
  'x.bin%00.json',
  '%zz',
  '%',
  '%e2%82',
  '%ff%fe%fd',
  '%E2%80%AE',
  '%F0%9F%92%A9',
  '%0d%0aSet-Cookie:%20a=b',
  '%20',
  'a;b=c',
  'a%3Fb%23c',
  '\u00e9\u00ff',
  'CON',
  '-1',
  '0',
  '1.5',
  '1e3',
  '9'.repeat(40),
  'null',
  'x'.repeat(8_000),
];

function pathValue(ctx: FuzzContext, p: Param): fc.Arbitrary<string> {
  const s = resolve(ctx.doc, p.schema);
  const pattern = typeof s.pattern === 'string' ? new RegExp(s.pattern) : undefined;
  const known = ctx.known.filter((k) => !pattern || pattern.test(k));
  const valid = validValue(ctx, s).map((v) => encodeSegment(String(v)));
  return fc.oneof(
    {
      weight: 4,
      arbitrary:
        known.length > 0 ? fc.oneof(valid, fc.constantFrom(...known.map(encodeSegment))) : valid,
    },
    { weight: 3, arbitrary: fc.constantFrom(...EVIL_SEGMENTS) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }).map(encodeSegment) },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ maxLength: 24 })
        .map((b) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          known.length > 0 ? fc.constantFrom(...known) : fc.constant('a'),
          fc.constantFrom('/..', '%2F..', '/../..', '/.', '%00', '/'),
        )
        .map(([v, suffix]) => encodeSegment(v) + suffix),
    },
  );
}

function queryString(ctx: FuzzContext, params: Param[]): fc.Arbitrary<string> {
  const one = (p: Param): fc.Arbitrary<string[]> => {
    const name = encodeSegment(p.name);
    const value = (v: fc.Arbitrary<unknown>) => v.map((x) => `${name}=${encodeSegment(String(x))}`);
    return fc.oneof(
      { weight: p.required ? 1 : 3, arbitrary: fc.constant<string[]>([]) },
      { weight: 4, arbitrary: value(validValue(ctx, p.schema)).map((x) => [x]) },
      { weight: 3, arbitrary: value(invalidValue(ctx, p.schema)).map((x) => [x]) },
      { weight: 1, arbitrary: fc.constantFrom(...EVIL_SEGMENTS).map((x) => [`${name}=${x}`]) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(value(validValue(ctx, p.schema)), value(validValue(ctx, p.schema)))
          .map(([a, b]) => [a, b]),
      },
      { weight: 1, arbitrary: fc.constant<string[]>([name, `${name}[]=1`]) },
    );
  };
  const extras = fc.oneof(
    { weight: 6, arbitrary: fc.constant<string[]>([]) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        ['%zz'],
        ['&&=&'],
        ['a=%'],
        [`q=${'9'.repeat(5000)}`],
        ['__proto__[admin]=1'],
        ['x=1&x=2'],
      ),
    },
    {
      weight: 1,
      arbitrary: fc.array(fc.string({ unit: 'binary', maxLength: 12 }).map(encodeSegment), {
        maxLength: 3,
      }),
    },
  );
  return fc.tuple(fc.tuple(...params.map(one)), extras).map(([parts, extra]) => {
    const all = [...parts.flat(), ...extra];
    return all.length > 0 ? `?${all.join('&')}` : '';
  });
}

const RANGE_HEADERS = [
  'bytes=0-0',
  'bytes=0-',
  'bytes=-1',
  'bytes=-0',
  'bytes=1-0',
  'bytes=0-99999999999999999999',
  'bytes=99999999999999999999-',
  'bytes=-99999999999999999999',
  'bytes=0-1,2-3',
  'bytes=1000000-',
  'bytes=--1',
  'bytes=a-b',
  'items=0-1',
  'bytes=',
  'bytes= 0-1',
  'bytes=0-1\u00ff',
];

function extraHeaders(op: Operation): fc.Arbitrary<Record<string, string>> {
  const optional = (name: string, values: fc.Arbitrary<string>) =>
    fc.option(
      values.map((v) => [name, v] as const),
      { nil: undefined, freq: 3 },
    );
  const common = [
    optional('content-encoding', fc.constantFrom('gzip', 'br', 'identity', 'x')),
    optional('accept', fc.constantFrom('*/*', 'text/html', 'application/json;q=0', '\u00ff')),
  ];
  const reads =
    op.method === 'GET'
      ? [
          optional(
            'range',
            fc.oneof(
              fc.constantFrom(...RANGE_HEADERS),
              fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => `bytes=${a}-${b}`),
            ),
          ),
          optional(
            'if-range',
            fc.constantFrom('"x"', 'W/"x"', 'Wed, 21 Oct 2015 07:28:00 GMT', '*', ''),
          ),
          optional(
            'if-none-match',
            fc.constantFrom('*', '"x"', 'W/"x", "y"', ',,,', '"'.repeat(2000)),
          ),
        ]
      : [];
  return fc
    .tuple(...common, ...reads)
    .map((entries) =>
      Object.fromEntries(entries.filter((e): e is readonly [string, string] => e !== undefined)),
    );
}

function headerParams(ctx: FuzzContext, params: Param[]): fc.Arbitrary<Record<string, string>> {
  const one = (p: Param) =>
    fc
      .oneof(
        fc.constant(undefined),
        validValue(ctx, p.schema).map(String),
        fc.constantFrom('', ' ', 'x'.repeat(10_000), '\u00e9\u00ff', 'a\tb'),
        invalidValue(ctx, p.schema).map(String),
      )
      .map((v) => (v === undefined ? undefined : ([p.name.toLowerCase(), v] as const)));
  return fc
    .tuple(...params.map(one))
    .map((entries) =>
      Object.fromEntries(entries.filter((e): e is readonly [string, string] => e !== undefined)),
    );
}

function json(v: unknown): Uint8Array {
  let text = JSON.stringify(v) ?? 'null';
  for (const [marker, raw] of Object.entries(DEEP_TEXT))
    text = text.replaceAll(JSON.stringify(marker), raw);
  return encoder.encode(text);
}

const BAD_JSON: Uint8Array[] = [
  encoder.encode('{'),
  encoder.encode('{"a":'),
  encoder.encode('{"a":1,}'),
  encoder.encode("{'a':1}"),
  encoder.encode('{"a":NaN}'),
  encoder.encode('{"a":1}{"b":2}'),
  encoder.encode('{"a":1} trailing'),
  encoder.encode('\ufeff{}'),
  encoder.encode('{"a":"\\ud800"}'),
  encoder.encode('{"a":"\\u0000"}'),
  encoder.encode('{"__proto__":{"admin":true}}'),
  encoder.encode('{"a":1,"a":2}'),
  encoder.encode(`{"a":${'9'.repeat(400)}}`),
  encoder.encode('['.repeat(100_000)),
  encoder.encode('['.repeat(12_000) + ']'.repeat(12_000)),
  new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
  new Uint8Array([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]),
  new Uint8Array([0xc0, 0xaf]),
];

function mutateJson(doc: Uint8Array, pick: number, op: number, value: unknown): Uint8Array {
  let root: unknown;
  try {
    root = JSON.parse(Buffer.from(doc).toString('utf8')) as unknown;
  } catch {
    return doc;
  }
  const slots: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const walk = (v: unknown, depth: number) => {
    if (depth > 6 || typeof v !== 'object' || v === null) return;
    for (const [k, child] of Object.entries(v)) {
      slots.push({ parent: v as Record<string, unknown>, key: Array.isArray(v) ? Number(k) : k });
      walk(child, depth + 1);
    }
  };
  walk(root, 0);
  const slot = slots[pick % Math.max(1, slots.length)];
  if (slot) {
    const parent = slot.parent as Record<string | number, unknown>;
    if (op % 3 === 0 && !Array.isArray(slot.parent)) delete parent[slot.key];
    else if (op % 3 === 1) parent[slot.key] = value;
    else parent[slot.key] = otherTypes[op % otherTypes.length];
  }
  return json(root);
}

function bodyArbitrary(ctx: FuzzContext, op: Operation): fc.Arbitrary<Body | undefined> {
  const huge = fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 1024 })).map(([chunked, extra]) => {
    const bytes = new Uint8Array(ctx.hugeBytes + extra).fill(0x61);
    bytes.set(encoder.encode('{"a":"'), 0);
    return new Body(bytes, chunked, 'huge');
  });
  const small = (label: string, a: fc.Arbitrary<Uint8Array>) =>
    fc.tuple(a, fc.nat(9)).map(([bytes, n]) => new Body(bytes, n === 0, label));
  const generic = [
    { weight: 1, arbitrary: huge },
    { weight: 1, arbitrary: small('bad JSON', fc.constantFrom(...BAD_JSON)) },
    { weight: 1, arbitrary: small('any JSON', anyJson.map(json)) },
    { weight: 1, arbitrary: small('bytes', fc.uint8Array({ maxLength: 2048 })) },
    { weight: 1, arbitrary: small('empty', fc.constant(new Uint8Array(0))) },
  ];
  if (!op.body) {
    return fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, ...generic);
  }
  const schema = op.body.schema;
  if (op.body.mediaType === 'application/json') {
    return fc.oneof(
      { weight: 4, arbitrary: small('valid', validValue(ctx, schema).map(json)) },
      { weight: 8, arbitrary: small('invalid', invalidValue(ctx, schema).map(json)) },
      ...generic,
      { weight: 1, arbitrary: fc.constant(undefined) },
    );
  }
  const corpus = ctx.corpus.length > 0 ? ctx.corpus : [encoder.encode('{}')];
  return fc.oneof(
    {
      weight: 4,
      arbitrary: small(
        'mutated metadata',
        fc
          .tuple(fc.constantFrom(...corpus), fc.nat(), fc.nat(), anyJson)
          .map(([d, p, o, v]) => mutateJson(d, p, o, v)),
      ),
    },
    {
      weight: 2,
      arbitrary: small(
        'flipped metadata',
        fc
          .tuple(fc.constantFrom(...corpus), fc.nat(), fc.integer({ min: 0, max: 255 }))
          .map(([d, at, b]) => {
            const copy = new Uint8Array(d);
            if (copy.length > 0) copy[at % copy.length] = b;
            return copy;
          }),
      ),
    },
    {
      weight: 2,
      arbitrary: small(
        'valid',
        validValue(ctx, schema).map((v) => (typeof v === 'string' ? encoder.encode(v) : json(v))),
      ),
    },
    ...generic,
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

function contentType(op: Operation): fc.Arbitrary<string | undefined> {
  const right = op.body?.mediaType ?? 'application/json';
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(right) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/json; charset=utf-16',
        'APPLICATION/JSON',
        'application/json-patch+json',
        'application/octet-stream',
        'application/json',
        'application/xml',
        '*/*',
        '',
        ';;;',
        '\u00ff/\u00ff',
      ),
    },
  );
}

function authVariant(ctx: FuzzContext, op: Operation): fc.Arbitrary<AuthVariant> {
  const declared = (op.security ?? []).flatMap((r) => Object.values(r).flat());
  const scopes = ctx.scopes.map((s): AuthVariant => `scope:${s}`);
  const right = declared.length > 0 ? declared.map((s) => `scope:${s}` as AuthVariant) : scopes;
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom<AuthVariant>(...right, 'scope:admin') },
    { weight: 2, arbitrary: fc.constantFrom(...scopes) },
    { weight: 3, arbitrary: fc.constantFrom(...BAD_AUTH) },
  );
}

const STRAY_METHODS = ['DELETE', 'PATCH', 'OPTIONS', 'PUT', 'POST', 'GET', 'TRACE', 'PROPFIND'];

/** Requests for one operation: every part may be valid, wrong, missing, or hostile. */
export function requestArbitrary(
  ctx: FuzzContext,
  op: Operation,
  methodsOfPath: readonly string[],
): fc.Arbitrary<FuzzRequest> {
  const stray = STRAY_METHODS.filter(
    (m) => !methodsOfPath.includes(m) && !(m === 'HEAD' && methodsOfPath.includes('GET')),
  );
  const method = fc.oneof(
    { weight: 12, arbitrary: fc.constant(op.method) },
    ...(op.method === 'GET' ? [{ weight: 4, arbitrary: fc.constant('HEAD') }] : []),
    { weight: 1, arbitrary: fc.constantFrom(...stray) },
  );
  const path = fc.tuple(...op.pathParams.map((p) => pathValue(ctx, p))).map((values) => {
    let i = 0;
    return op.path.replace(/\{[^}]+\}/g, () => values[i++] ?? '');
  });
  return fc
    .record({
      method,
      path,
      query: queryString(ctx, op.queryParams),
      auth: authVariant(ctx, op),
      params: headerParams(ctx, op.headerParams),
      extra: extraHeaders(op),
      contentType: contentType(op),
      body: bodyArbitrary(ctx, op),
    })
    .map((r) => ({
      method: r.method,
      target: r.path + r.query,
      auth: r.auth,
      headers: Object.fromEntries(
        Object.entries({
          ...r.extra,
          ...r.params,
          ...(r.contentType !== undefined && r.body !== undefined
            ? { 'content-type': r.contentType }
            : {}),
        }).map(([k, v]) => [k, headerValue(v)]),
      ),
      body: r.body,
    }));
}

/** A header value as bytes on the wire: UTF-8 sent as is, minus what HTTP cannot carry (CR, LF, NUL...). */
function headerValue(v: string): string {
  return [...Buffer.from(v, 'utf8').toString('latin1')]
    .filter((ch) => {
      const c = ch.charCodeAt(0);
      return c === 9 || (c >= 0x20 && c !== 0x7f);
    })
    .join('');
}

/**
 * One plain request for an operation, past every parameter check but with an empty body (`{}`
 * for JSON): it reaches the handler only if authentication lets it, and then fails validation
 * without changing anything.
 */
export function plainRequest(
  src: SchemaSource,
  op: Operation,
): { target: string; headers: Record<string, string>; body: Uint8Array | undefined } {
  const sample = (p: Param) =>
    String(fc.sample(validValue(src, p.schema), { seed: 7, numRuns: 1 })[0]);
  let i = 0;
  const values = op.pathParams.map((p) => encodeSegment(sample(p)));
  const path = op.path.replace(/\{[^}]+\}/g, () => values[i++] ?? '');
  const query = op.queryParams
    .filter((p) => p.required)
    .map((p) => `${encodeSegment(p.name)}=${encodeSegment(sample(p))}`);
  if (!op.body)
    return {
      target: path + (query.length ? `?${query.join('&')}` : ''),
      headers: {},
      body: undefined,
    };
  const json = op.body.mediaType === 'application/json';
  return {
    target: path + (query.length ? `?${query.join('&')}` : ''),
    headers: { 'content-type': op.body.mediaType },
    body: encoder.encode(json ? '{}' : ''),
  };
}
