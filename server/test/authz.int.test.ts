import { createHash, randomBytes } from 'node:crypto';
import {
  computeVinCommitment,
  createVehicleCa,
  createVehicleCsr,
  createVehicleIdentity,
} from '@tufchain/keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenScope } from '../src/index.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { answerProblems, errorCodeOf } from './support/error-answer.js';
import {
  isMutating,
  listOperations,
  plainRequest,
  type OpenApiDocument,
  type Operation,
} from './support/openapi-fuzz.js';
import { rawClient, type RawClient } from './support/raw-http.js';
import {
  BAD_AUTH,
  startWiredServer,
  TOKEN_SCOPES,
  type AuthVariant,
  type WiredServer,
} from './support/wired-server.js';
import { signSuccessReport } from './support/install-report.js';

/**
 * Mutating routes that take no API token because the vehicle authenticates itself, with why.
 * Each is sent a request a vehicle of another CA signed correctly: it must be refused with the
 * code below, and a token (even admin) must change nothing.
 */
const VEHICLE_AUTHENTICATED: Record<string, { why: string; wantStatus: number; wantCode: string }> =
  {
    'POST /api/v1/attestations': {
      why: 'an install report is signed (DSSE) by the vehicle key, whose certificate must chain to the vehicle CA and be enrolled here',
      wantStatus: 422,
      wantCode: 'VEHICLE_UNKNOWN',
    },
    'POST /api/v1/vehicles/reenroll': {
      why: 'a renewal presents the vehicle certificate the CA issued, and its CSR is signed by that same key (proof of possession)',
      wantStatus: 422,
      wantCode: 'VEHICLE_UNKNOWN',
    },
  };

/** The one scope an operation declares: `[{ bearerAuth: [scope] }]`, `any` for `[]`. */
function declaredScope(op: Operation): TokenScope | 'any' | undefined {
  const [requirement, ...more] = op.security ?? [];
  const keys = Object.keys(requirement ?? {});
  const roles = requirement?.bearerAuth;
  if (more.length > 0 || keys.length !== 1 || !roles || roles.length > 1) return undefined;
  if (roles.length === 0) return 'any';
  const scope = roles[0] as TokenScope;
  return TOKEN_SCOPES.includes(scope) ? scope : undefined;
}

/** Director routes a vehicle signs (RFC 9421): `[{ vehicleSignature: [] }]` and nothing else. */
function vehicleSigned(op: Operation): boolean {
  return JSON.stringify(op.security ?? null) === JSON.stringify([{ vehicleSignature: [] }]);
}

const wantFor: Partial<Record<AuthVariant, string>> = {
  expired: '401 TOKEN_EXPIRED',
  revoked: '401 TOKEN_REVOKED',
};

describe('authorization of every operation in the OpenAPI document (anvil, SQLite, HTTP on loopback)', () => {
  let chain: TestChain;
  let wired: WiredServer;
  let client: RawClient;
  let doc: OpenApiDocument;
  let operations: Operation[];

  beforeAll(async () => {
    chain = await startTestChain();
    wired = await startWiredServer(chain);
    client = rawClient(wired.server.url);
    doc = (await (
      await fetch(`${wired.server.url}/api/v1/openapi.json`)
    ).json()) as OpenApiDocument;
    operations = listOperations(doc).operations;
  });

  afterAll(async () => {
    client?.close();
    await wired?.close();
    await chain?.stop();
  });

  /** `401 UNAUTHENTICATED`, `403 INSUFFICIENT_SCOPE`, `400`... for a plain request with `auth`. */
  async function answerTo(op: Operation, auth: AuthVariant): Promise<string> {
    const plain = plainRequest({ doc, known: [] }, op);
    const res = await client.send({
      method: op.method,
      target: plain.target,
      headers: { ...plain.headers, ...wired.authHeader(auth) },
      ...(plain.body ? { body: { bytes: plain.body, chunked: false } } : {}),
    });
    expect(answerProblems(op.method, res), `${op.key} with ${auth}`).toEqual([]);
    return res.status === 401 || res.status === 403
      ? `${res.status} ${errorCodeOf(res)}`
      : 'past authorization';
  }

  const secured = () => operations.filter((op) => op.security !== undefined && !vehicleSigned(op));

  it('declares bearerAuth with the scope it needs on every mutating operation not authenticated by the vehicle', () => {
    const mutating = operations.filter(isMutating);
    expect(mutating.length).toBeGreaterThanOrEqual(12);
    const undeclared = mutating
      .filter((op) => !(op.key in VEHICLE_AUTHENTICATED) && !vehicleSigned(op))
      .filter((op) => {
        const scope = declaredScope(op);
        return scope === undefined || scope === 'any';
      })
      .map((op) => `${op.key}: ${JSON.stringify(op.security ?? null)}`);
    expect(undeclared).toEqual([]);
    // The exceptions are mutating operations that exist and declare no token.
    for (const key of Object.keys(VEHICLE_AUTHENTICATED)) {
      const op = operations.find((o) => o.key === key);
      expect(op && isMutating(op), key).toBe(true);
      expect(op?.security ?? [], key).toEqual([]);
    }
  });

  it('refuses every missing, malformed, unknown, expired or revoked token with its 401 code, on every operation that declares bearerAuth', async () => {
    const want: string[] = [];
    const got: string[] = [];
    for (const op of secured()) {
      for (const auth of BAD_AUTH) {
        want.push(`${op.key} with ${auth}: ${wantFor[auth] ?? '401 UNAUTHENTICATED'}`);
        got.push(`${op.key} with ${auth}: ${await answerTo(op, auth)}`);
      }
    }
    expect(got).toEqual(want);
  });

  it('answers a token of every other scope with 403 INSUFFICIENT_SCOPE, and lets the declared scope and admin through', async () => {
    const want: string[] = [];
    const got: string[] = [];
    for (const op of secured()) {
      const scope = declaredScope(op);
      expect(scope, `${op.key} declares ${JSON.stringify(op.security)}`).toBeDefined();
      for (const token of TOKEN_SCOPES) {
        const allowed = scope === 'any' || token === scope || token === 'admin';
        want.push(
          `${op.key} with ${token}: ${allowed ? 'past authorization' : '403 INSUFFICIENT_SCOPE'}`,
        );
        got.push(`${op.key} with ${token}: ${await answerTo(op, `scope:${token}`)}`);
      }
    }
    expect(got).toEqual(want);
  });

  it('asks no token on the operations that declare none', async () => {
    const open = operations.filter((op) => op.security === undefined);
    expect(open.length).toBeGreaterThan(0);
    const want = open.map((op) => `${op.key}: past authorization`);
    const got: string[] = [];
    for (const op of open) got.push(`${op.key}: ${await answerTo(op, 'none')}`);
    expect(got).toEqual(want);
  });

  it('refuses every vehicle-signed operation without a valid request signature, whatever token comes with it', async () => {
    const signed = operations.filter(vehicleSigned);
    expect(signed.map((op) => op.key)).toEqual(
      expect.arrayContaining(['PUT /api/v1/director/ecus', 'GET /director/metadata/{file}']),
    );
    const want: string[] = [];
    const got: string[] = [];
    const variants: [string, Record<string, string>, string][] = [
      ['no signature', {}, '401 VEHICLE_SIGNATURE_MISSING'],
      ['an admin token', wired.authHeader('scope:admin'), '401 VEHICLE_SIGNATURE_MISSING'],
      [
        'a malformed signature',
        { 'signature-input': 'sig1=("@method");keyid="x"', signature: 'sig1=:AAAA:' },
        '401 VEHICLE_SIGNATURE_INVALID',
      ],
    ];
    for (const op of signed) {
      const plain = plainRequest({ doc, known: wired.known }, op);
      for (const [what, headers, code] of variants) {
        const res = await client.send({
          method: op.method,
          target: plain.target,
          headers: { ...plain.headers, ...headers },
          ...(plain.body ? { body: { bytes: plain.body, chunked: false } } : {}),
        });
        expect(answerProblems(op.method, res), `${op.key} with ${what}`).toEqual([]);
        want.push(`${op.key} with ${what}: ${code}`);
        got.push(`${op.key} with ${what}: ${res.status} ${errorCodeOf(res)}`);
      }
    }
    expect(got).toEqual(want);
  });

  describe('vehicle-authenticated operations', () => {
    /** A vehicle whose certificate another CA issued: correct signatures, wrong trust anchor. */
    async function strangerRequests(): Promise<Record<string, unknown>> {
      const foreignCa = await createVehicleCa({ commonName: 'Not The OEM Vehicle CA' });
      const identity = await createVehicleIdentity(foreignCa, {
        vin: 'WVWZZZ1JZXW000999',
        ecuSerial: 'GW-0999',
      });
      const digest = createHash('sha256').update('gw-1.0.0.img').digest('hex');
      const report = await signSuccessReport({
        chain,
        vehicle: identity,
        hardwareId: 'gw-rev3',
        to: { name: 'gw-1.0.0.img', version: '1.0.0', releaseCounter: 1, digest },
        metadata: { targetsVersion: 1, targetsHash: `0x${'a'.repeat(64)}` },
      });
      const csr = await createVehicleCsr(identity.privateKey, {
        vinCommitment: computeVinCommitment('WVWZZZ1JZXW000999', randomBytes(32)),
        ecuSerial: 'GW-0999',
      });
      return {
        'POST /api/v1/attestations': report,
        'POST /api/v1/vehicles/reenroll': { csr, certificate: identity.certificatePem },
      };
    }

    it('refuses a correctly signed request of a vehicle this CA never issued, with or without a token', async () => {
      const bodies = await strangerRequests();
      const want: string[] = [];
      const got: string[] = [];
      for (const [key, { wantStatus, wantCode }] of Object.entries(VEHICLE_AUTHENTICATED)) {
        const op = operations.find((o) => o.key === key);
        if (!op) throw new Error(`${key} is not in the document`);
        for (const auth of ['none', 'scope:admin'] as const) {
          const res = await client.send({
            method: op.method,
            target: op.path,
            headers: { 'content-type': 'application/json', ...wired.authHeader(auth) },
            body: { bytes: Buffer.from(JSON.stringify(bodies[key])), chunked: false },
          });
          want.push(`${key} with ${auth}: ${wantStatus} ${wantCode}`);
          got.push(`${key} with ${auth}: ${res.status} ${errorCodeOf(res)}`);
        }
      }
      expect(got).toEqual(want);
    });
  });
});
