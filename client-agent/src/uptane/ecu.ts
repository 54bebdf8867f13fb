import {
  signedEcuInstallResultSchema,
  signedEcuVersionReportSchema,
  verifyEnvelope,
  type EcuInstallResult,
  type EcuVersionReport,
  type SignedEcuInstallResult,
  type SignedEnvelope,
  type UptanePublicKey,
} from '@tufchain/transparency/wire';
import { AgentError, type AgentErrorCode } from '../error.js';
import type { ByteHasher, HeldImage, ImageSink } from '../install/image-io.js';
import type { SecondaryConnection, SecondaryTransport } from './transport.js';

/** An image as an ECU installs it (the Director's and the image repository's agreed word). */
export interface EcuTarget {
  name: string;
  version: string;
  length: number;
  sha256: string;
  sha512: string;
  releaseCounter: number;
}

/** What the atomic install needs from each ECU of the set, itself (local) or a secondary. */
export interface EcuEndpoint {
  readonly serial: string;
  readonly hardwareId: string;
  /** Opens the ECU's inactive slot for `target`; the stream's checks run on what it holds. */
  openSink(target: EcuTarget): Promise<ImageSink>;
  /** Boots the prepared slot as pending and runs the health check; the slot stays pending. */
  switchTo(): Promise<boolean>;
  /** Makes the pending slot permanent; answers the ECU's signed result. */
  commit(ctx: ResultContext): Promise<SignedEcuInstallResult>;
  /** Back to the previous slot (or drops what was prepared); answers the ECU's signed result. */
  rollback(ctx: ResultContext): Promise<SignedEcuInstallResult | undefined>;
  close(): void;
}

export interface ResultContext {
  /** The atomic set's id (its journal's): what an ECU records its commit under. */
  set: string;
  correlationId: string | null;
  target: EcuTarget;
  code: string;
  time: string;
}

/** The secondary's answer as an AgentError with its own code (ECU_PROTOCOL_ERROR if unknown). */
function refusal(serial: string, answer: Record<string, unknown>): AgentError {
  const code = typeof answer['code'] === 'string' ? answer['code'] : 'ECU_PROTOCOL_ERROR';
  const message = typeof answer['message'] === 'string' ? answer['message'] : 'refused';
  return new AgentError(
    (/^[A-Z0-9_]{1,64}$/.test(code) ? code : 'ECU_PROTOCOL_ERROR') as AgentErrorCode,
    `ECU ${serial}: ${message}`,
  );
}

/** A pinned ECU key: the TUF key id and the public key (UPTANE.md clientKey). */
export interface PinnedEcuKey {
  keyId: string;
  publicKey: UptanePublicKey;
}

/**
 * Checks an ECU's signed version report: its shape, the signature by the ECU's pinned key
 * (ECU_REPORT_SIGNATURE_INVALID), its serial, this cycle's nonce and a counter above the last one
 * seen (ECU_REPORT_REPLAYED).
 */
export function checkVersionReport(
  envelope: unknown,
  want: { serial: string; key: PinnedEcuKey; nonce: string; lastCounter: number },
): SignedEnvelope<EcuVersionReport> {
  const parsed = signedEcuVersionReportSchema.safeParse(envelope);
  if (!parsed.success) {
    throw new AgentError('ECU_REPORT_SIGNATURE_INVALID', `ECU ${want.serial}: malformed report`);
  }
  try {
    verifyEnvelope(parsed.data, want.key.keyId, want.key.publicKey);
  } catch (err) {
    throw new AgentError(
      'ECU_REPORT_SIGNATURE_INVALID',
      `ECU ${want.serial}: report not signed by its key`,
      { cause: err },
    );
  }
  const r = parsed.data.signed;
  if (r.ecu_serial !== want.serial) {
    throw new AgentError(
      'ECU_REPORT_SIGNATURE_INVALID',
      `report of ${r.ecu_serial} from ${want.serial}`,
    );
  }
  if (r.nonce !== want.nonce || r.report_counter <= want.lastCounter) {
    throw new AgentError(
      'ECU_REPORT_REPLAYED',
      `ECU ${want.serial}: report for another cycle (counter ${r.report_counter}, last ${want.lastCounter})`,
    );
  }
  return parsed.data;
}

/**
 * Checks an ECU's signed install result: present (ECU_RESULT_UNSIGNED), signed by the ECU's
 * pinned key and about this ECU and image (ECU_RESULT_SIGNATURE_INVALID). The primary never
 * reports an ECU's outcome on its unsigned word.
 */
export function checkInstallResult(
  envelope: unknown,
  want: { serial: string; key: PinnedEcuKey; sha256: string },
): SignedEcuInstallResult {
  if (envelope === undefined || envelope === null) {
    throw new AgentError('ECU_RESULT_UNSIGNED', `ECU ${want.serial} sent no signed result`);
  }
  const parsed = signedEcuInstallResultSchema.safeParse(envelope);
  if (!parsed.success) {
    throw new AgentError('ECU_RESULT_UNSIGNED', `ECU ${want.serial}: malformed result`);
  }
  try {
    verifyEnvelope(parsed.data, want.key.keyId, want.key.publicKey);
  } catch (err) {
    throw new AgentError(
      (err as { code?: string }).code === 'ENVELOPE_UNSIGNED'
        ? 'ECU_RESULT_UNSIGNED'
        : 'ECU_RESULT_SIGNATURE_INVALID',
      `ECU ${want.serial}: result not signed by its key`,
      { cause: err },
    );
  }
  const r: EcuInstallResult = parsed.data.signed;
  if (r.ecu_serial !== want.serial || r.target.fileinfo.hashes.sha256 !== want.sha256) {
    throw new AgentError(
      'ECU_RESULT_SIGNATURE_INVALID',
      `ECU ${want.serial}: result is about another install`,
    );
  }
  return parsed.data;
}

/**
 * Image bytes per link frame. Network chunks (~64 KiB) are gathered into frames this large: the
 * per-frame work of both ends (framing, socket writes, the secondary's install stream) runs on
 * V8's interpreter in the agent, and a quarter as many frames cost less than the one memcpy.
 */
export const IMAGE_FRAME_BYTES = 256 * 1024;
const GC_EVERY_BYTES = 1024 * 1024;
/** Frames kept for reuse per link: what may queue on it (1 MiB) and the one being filled. */
const FREE_FRAMES = 6;
const collectGarbage = (globalThis as { gc?: (opts: { type: 'minor' }) => void }).gc;
let sentSinceGc = 0;

/** The image's bytes to a secondary over its link; the secondary checks and holds them. */
class RemoteSink implements ImageSink {
  readonly name: string;
  readonly startOffset = 0;
  readonly #ecu: RemoteEcu;
  readonly #conn: SecondaryConnection;
  #frame: Buffer | undefined;
  #filled = 0;
  /**
   * Frames the link has written, filled again: no new external memory per frame, whose growth
   * would make V8 run full collections (they were a fifth of the primary's CPU time).
   */
  readonly #free: Buffer[] = [];

  constructor(ecu: RemoteEcu, conn: SecondaryConnection) {
    this.#ecu = ecu;
    this.#conn = conn;
    this.name = `ECU ${ecu.serial}`;
  }

  rehashKept(): Promise<void> {
    return Promise.resolve();
  }

  push(chunk: Buffer, hash: ByteHasher): Promise<void> | undefined {
    let waited: Promise<void> | undefined;
    let at = 0;
    while (at < chunk.length) {
      this.#frame ??= this.#free.pop() ?? Buffer.allocUnsafeSlow(IMAGE_FRAME_BYTES);
      const n = chunk.copy(this.#frame, this.#filled, at);
      at += n;
      this.#filled += n;
      if (this.#filled === IMAGE_FRAME_BYTES) {
        const w = this.#send(hash);
        if (w) waited = waited ? waited.then(() => w) : w;
      }
    }
    return waited;
  }

  /**
   * Hashes and sends the gathered frame (one hash call per frame, not per network chunk: a
   * quarter or less of the calls); network chunks are garbage now (see block-writer.ts on GC).
   */
  #send(hash: ByteHasher): Promise<void> | undefined {
    const whole = this.#frame as Buffer;
    const frame = whole.subarray(0, this.#filled);
    hash(frame);
    this.#frame = undefined;
    sentSinceGc += this.#filled;
    this.#filled = 0;
    if (sentSinceGc >= GC_EVERY_BYTES) {
      sentSinceGc = 0;
      collectGarbage?.({ type: 'minor' });
    }
    return this.#conn.sendImageBytes(frame, () => {
      if (this.#free.length < FREE_FRAMES) this.#free.push(whole);
    });
  }

  async flush(hash: ByteHasher): Promise<void> {
    if (this.#filled > 0) await this.#send(hash);
  }

  async seal(): Promise<HeldImage> {
    const answer = await this.#ecu.ask({ op: 'image-end' });
    const held = answer['held'] as { sha512?: unknown; bytes?: unknown } | undefined;
    if (typeof held?.sha512 !== 'string' || typeof held.bytes !== 'number') {
      throw new AgentError('ECU_PROTOCOL_ERROR', `${this.name}: no read-back in its answer`);
    }
    return { sha512: held.sha512, bytes: held.bytes };
  }

  holds(): Promise<boolean> {
    return Promise.resolve(true);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A secondary ECU behind a SecondaryTransport. */
export class RemoteEcu implements EcuEndpoint {
  readonly serial: string;
  readonly hardwareId: string;
  readonly key: PinnedEcuKey;
  readonly #transport: SecondaryTransport;
  #conn: SecondaryConnection | undefined;
  /** The image being installed (openSink), which `switch` names. */
  #target: EcuTarget | undefined;

  constructor(opts: {
    serial: string;
    hardwareId: string;
    key: PinnedEcuKey;
    transport: SecondaryTransport;
  }) {
    this.serial = opts.serial;
    this.hardwareId = opts.hardwareId;
    this.key = opts.key;
    this.#transport = opts.transport;
  }

  /** One request; a refusal throws the secondary's own code, a broken link ECU_UNREACHABLE. */
  async ask(
    message: Record<string, unknown>,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>> {
    this.#conn ??= await this.#transport.connect();
    let answer: Record<string, unknown>;
    try {
      answer = await this.#conn.request(message, timeoutMs);
    } catch (err) {
      this.#conn.close();
      this.#conn = undefined;
      throw err;
    }
    if (answer['ok'] !== true) throw refusal(this.serial, answer);
    return answer;
  }

  async versionReport(nonce: string, time: string): Promise<unknown> {
    return (await this.ask({ op: 'version-report', nonce, time }))['report'];
  }

  async openSink(target: EcuTarget): Promise<ImageSink> {
    this.#target = target;
    await this.ask({ op: 'image-begin' });
    return new RemoteSink(this, this.#conn as SecondaryConnection);
  }

  async switchTo(): Promise<boolean> {
    const target = this.#target ? { target: { sha256: this.#target.sha256 } } : {};
    return (await this.ask({ op: 'switch', ...target }))['healthy'] === true;
  }

  async commit(ctx: ResultContext): Promise<SignedEcuInstallResult> {
    const answer = await this.ask({
      op: 'commit',
      set: ctx.set,
      target: { sha256: ctx.target.sha256 },
      correlationId: ctx.correlationId,
      time: ctx.time,
    });
    return checkInstallResult(answer['result'], {
      serial: this.serial,
      key: this.key,
      sha256: ctx.target.sha256,
    });
  }

  async rollback(ctx: ResultContext): Promise<SignedEcuInstallResult | undefined> {
    const answer = await this.ask({
      op: 'rollback',
      set: ctx.set,
      target: { sha256: ctx.target.sha256 },
      code: ctx.code,
      time: ctx.time,
    });
    if (answer['result'] === undefined) return undefined;
    return checkInstallResult(answer['result'], {
      serial: this.serial,
      key: this.key,
      sha256: ctx.target.sha256,
    });
  }

  close(): void {
    this.#conn?.close();
    this.#conn = undefined;
  }
}

/** One image to several ECUs that are assigned the same one: each byte downloaded once. */
export class FanoutSink implements ImageSink {
  readonly name: string;
  readonly startOffset = 0;
  readonly #sinks: readonly ImageSink[];

  constructor(sinks: readonly ImageSink[]) {
    this.#sinks = sinks;
    this.name = sinks.map((s) => s.name).join(' + ');
  }

  rehashKept(): Promise<void> {
    return Promise.resolve();
  }

  push(chunk: Buffer, hash: ByteHasher): Promise<void> | undefined {
    hash(chunk);
    const waits = this.#sinks
      .map((s) => s.push(chunk, () => undefined))
      .filter((w): w is Promise<void> => w !== undefined);
    return waits.length ? Promise.all(waits).then(() => undefined) : undefined;
  }

  async flush(): Promise<void> {
    await Promise.all(this.#sinks.map((s) => s.flush(() => undefined)));
  }

  async seal(): Promise<HeldImage> {
    const held = await Promise.all(this.#sinks.map((s) => s.seal()));
    const first = held[0] as HeldImage;
    if (held.some((h) => h.sha512 !== first.sha512 || h.bytes !== first.bytes)) {
      throw new AgentError('READBACK_MISMATCH', `${this.name} do not hold the same bytes`);
    }
    return first;
  }

  async holds(expected: Parameters<ImageSink['holds']>[0]): Promise<boolean> {
    return (await Promise.all(this.#sinks.map((s) => s.holds(expected)))).every(Boolean);
  }

  async close(): Promise<void> {
    await Promise.all(this.#sinks.map((s) => s.close()));
  }
}
