/**
 * A fleet of simulated vehicles on loopback, for load tests (bench/fleet.ts) and campaigns: each
 * vehicle enrolls the real way (the client agent's enrollVehicle: its own P-256 key, a CSR, the
 * factory token), then polls its replica with jitter: a conditional GET of timestamp.json and,
 * when it changed, the snapshot, targets, bins and bin it needs; when the firmware hint names a
 * release it does not run, it resolves the image in its bin and posts an install attestation
 * signed by the client agent's report signer (signInstallReport).
 *
 * What a vehicle does not do here: verify TUF signatures and the chain (its CPU would be the
 * simulator's, not the server's), or download the image. The server sees the requests a vehicle
 * makes; the chain checkpoint is read once per release for the whole fleet.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { enrollVehicle, signInstallReport, type InstallReportBundle } from '@tufchain/client-agent';
import { computeVinCommitment, createKeySigner } from '@tufchain/keys';
import { Metadata, MetadataKind, type Targets } from '@tufjs/models';
import { Pool, request } from 'undici';
import {
  busyWaitOf,
  FLEET_ROUTES,
  HttpAnswerError,
  percentile,
  reportKeyOf,
  RequestFailed,
  ServerBusy,
  serverBusyOf,
  sleep,
  vinOf,
  type FleetCheckpoint,
  type FleetConfig,
  type FleetError,
  type FleetRoute,
  type FleetVehicle,
  type RouteStats,
  type RouteTally,
  type SentAttestation,
} from './simulator-parts.js';

export {
  defaultFleetConfig,
  FLEET_ROUTES,
  reportKeyOf,
  type FleetCheckpoint,
  type FleetConfig,
  type FleetError,
  type FleetRoute,
  type RouteStats,
  type SentAttestation,
} from './simulator-parts.js';

/**
 * The fleet. `enroll()` makes it; `start()` sets every vehicle polling; `release()` tells the
 * fleet what it is waiting for; `stop()` ends every loop and closes the pools.
 */
export class FleetSimulator {
  readonly config: FleetConfig;
  readonly #pools: Pool[];
  readonly #tally = new Map<FleetRoute, RouteTally>();
  readonly #vehicles: FleetVehicle[] = [];
  readonly #errors: FleetError[] = [];
  readonly #sent: SentAttestation[] = [];
  /** Polls whose firmware hint named an image their (older) snapshot's bin did not list yet. */
  #hintAhead = 0;
  /**
   * Parsed targets roles by `{role}@{version}` and body hash, shared by the fleet: every vehicle
   * still fetches the bytes (the server's work is the same), the simulator parses them once.
   */
  readonly #parsed = new Map<string, Targets>();
  #abort = new AbortController();
  #loops: Promise<void>[] = [];
  #checkpoint: FleetCheckpoint | undefined;
  #startedAt = 0;
  #stoppedAt = 0;
  #enrollMs = 0;

  private constructor(config: FleetConfig) {
    this.config = config;
    this.#pools = config.replicaUrls.map(
      (url) => new Pool(url, { connections: config.connectionsPerReplica, pipelining: 1 }),
    );
    for (const route of FLEET_ROUTES)
      this.#tally.set(route, { latenciesMs: [], errors: 0, busy: 0, statuses: new Map() });
  }

  /** Enrolls every vehicle over HTTP (POST /api/v1/vehicles/enroll), `enrollConcurrency` at once. */
  static async enroll(
    config: FleetConfig,
    progress: (what: string) => void = () => {},
  ): Promise<FleetSimulator> {
    const fleet = new FleetSimulator(config);
    const started = performance.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < config.vehicles; i = next++) {
        await fleet.#enrollOne(i);
        if ((i + 1) % 1000 === 0) progress(`${(i + 1).toString()} vehicles enrolled`);
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(config.enrollConcurrency, config.vehicles) }, worker),
    );
    fleet.#enrollMs = performance.now() - started;
    fleet.#vehicles.sort((a, b) => a.index - b.index);
    if (fleet.#vehicles.length !== config.vehicles) {
      await fleet.stop();
      throw new Error(
        `${(config.vehicles - fleet.#vehicles.length).toString()} vehicles did not enroll: ${JSON.stringify(fleet.#errors.slice(0, 3))}`,
      );
    }
    return fleet;
  }

  async #enrollOne(index: number): Promise<void> {
    const replica = index % this.config.replicaUrls.length;
    const ecuSerial = `ECU-${index.toString()}`;
    const vinCommitment = computeVinCommitment(vinOf(index), randomBytes(16));
    const stateDir = join(this.config.stateDir, `vehicle-${index.toString()}`);
    await mkdir(stateDir, { recursive: true });
    const t0 = performance.now();
    try {
      const enrolled = await enrollVehicle({
        serverUrl: this.config.replicaUrls[replica]!,
        factoryToken: this.config.factoryToken,
        vinCommitment,
        ecuSerial,
        dispatcher: this.#pools[replica]!,
      });
      this.#record('enroll', t0, 201);
      this.#vehicles.push({
        index,
        replica,
        ecuSerial,
        stateDir,
        credentials: {
          signer: createKeySigner(enrolled.privateKey),
          certificatePem: enrolled.certificatePem,
          vinCommitment: enrolled.vinCommitment,
        },
        running: { ...this.config.factoryImage },
        etag: undefined,
        snapshotVersion: 0,
        snapshot: {},
        snapshotSha256: '',
        roles: new Map(),
        seen: new Map(),
        pending: undefined,
      });
    } catch (error) {
      this.#fail('enroll', index, t0, error);
    }
  }

  /** Milliseconds the enrollment of the whole fleet took. */
  get enrollMs(): number {
    return this.#enrollMs;
  }

  /** Sets every vehicle polling; the first poll of each falls at random within one interval. */
  start(): void {
    this.#startedAt = performance.now();
    this.#loops = this.#vehicles.map((v) => this.#pollLoop(v));
  }

  /**
   * A release landed: from now on every vehicle resolves and reports it when its hint names it.
   * `checkpoint` is the chain block its reports cite (read once for the fleet).
   */
  release(checkpoint: FleetCheckpoint): void {
    this.#checkpoint = checkpoint;
  }

  /** performance.now() at which each vehicle resolved image `name` in its bin (undefined: not yet). */
  sawAt(name: string): (number | undefined)[] {
    return this.#vehicles.map((v) => v.seen.get(name));
  }

  /** Resolves once `fraction` of the fleet has sent its attestation for `name`, or at `timeoutMs`. */
  async waitForReports(name: string, fraction: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    const want = Math.ceil(fraction * this.#vehicles.length);
    while (performance.now() < deadline) {
      if (this.#vehicles.filter((v) => v.running.name === name).length >= want) return true;
      await sleep(50);
    }
    return false;
  }

  async stop(): Promise<void> {
    await this.halt();
    await Promise.all(this.#pools.map((p) => p.close()));
  }

  /** Requests per route (p50/p99 as the vehicle sees them, pool queueing included) and errors. */
  stats(): {
    routes: Record<FleetRoute, RouteStats>;
    requests: number;
    pollSeconds: number;
    errors: FleetError[];
    attestations: SentAttestation[];
    hintAhead: number;
  } {
    const routes = {} as Record<FleetRoute, RouteStats>;
    let requests = 0;
    for (const route of FLEET_ROUTES) {
      const t = this.#tally.get(route)!;
      const sorted = [...t.latenciesMs].sort((a, b) => a - b);
      routes[route] = {
        requests: t.latenciesMs.length,
        errors: t.errors,
        busy: t.busy,
        p50Ms: percentile(sorted, 50),
        p99Ms: percentile(sorted, 99),
        statuses: Object.fromEntries([...t.statuses].map(([s, n]) => [String(s), n])),
      };
      if (route !== 'enroll') requests += t.latenciesMs.length;
    }
    return {
      routes,
      requests,
      pollSeconds: ((this.#stoppedAt || performance.now()) - this.#startedAt) / 1000,
      errors: [...this.#errors],
      attestations: [...this.#sent],
      hintAhead: this.#hintAhead,
    };
  }

  /** Attestations accepted so far. */
  acceptedCount(): number {
    return this.#sent.length;
  }

  /** Requests so far on every route but enroll (for a rate over a window). */
  requestCount(): number {
    let n = 0;
    for (const [route, t] of this.#tally) if (route !== 'enroll') n += t.latenciesMs.length;
    return n;
  }

  #record(route: FleetRoute, t0: number, status: number): void {
    const t = this.#tally.get(route)!;
    t.latenciesMs.push(performance.now() - t0);
    t.statuses.set(status, (t.statuses.get(status) ?? 0) + 1);
  }

  #fail(route: FleetRoute, vehicle: number, t0: number, error: unknown): void {
    const t = this.#tally.get(route)!;
    t.latenciesMs.push(performance.now() - t0);
    const status = error instanceof HttpAnswerError ? error.status : 0;
    t.statuses.set(status, (t.statuses.get(status) ?? 0) + 1);
    // Asked to come back later, as a replica at its bound asks: the vehicle does, not an error.
    if (error instanceof ServerBusy) {
      t.busy += 1;
      return;
    }
    t.errors += 1;
    this.#errors.push({
      route,
      vehicle,
      message: error instanceof Error ? error.message : String(error),
    });
  }

  async #pollLoop(v: FleetVehicle): Promise<void> {
    const { pollIntervalMs, jitter } = this.config;
    const signal = this.#abort.signal;
    await sleep(Math.random() * pollIntervalMs, signal);
    while (!signal.aborted) {
      // A failed request was counted where it failed; anything else is counted here. The vehicle
      // tries again at its next poll, and not before a busy replica's Retry-After.
      const busyMs = await this.#poll(v).then(
        () => 0,
        (error: unknown) => {
          if (error instanceof RequestFailed) return busyWaitOf(error);
          this.#errors.push({
            route: 'poll',
            vehicle: v.index,
            message: error instanceof Error ? error.message : String(error),
          });
          return 0;
        },
      );
      const waitMs = pollIntervalMs * (1 + jitter * (2 * Math.random() - 1));
      await sleep(Math.max(waitMs, busyMs * (1 + jitter * Math.random())), signal);
    }
  }

  /** One GET through the vehicle's pool; the body of a 200, undefined for a 304. */
  async #get(
    v: FleetVehicle,
    route: FleetRoute,
    path: string,
    headers: Record<string, string> = {},
    /** A 404 is the answer looked for (the root probe), not an error. */
    absent = false,
  ): Promise<{ body: Buffer; etag: string | undefined } | undefined> {
    const t0 = performance.now();
    try {
      const res = await request(`${this.config.replicaUrls[v.replica]!}${path}`, {
        dispatcher: this.#pools[v.replica]!,
        headers,
      });
      const body = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode === 304 || (absent && res.statusCode === 404)) {
        this.#record(route, t0, res.statusCode);
        return undefined;
      }
      if (res.statusCode !== 200) {
        const what = `GET ${path}`;
        throw (
          serverBusyOf(res.statusCode, res.headers['retry-after'], body.toString('utf8'), what) ??
          new HttpAnswerError(res.statusCode, `${what}: ${res.statusCode.toString()}`)
        );
      }
      this.#record(route, t0, 200);
      const etag = res.headers['etag'];
      return { body, etag: typeof etag === 'string' ? etag : undefined };
    } catch (error) {
      this.#fail(route, v.index, t0, error);
      throw new RequestFailed(route, { cause: error });
    }
  }

  /** A delegated targets role at the version the snapshot names, fetched when it changed. */
  async #role(v: FleetVehicle, route: FleetRoute, role: string): Promise<Targets> {
    const version = v.snapshot[`${role}.json`]?.version;
    if (version === undefined) throw new Error(`snapshot names no ${role}.json`);
    const cached = v.roles.get(role);
    if (cached?.version === version) return cached.signed;
    const got = await this.#get(v, route, `/metadata/${version.toString()}.${role}.json`);
    const key = `${role}@${version.toString()}:${createHash('sha256').update(got!.body).digest('hex')}`;
    const known = this.#parsed.get(key);
    if (known) {
      v.roles.set(role, { version, signed: known });
      return known;
    }
    const signed = Metadata.fromJSON(
      MetadataKind.Targets,
      JSON.parse(got!.body.toString('utf8')) as Parameters<typeof Metadata.fromJSON>[1],
    ).signed;
    this.#parsed.set(key, signed);
    v.roles.set(role, { version, signed });
    return signed;
  }

  async #poll(v: FleetVehicle): Promise<void> {
    await this.#refresh(v);
    // Reported at the first poll after the fleet knows the release's chain checkpoint.
    if (v.pending && this.#checkpoint) {
      await this.#report(v, v.pending);
      v.running = v.pending;
      v.pending = undefined;
    }
  }

  /**
   * The TUF part of a poll, with the agent's requests: root N+1 (tuf-js looks for a new root at
   * every refresh; the bench never rotates it), timestamp.json, what changed since the last poll,
   * and the firmware hint (the agent asks at every cycle).
   */
  async #refresh(v: FleetVehicle): Promise<void> {
    await this.#get(v, 'root', '/metadata/2.root.json', {}, true);
    const ts = await this.#get(v, 'timestamp', '/metadata/timestamp.json', {
      ...(v.etag ? { 'if-none-match': v.etag } : {}),
    });
    if (!ts) {
      await this.#hint(v);
      return;
    }
    const timestamp = JSON.parse(ts.body.toString('utf8')) as {
      signed: { meta: Record<string, { version: number }> };
    };
    const snapshotVersion = timestamp.signed.meta['snapshot.json']?.version;
    if (snapshotVersion === undefined) throw new Error('timestamp names no snapshot');
    if (snapshotVersion !== v.snapshotVersion) {
      const path = `/metadata/${snapshotVersion.toString()}.snapshot.json`;
      const snap = await this.#get(v, 'snapshot', path);
      const snapshot = JSON.parse(snap!.body.toString('utf8')) as {
        signed: { meta: Record<string, { version: number }> };
      };
      v.snapshot = snapshot.signed.meta;
      v.snapshotVersion = snapshotVersion;
      v.snapshotSha256 = createHash('sha256').update(snap!.body).digest('hex');
    }
    await this.#role(v, 'targets', 'targets');
    const bins = await this.#role(v, 'bins', 'bins');
    // The firmware hint names the newest image of its hardware ID; TUF (its bin) says what it is.
    const hint = await this.#hint(v);
    if (hint.name !== v.running.name && hint.name !== v.pending?.name) {
      const binRole = bins.delegations?.succinctRoles?.getRoleForTarget(hint.name);
      if (binRole === undefined) throw new Error('bins.json has no succinct roles');
      const bin = await this.#role(v, 'bin', binRole);
      const target = bin.targets[hint.name];
      if (!target) {
        // The hint was read after a publish that this poll's timestamp.json predates: the next
        // poll (etag not kept) fetches the new snapshot and finds it.
        this.#hintAhead += 1;
        return;
      }
      const custom = (target.custom ?? {}) as { version?: unknown; releaseCounter?: unknown };
      v.seen.set(hint.name, performance.now());
      v.pending = {
        name: hint.name,
        version: typeof custom.version === 'string' ? custom.version : '',
        releaseCounter: typeof custom.releaseCounter === 'number' ? custom.releaseCounter : 0,
        sha256: target.hashes['sha256'] ?? '',
      };
    }
    // Only now: a poll that failed above fetches the whole chain again next time.
    v.etag = ts.etag;
  }

  async #hint(v: FleetVehicle): Promise<{ name: string }> {
    const path = `/api/v1/hardware/${encodeURIComponent(this.config.hardwareId)}/latest`;
    const answer = await this.#get(v, 'hint', path);
    return JSON.parse(answer!.body.toString('utf8')) as { name: string };
  }

  /** Signs the install report as the client agent does and posts it. */
  async #report(v: FleetVehicle, to: FleetVehicle['running']): Promise<void> {
    await this.#post(v, await this.#sign(v, to));
  }

  async #sign(v: FleetVehicle, to: FleetVehicle['running']): Promise<InstallReportBundle> {
    const now = new Date();
    const { bundle } = await signInstallReport({
      stateDir: v.stateDir,
      vehicle: v.credentials,
      ecu: { serial: v.ecuSerial, hardwareId: this.config.hardwareId },
      from: {
        name: v.running.name,
        version: v.running.version,
        releaseCounter: v.running.releaseCounter,
        digest: v.running.sha256,
      },
      to: {
        name: to.name,
        version: to.version,
        releaseCounter: to.releaseCounter,
        digest: to.sha256,
      },
      result: 'SUCCESS',
      startedAt: new Date(now.getTime() - 60_000),
      finishedAt: now,
      odometerKm: 10_000 + v.index,
      metadata: { targetsVersion: v.snapshotVersion, targetsHash: `0x${v.snapshotSha256}` },
      checkpoint: { chainId: this.config.chainId, ...this.#checkpoint! },
    });
    return bundle;
  }

  async #post(v: FleetVehicle, bundle: InstallReportBundle): Promise<void> {
    const reportKey = reportKeyOf(bundle);
    const t0 = performance.now();
    try {
      const res = await request(`${this.config.replicaUrls[v.replica]!}/api/v1/attestations`, {
        dispatcher: this.#pools[v.replica]!,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(bundle),
      });
      const text = await res.body.text();
      if (res.statusCode !== 201) {
        const what = 'POST /api/v1/attestations';
        throw (
          serverBusyOf(res.statusCode, res.headers['retry-after'], text, what) ??
          new HttpAnswerError(
            res.statusCode,
            `${what}: ${res.statusCode.toString()} ${text.slice(0, 300)}`,
          )
        );
      }
      this.#record('attestation', t0, 201);
      const answer = JSON.parse(text) as { logIndex?: number };
      this.#sent.push({ vehicle: v.index, reportKey, status: 201, logIndex: answer.logIndex });
    } catch (error) {
      this.#fail('attestation', v.index, t0, error);
      throw new RequestFailed('attestation', { cause: error });
    }
  }

  /**
   * The intake alone, at saturation (polling halted): every vehicle signs a report of installing
   * `to`, and only then are they all posted, `inFlight` at a time. Signing stays out of the
   * timing, so the server's CPU over `post()` is what ingesting them cost.
   */
  async prepareReports(
    to: FleetVehicle['running'],
  ): Promise<{ post(inFlight: number): Promise<number> }> {
    const signed: { v: FleetVehicle; bundle: InstallReportBundle }[] = [];
    for (const v of this.#vehicles) signed.push({ v, bundle: await this.#sign(v, to) });
    return {
      post: async (inFlight) => {
        let next = 0;
        let failed = 0;
        const worker = async (): Promise<void> => {
          for (let i = next++; i < signed.length; i = next++) {
            const { v, bundle } = signed[i]!;
            // A report a busy replica did not take goes again after its Retry-After, as the
            // agent's outbox sends it again later.
            for (;;) {
              const busyMs = await this.#post(v, bundle).then(
                () => {
                  v.running = to;
                  return 0;
                },
                (error: unknown) => {
                  const wait = busyWaitOf(error);
                  if (wait === 0) failed += 1;
                  return wait;
                },
              );
              if (busyMs === 0) break;
              await sleep(busyMs * (1 + 0.5 * Math.random()));
            }
          }
        };
        await Promise.all(Array.from({ length: Math.min(inFlight, signed.length) }, worker));
        return failed;
      },
    };
  }

  /** Stops every vehicle's polling loop; the connection pools stay open (prepareReports). */
  async halt(): Promise<void> {
    this.#abort.abort();
    await Promise.all(this.#loops);
    this.#loops = [];
    if (this.#stoppedAt === 0) this.#stoppedAt = performance.now();
  }
}
