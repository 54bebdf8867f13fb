/**
 * The A/B slot seams: what an install writes through (SlotWriter) and the slot device it writes
 * to (SlotStore). FileSlotStore (ab-slots.ts) implements them with files; slot-file.ts is its writer.
 */
export type SlotName = 'a' | 'b';

/** What is (claimed to be) in a slot. A slot whose write has not been verified has no image. */
export interface SlotImage {
  name: string;
  version: string;
  releaseCounter: number;
  /** sha256 hex of the image bytes (no 0x). */
  sha256: string;
  length: number;
}

export interface SlotState {
  /** The committed slot: the one the bootloader falls back to. Always holds a verified image. */
  active: SlotName;
  /** The slot that is running now. */
  booted: SlotName;
  /** A freshly installed slot the bootloader tries at the next boots, until committed or out of attempts. */
  pending: { slot: SlotName; attemptsLeft: number } | null;
  slots: Record<SlotName, SlotImage | null>;
  /** Failed installs per image sha256, so that a bad image is not retried forever. */
  failures: Record<string, number>;
}

export interface SlotWriter {
  /** Bytes already in the slot when opened (kept for a resumed write). */
  readonly startOffset: number;
  /**
   * Places `chunk` right after the bytes of the previous call. May be called again before earlier
   * writes settle (the install keeps a few in flight); each lands at the place its call gave it.
   * The caller must not change a chunk's bytes until its write has settled.
   */
  write(chunk: Uint8Array): Promise<void>;
  /** Reads back `into.length` bytes at `position` (read-back verification); returns the count read. */
  readBack(position: number, into: Uint8Array): Promise<number>;
  /**
   * A descriptor another thread of this process may pread the slot through while the writer is
   * open (the install's sha512 read-back then runs on a worker thread). Optional: without it the
   * read-back goes through readBack() on the installing thread.
   */
  readonly readBackFd?: number;
  /**
   * Memory for the blocks the caller fills and passes to write(), in the form this writer takes
   * fastest (aligned for direct I/O). Optional: any Uint8Array can be written.
   */
  allocateBlock?(bytes: number): Buffer;
  /** fsync the slot contents. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Random reads of a slot's bytes (a delta's COPY ranges from the active slot). */
export interface SlotReader {
  /** Reads up to `into.length` bytes at `position`; returns the count read (short at the end). */
  read(position: number, into: Uint8Array): Promise<number>;
  /**
   * The same, blocking the thread (optional): for the many small reads of a delta's COPYs, where
   * an asynchronous read's round trip through the thread pool costs more than the read.
   */
  readSync?(position: number, into: Uint8Array): number;
  close(): Promise<void>;
}

/**
 * The A/B slot device seam. The file-backed FileSlotStore simulates it; a RAUC or SWUpdate backend
 * implements the same operations (mark-active with boot attempts, mark-good, mark-bad).
 */
export interface SlotStore {
  readState(): Promise<SlotState>;
  /** The slot that is neither booted nor active: the one an install writes to. */
  inactiveSlot(): Promise<SlotName>;
  /**
   * Durably forgets the slot's image (it no longer holds a verified image), then opens it for
   * writing. `resumeFrom` keeps that many bytes already written (a resumed download).
   */
  openForWrite(slot: SlotName, opts?: { resumeFrom?: number }): Promise<SlotWriter>;
  /** Bytes currently stored in the slot. */
  storedBytes(slot: SlotName): Promise<number>;
  /** Streams the first `length` bytes of the slot (read-back verification). */
  readImage(slot: SlotName, length: number): AsyncIterable<Uint8Array>;
  /**
   * Opens a slot for random reads, never for writing. Optional: without it the agent installs
   * full images only (no deltas).
   */
  openForRead?(slot: SlotName): Promise<SlotReader>;
  /** Records the verified image in the slot and marks it to be tried at the next boot. */
  markPending(slot: SlotName, image: SlotImage, bootAttempts: number): Promise<void>;
  /** The bootloader's choice (a reboot on a real device): tries a pending slot, else the active one. */
  boot(): Promise<SlotName>;
  /** The booted pending slot passed its health check: it becomes the active slot. */
  commit(): Promise<void>;
  /** Drops the pending slot and goes back to the active slot; counts a failure of its image. */
  rollback(): Promise<void>;
  /**
   * Undoes a commit: the other slot, which must still hold its verified image, becomes the active
   * and booted slot again (an atomic multi-ECU set that could not commit on every ECU).
   */
  revert(): Promise<void>;
  /** Counts a failed install of an image that never reached a slot switch. */
  recordFailure(sha256: string): Promise<void>;
}
