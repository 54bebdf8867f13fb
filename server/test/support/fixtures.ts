import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeySigner, generateKeyPair, type Signer } from '@tufchain/keys';
import {
  createApiToken,
  createServerParts,
  initRepository,
  type AttestationVerifier,
  type ChainReceipt,
  type Clock,
  type ConfigInput,
  type MinimumVersionReceipt,
  type OpenedRepository,
  type ReleaseEntry,
  type ReleaseLog,
  type ServerDeps,
  type ServerParts,
} from '../../src/index.js';
import { openTestRepository } from './database.js';

export function makeSigner(type: 'ed25519' | 'ecdsa-p256' = 'ed25519'): Signer {
  return createKeySigner(generateKeyPair(type).privateKey);
}

/** Unit-test double of the chain: enforces increasing versions like the contract does. */
export class MemoryReleaseLog implements ReleaseLog {
  readonly entries: ReleaseEntry[] = [];
  failNext: Error | undefined;
  delayMs = 0;
  #block = 0;

  async logRelease(entry: ReleaseEntry): Promise<ChainReceipt> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = undefined;
      throw e;
    }
    const last = this.entries.at(-1)?.metadataVersion ?? 0;
    if (entry.metadataVersion <= last)
      throw Object.assign(new Error('VersionNotIncreasing'), { code: 'VERSION_NOT_INCREASING' });
    this.entries.push(entry);
    this.#block += 1;
    const hash = createHash('sha256').update(String(this.#block)).digest('hex');
    return { txHash: `0x${hash}`, blockNumber: this.#block, blockHash: `0x${hash}` };
  }

  readonly recalls: { digests: string[]; reason: string }[] = [];
  /** Per hardware ID: the floor and the receipt that set it (only rises, like the contract). */
  readonly floors = new Map<string, MinimumVersionReceipt>();
  failNextFloor: Error | undefined;

  minimumVersion(hardwareId: string): Promise<number> {
    return Promise.resolve(this.floors.get(hardwareId)?.version ?? 0);
  }

  setMinimumVersion(hardwareId: string, version: number): Promise<MinimumVersionReceipt> {
    if (this.failNextFloor) {
      const e = this.failNextFloor;
      this.failNextFloor = undefined;
      return Promise.reject(e);
    }
    const current = this.floors.get(hardwareId);
    if (current && version === current.version) return Promise.resolve(current);
    if (version < (current?.version ?? 0)) {
      return Promise.reject(
        Object.assign(new Error('MinimumVersionNotIncreasing'), {
          code: 'MINIMUM_VERSION_NOT_INCREASING',
        }),
      );
    }
    this.#block += 1;
    const hash = createHash('sha256').update(`floor ${this.#block}`).digest('hex');
    const receipt: MinimumVersionReceipt = {
      txHash: `0x${hash}`,
      blockNumber: this.#block,
      blockHash: `0x${hash}`,
      hardwareId,
      hardwareIdHash: `0x${createHash('sha256').update(hardwareId).digest('hex')}`,
      version,
      previousVersion: current?.version ?? 0,
    };
    this.floors.set(hardwareId, receipt);
    return Promise.resolve(receipt);
  }

  recallFirmware(digests: string[], reason: string): Promise<ChainReceipt> {
    this.recalls.push({ digests, reason });
    this.#block += 1;
    const hash = createHash('sha256').update(`recall ${this.#block}`).digest('hex');
    return Promise.resolve({
      txHash: `0x${hash}`,
      blockNumber: this.#block,
      blockHash: `0x${hash}`,
    });
  }
}

/** A firmware "bundle" double: the verifier checks its digest against the uploaded image. */
export function fakeFirmwareBundle(input: {
  sha256: string;
  hardwareIds: string[];
  version: string;
  releaseCounter: number;
}): Record<string, unknown> {
  return { fake: 'firmware', ...input };
}

export const fakeVerifier: AttestationVerifier = {
  verifyFirmware(bundle, expected) {
    const b = bundle as {
      fake?: string;
      sha256?: string;
      hardwareIds: string[];
      version: string;
      releaseCounter: number;
    };
    if (b.fake !== 'firmware')
      return Promise.reject(Object.assign(new Error('bad bundle'), { code: 'BUNDLE_INVALID' }));
    if (b.sha256 !== expected.sha256)
      return Promise.reject(
        Object.assign(new Error('digest'), { code: 'SUBJECT_DIGEST_MISMATCH' }),
      );
    return Promise.resolve({
      hardwareIds: b.hardwareIds,
      version: b.version,
      releaseCounter: b.releaseCounter,
    });
  },
  verifyInstall(bundle) {
    const b = bundle as {
      fake?: string;
      vin?: string;
      ecu?: string;
      target?: string;
      counter?: number;
    };
    if (b.fake !== 'install')
      return Promise.reject(Object.assign(new Error('bad bundle'), { code: 'BUNDLE_INVALID' }));
    return Promise.resolve({
      vinCommitment: b.vin ?? '00',
      ecuSerial: b.ecu ?? 'ecu',
      targetName: b.target ?? 't',
      result: 'SUCCESS',
      counter: b.counter ?? 1,
      reportDigest: createHash('sha256').update(JSON.stringify(b)).digest('hex'),
    });
  },
};

export interface TestRepo {
  dir: string;
  repo: OpenedRepository;
  parts: ServerParts;
  /** What `parts` was made of: for startServer on the same repository. */
  deps: ServerDeps;
  chain: MemoryReleaseLog;
  signers: {
    root: Signer[];
    targets: Signer;
    targetsKeys: Signer[];
    snapshot: Signer;
    timestamp: Signer;
  };
  rootBytes: Uint8Array;
  tokens: { publish: string; revoke: string; admin: string };
  now: { value: Date };
  cleanup(): Promise<void>;
}

export async function createTestRepo(
  opts: {
    config?: ConfigInput;
    onlineTargets?: boolean;
    rootThreshold?: number;
    /** Offline targets keys: n keys with threshold k (default: one online key). */
    targetsKeys?: { n: number; k: number };
    /** TAP 15 bins: 2^binBits (default 2: four bins keep assertions readable). */
    binBits?: number;
  } = {},
): Promise<TestRepo> {
  const dir = await mkdtemp(join(tmpdir(), 'tufchain-server-'));
  const repo = await openTestRepository({ dataDir: dir });
  const now = { value: new Date() };
  const clock: Clock = () => now.value;
  const signers = {
    root: [makeSigner(), makeSigner('ecdsa-p256')],
    targets: makeSigner(),
    targetsKeys: Array.from({ length: opts.targetsKeys?.n ?? 0 }, () => makeSigner()),
    snapshot: makeSigner(),
    timestamp: makeSigner('ecdsa-p256'),
  };
  const chain = new MemoryReleaseLog();
  const { rootBytes } = await initRepository({
    store: repo.store,
    rootSigners: signers.root,
    threshold: opts.rootThreshold ?? 2,
    onlineSigners: {
      targets: opts.targetsKeys ? signers.targetsKeys : signers.targets,
      snapshot: signers.snapshot,
      timestamp: signers.timestamp,
    },
    thresholds: { targets: opts.targetsKeys?.k ?? 1 },
    binBits: opts.binBits ?? 2,
    clock,
    releaseLog: chain,
  });
  const deps: ServerDeps = {
    fleet: repo.fleet,
    store: repo.store,
    blobs: repo.blobs,
    signers:
      opts.onlineTargets === false || opts.targetsKeys
        ? { snapshot: signers.snapshot, timestamp: signers.timestamp }
        : { targets: signers.targets, snapshot: signers.snapshot, timestamp: signers.timestamp },
    releaseLog: chain,
    verifier: fakeVerifier,
    clock,
    config: { resignIntervalMs: 0, binBits: opts.binBits ?? 2, ...opts.config },
  };
  const parts = createServerParts(deps);
  const tokens = {
    publish: (await createApiToken(repo.store, { name: 'ci', scopes: ['publish'] })).token,
    revoke: (await createApiToken(repo.store, { name: 'sec', scopes: ['revoke'] })).token,
    admin: (await createApiToken(repo.store, { name: 'root', scopes: ['admin'] })).token,
  };
  return {
    dir,
    repo,
    parts,
    deps,
    chain,
    signers,
    rootBytes,
    tokens,
    now,
    async cleanup() {
      await repo.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Uploads an image and publishes it as one release through the HTTP API. */
export async function uploadAndPublish(
  t: TestRepo,
  input: {
    name: string;
    bytes?: Uint8Array;
    hardwareIds?: string[];
    version?: string;
    releaseCounter?: number;
  },
  headers: Record<string, string> = {},
): Promise<Response> {
  const bytes = input.bytes ?? new TextEncoder().encode(`image ${input.name}`);
  const put = await t.parts.app.request(`/api/v1/firmware/${input.name}`, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${t.tokens.publish}`,
      'content-type': 'application/octet-stream',
    },
    body: bytes,
  });
  if (put.status !== 201) throw new Error(`upload failed ${put.status} ${await put.text()}`);
  const claims = {
    hardwareIds: input.hardwareIds ?? ['ecu-a'],
    version: input.version ?? '1.0.0',
    releaseCounter: input.releaseCounter ?? 1,
  };
  return t.parts.app.request('/api/v1/releases', {
    method: 'POST',
    headers: {
      authorization: `Bearer ${t.tokens.publish}`,
      'content-type': 'application/json',
      ...headers,
    },
    body: JSON.stringify({
      targets: [
        {
          name: input.name,
          ...claims,
          attestation: fakeFirmwareBundle({ sha256: sha256Hex(bytes), ...claims }),
        },
      ],
    }),
  });
}

/** The Authorization header of a bearer token. */
export const auth = (token: string): Record<string, string> => ({
  authorization: `Bearer ${token}`,
});

/** The `error.code` of a JSON error answer. */
export async function codeOf(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}
