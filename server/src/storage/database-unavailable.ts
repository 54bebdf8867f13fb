/**
 * SQLSTATEs of a PostgreSQL that cannot serve right now: class 08 (connection exception), and
 * 57P01-57P03 (shut down by an administrator, after a crash, or still starting up).
 */
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123])$/;
/** What a socket to the database says when nothing listens, or it went away. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);
/** `pg` reports a connection lost mid-query, or a pool that cannot connect, by message only. */
const PG_CONNECTION_MESSAGE =
  /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect)/;
/** How deep a cause chain is followed (errors wrap a few times between pg and the edge). */
const MAX_CAUSE_DEPTH = 5;

/**
 * Whether `error`, or an error it was caused by, says the database is unreachable (restarting,
 * failing over, down), as opposed to a query that is wrong: the request may be retried, through
 * this replica once the database is back or through another.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || NETWORK_CODES.has(code)))
      return true;
    if (PG_CONNECTION_MESSAGE.test(current.message)) return true;
    current = current.cause;
  }
  return false;
}
