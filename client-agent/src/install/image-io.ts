/**
 * The seams of an install stream (stream.ts): where the image's bytes come from (an ImageSource:
 * the HTTP range fetch today, range-fetch.ts) and where they go (an ImageSink: the local slot
 * today, slot-sink.ts). The stream between them holds the checks every install makes, whatever
 * the source and the sink: never past the promised length, sha256 of what came in, sha512 of what
 * the sink holds.
 */

/** What TUF promises of the image. */
export interface ExpectedImage {
  length: number;
  /** hex, no 0x */
  sha256: string;
  sha512: string;
}

/**
 * Takes the next chunk of the image. Returns undefined when it took the chunk at once, else a
 * promise: no later chunk comes until it settles. May throw (the source then stops and rejects).
 */
export type ChunkHandler = (chunk: Buffer) => Promise<void> | undefined;

/** Where an install's bytes come from. */
export interface ImageSource {
  /**
   * Hands the image's bytes from `from` on to `onChunk`, in order, until the source has no more or
   * `length` is reached. When it picks up again after an interruption (a resume), it first awaits
   * `onInterrupted`, so that the sink keeps what came before. Resolves once it ended (the caller
   * checks that it reached `length`); rejects with an AgentError when it gives up, and with what
   * `onChunk` threw.
   */
  read(
    from: number,
    length: number,
    onChunk: ChunkHandler,
    onInterrupted: () => Promise<void>,
  ): Promise<{ resumes: number }>;
}

/** Called with every byte a sink takes, in order, each once. */
export type ByteHasher = (bytes: Uint8Array) => void;

/** What a sink holds once the image is in, read back from it. */
export interface HeldImage {
  sha512: string;
  bytes: number;
}

/**
 * Where an install's bytes go. A sink hands the bytes it takes to the stream's hash itself, when it
 * sends them on (in blocks, so that hashing overlaps its I/O).
 */
export interface ImageSink {
  /** What it is, for messages (`slot b`). */
  readonly name: string;
  /** Bytes of the image it holds from an interrupted run and keeps; the stream goes on after them. */
  readonly startOffset: number;
  /** Reads the kept bytes back from where they are held and hands them to `hash`. */
  rehashKept(hash: ByteHasher): Promise<void>;
  /**
   * Takes the next chunk. Returns undefined when it was only staged, else a promise that settles
   * once the sink can take more.
   */
  push(chunk: Buffer, hash: ByteHasher): Promise<void> | undefined;
  /** Sends what is staged and waits until everything sent has landed; throws the first failure. */
  flush(hash: ByteHasher): Promise<void>;
  /** After the last flush: makes what it holds durable and reads it back. */
  seal(): Promise<HeldImage>;
  /**
   * Reads what it holds back once more and tells whether that is the image with the expected
   * length and sha256 (a sink that does not hold what came in, or an image that never matched).
   */
  holds(expected: ExpectedImage): Promise<boolean>;
  /** Stops everything it started and lets go of the target. */
  close(): Promise<void>;
}
