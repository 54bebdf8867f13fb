import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Metadata, MetadataKind, type Snapshot, type Targets, type Timestamp } from '@tufjs/models';
import { signFirmwareAttestation, signMetadata, type Signer } from '@tufchain/keys';

/** The online keys an attacker stole from the OEM: enough for TUF, not for the chain. */
export interface StolenKeys {
  targets: Signer;
  snapshot: Signer;
  timestamp: Signer;
  firmware: Signer;
}

export interface RogueMirror {
  url: string;
  targetsVersion: number;
  imageSha256: string;
  close(): Promise<void>;
}

interface RogueFile {
  body: Uint8Array;
  contentType: string;
}

/**
 * The attacker of the demo and the e2e test: a compromised mirror (or a DNS hijack) that serves
 * the real repository with one extra release, signed with the real, stolen OEM online keys
 * but never logged on chain. TUF alone accepts it; the on-chain check must not.
 */
export async function startRogueMirror(opts: {
  upstreamUrl: string;
  keys: StolenKeys;
  image: Uint8Array;
  name: string;
  hardwareId: string;
  version: string;
  releaseCounter: number;
}): Promise<RogueMirror> {
  type Json = Parameters<typeof Metadata.fromJSON>[1];
  const fetchJson = async (path: string): Promise<Json> => {
    const res = await fetch(`${opts.upstreamUrl}${path}`);
    if (!res.ok) throw new Error(`upstream ${path}: HTTP ${res.status}`);
    return (await res.json()) as Json;
  };
  // Plain JSON in, fresh metadata out: @tufjs/models objects are immutable.
  const timestampJson = (await fetchJson('/metadata/timestamp.json')) as unknown as SignedDoc;
  const snapshotVersion = Number(timestampJson.signed.meta['snapshot.json']?.version);
  const snapshotJson = (await fetchJson(
    `/metadata/${snapshotVersion}.snapshot.json`,
  )) as unknown as SignedDoc;
  const targetsVersion = Number(snapshotJson.signed.meta['targets.json']?.version);
  if (!Number.isSafeInteger(targetsVersion))
    throw new Error('upstream snapshot lists no targets.json');
  const targetsJson = (await fetchJson(
    `/metadata/${targetsVersion}.targets.json`,
  )) as unknown as SignedDoc;

  const files = new Map<string, RogueFile>();
  const sha256 = createHash('sha256').update(opts.image).digest('hex');
  const sha512 = createHash('sha512').update(opts.image).digest('hex');
  const attestationName = `${opts.name}.sigstore.json`;
  const bundle = await signFirmwareAttestation(
    {
      name: opts.name,
      sha256,
      hardwareIds: [opts.hardwareId],
      version: opts.version,
      releaseCounter: opts.releaseCounter,
    },
    opts.keys.firmware,
  );
  const bundleBytes = new TextEncoder().encode(JSON.stringify(bundle));
  const bundleSha256 = createHash('sha256').update(bundleBytes).digest('hex');
  files.set(`/targets/${sha256}.${opts.name}`, {
    body: opts.image,
    contentType: 'application/octet-stream',
  });
  files.set(`/targets/${bundleSha256}.${attestationName}`, {
    body: bundleBytes,
    contentType: 'application/json',
  });

  const expires = new Date(Date.now() + 7 * 24 * 3600 * 1000)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z');
  const newTargetsVersion = targetsVersion + 1;
  const targets = Metadata.fromJSON(
    MetadataKind.Targets,
    asJson({
      signatures: [],
      signed: {
        ...targetsJson.signed,
        version: newTargetsVersion,
        expires,
        targets: {
          ...targetsJson.signed.targets,
          [opts.name]: {
            length: opts.image.length,
            hashes: { sha256, sha512 },
            custom: {
              kind: 'firmware',
              hardwareIds: [opts.hardwareId],
              version: opts.version,
              releaseCounter: opts.releaseCounter,
              attestation: attestationName,
            },
          },
          [attestationName]: {
            length: bundleBytes.length,
            hashes: {
              sha256: bundleSha256,
              sha512: createHash('sha512').update(bundleBytes).digest('hex'),
            },
            custom: { kind: 'attestation', subject: opts.name },
          },
        },
      },
    }),
  );
  await signMetadata<Targets>(targets, opts.keys.targets);

  const newSnapshotVersion = Number(snapshotJson.signed.version) + 1;
  const snapshot = Metadata.fromJSON(
    MetadataKind.Snapshot,
    asJson({
      signatures: [],
      signed: {
        ...snapshotJson.signed,
        version: newSnapshotVersion,
        expires,
        meta: { ...snapshotJson.signed.meta, 'targets.json': { version: newTargetsVersion } },
      },
    }),
  );
  await signMetadata<Snapshot>(snapshot, opts.keys.snapshot);

  const timestamp = Metadata.fromJSON(
    MetadataKind.Timestamp,
    asJson({
      signatures: [],
      signed: {
        ...timestampJson.signed,
        version: Number(timestampJson.signed.version) + 1,
        expires,
        meta: { 'snapshot.json': { version: newSnapshotVersion } },
      },
    }),
  );
  await signMetadata<Timestamp>(timestamp, opts.keys.timestamp);
  const t = { version: newTargetsVersion };

  files.set(`/metadata/${t.version}.targets.json`, {
    body: serialize(targets),
    contentType: 'application/json',
  });
  files.set(`/metadata/${newSnapshotVersion}.snapshot.json`, {
    body: serialize(snapshot),
    contentType: 'application/json',
  });
  files.set('/metadata/timestamp.json', {
    body: serialize(timestamp),
    contentType: 'application/json',
  });

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const rogue = files.get(path);
    if (rogue) {
      res.writeHead(200, {
        'content-type': rogue.contentType,
        'content-length': rogue.body.length,
      });
      res.end(rogue.body);
      return;
    }
    // Everything else (root history, older versions) is the genuine upstream answer.
    fetch(`${opts.upstreamUrl}${path}`)
      .then(async (up) => {
        const body = Buffer.from(await up.arrayBuffer());
        res.writeHead(up.status, {
          'content-type': up.headers.get('content-type') ?? 'application/octet-stream',
        });
        res.end(body);
      })
      .catch(() => {
        res.writeHead(502);
        res.end();
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    targetsVersion: t.version,
    imageSha256: sha256,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

interface SignedDoc {
  signed: {
    version: number;
    meta: Record<string, { version: number }>;
    targets: Record<string, unknown>;
  } & Record<string, unknown>;
}

function asJson(doc: unknown): Parameters<typeof Metadata.fromJSON>[1] {
  return doc as Parameters<typeof Metadata.fromJSON>[1];
}

function serialize(metadata: Metadata<Targets | Snapshot | Timestamp>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(metadata.toJSON()));
}

/** The Director's online keys, stolen from the server. */
export interface StolenDirectorKeys {
  targets: Signer;
  snapshot: Signer;
  timestamp: Signer;
}

export interface RogueDirector {
  url: string;
  targetsVersion: number;
  close(): Promise<void>;
}

/**
 * The attacker of the vehicle act: it holds the Director's online keys and a hijacked Director
 * host. It signs a Director targets version for one vehicle that assigns a genuine image (in the
 * image repository, logged on chain) the OEM never assigned, valid for TUF in every respect, and
 * replays the log's genuine promise of the previous version: the log never saw these bytes.
 * Director roots are the genuine ones (public); nothing else is answered.
 */
export async function startRogueDirector(opts: {
  upstreamUrl: string;
  keys: StolenDirectorKeys;
  /** The vehicle's current Director metadata and log promise, exact bytes. */
  genuine: {
    timestamp: Uint8Array;
    snapshot: Uint8Array;
    targets: Uint8Array;
    logPromise: Uint8Array;
  };
  assign: {
    name: string;
    image: Uint8Array;
    ecuSerial: string;
    hardwareId: string;
    releaseCounter: number;
  };
}): Promise<RogueDirector> {
  const parse = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as SignedDirectorDoc;
  const genuine = {
    timestamp: parse(opts.genuine.timestamp),
    snapshot: parse(opts.genuine.snapshot),
    targets: parse(opts.genuine.targets),
  };
  const expires = new Date(Date.now() + 7 * 24 * 3600 * 1000)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z');
  const a = opts.assign;
  const targetsVersion = genuine.targets.signed.version + 1;
  const targets = Metadata.fromJSON(
    MetadataKind.Targets,
    asJson({
      signatures: [],
      signed: {
        ...genuine.targets.signed,
        version: targetsVersion,
        expires,
        targets: {
          [a.name]: {
            length: a.image.length,
            hashes: {
              sha256: createHash('sha256').update(a.image).digest('hex'),
              sha512: createHash('sha512').update(a.image).digest('hex'),
            },
            custom: {
              ecuIdentifiers: { [a.ecuSerial]: { hardwareId: a.hardwareId } },
              releaseCounter: a.releaseCounter,
              uri: null,
            },
          },
        },
        custom: {
          ...genuine.targets.signed.custom,
          correlationId: 'urn:tufchain:assignment:rogue-1',
          atomic: true,
        },
      },
    }),
  );
  await signMetadata<Targets>(targets, opts.keys.targets);
  const snapshotVersion = genuine.snapshot.signed.version + 1;
  const snapshot = Metadata.fromJSON(
    MetadataKind.Snapshot,
    asJson({
      signatures: [],
      signed: {
        ...genuine.snapshot.signed,
        version: snapshotVersion,
        expires,
        meta: { 'targets.json': { version: targetsVersion } },
      },
    }),
  );
  await signMetadata<Snapshot>(snapshot, opts.keys.snapshot);
  const timestamp = Metadata.fromJSON(
    MetadataKind.Timestamp,
    asJson({
      signatures: [],
      signed: {
        ...genuine.timestamp.signed,
        version: genuine.timestamp.signed.version + 1,
        expires,
        meta: { 'snapshot.json': { version: snapshotVersion } },
      },
    }),
  );
  await signMetadata<Timestamp>(timestamp, opts.keys.timestamp);

  const files = new Map<string, Uint8Array>([
    ['/director/metadata/timestamp.json', serialize(timestamp)],
    [`/director/metadata/${snapshotVersion}.snapshot.json`, serialize(snapshot)],
    [`/director/metadata/${targetsVersion}.targets.json`, serialize(targets)],
  ]);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const body =
      files.get(path) ?? (path === '/director/log-promise' ? opts.genuine.logPromise : undefined);
    if (body) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
      return;
    }
    if (!/^\/director\/metadata\/\d+\.root\.json$/.test(path)) {
      res.writeHead(404);
      res.end();
      return;
    }
    // Director roots are public: the genuine ones (the attacker cannot sign a root).
    fetch(`${opts.upstreamUrl}${path}`)
      .then(async (up) => {
        res.writeHead(up.status, { 'content-type': 'application/json' });
        res.end(Buffer.from(await up.arrayBuffer()));
      })
      .catch(() => {
        res.writeHead(502);
        res.end();
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    targetsVersion,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

interface SignedDirectorDoc {
  signed: { version: number; custom?: Record<string, unknown> } & Record<string, unknown>;
}
