import { RequestError } from '@hono/node-server';
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { errorBody, httpStatusOf, type ServerErrorCode } from '../error.js';

function errorJson(code: ServerErrorCode, message: string): string {
  return JSON.stringify(errorBody(code, message));
}

/**
 * The answer to a request @hono/node-server refuses before the app sees it (a backslash in the
 * path, a Host it cannot parse): the same `{ error: { code, message } }` as every other error.
 */
export function adapterErrorResponse(error: unknown, logger: Logger): Response {
  if (error instanceof RequestError) {
    return errorResponse('MALFORMED_REQUEST', `malformed request: ${error.message}`);
  }
  logger.error({ err: error instanceof Error ? error.message : String(error) }, 'request failed');
  return errorResponse('INTERNAL', 'internal error');
}

function errorResponse(code: ServerErrorCode, message: string): Response {
  return new Response(errorJson(code, message), {
    status: httpStatusOf(code),
    headers: { 'Content-Type': 'application/json' },
  });
}

const statusText: Record<number, string> = {
  400: 'Bad Request',
  431: 'Request Header Fields Too Large',
};

/**
 * `clientError` of the Node HTTP server: bytes that do not parse as HTTP (raw non-ASCII in the
 * request target, headers over the limit). Answers as Node would, but with an error code.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  const current = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || current?.headersSent) {
    socket.destroy();
    return;
  }
  if (!error.code?.startsWith('HPE_')) {
    // Timeouts and the rest: Node's own default answer.
    socket.end(
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n'
        : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n',
    );
    return;
  }
  const code: ServerErrorCode =
    error.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : 'MALFORMED_REQUEST';
  const status = httpStatusOf(code);
  const body = errorJson(code, `malformed request: ${error.code}`);
  socket.end(
    `HTTP/1.1 ${status} ${statusText[status] ?? ''}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * `503 SERVER_BUSY` with Retry-After, written straight to Node's response: the refused request's
 * body is never read into memory (Node discards it to keep the connection).
 */
export function answerBusy(res: ServerResponse, retryAfterSeconds: number): void {
  const body = errorJson('SERVER_BUSY', 'too many requests in flight: retry after Retry-After');
  res.writeHead(httpStatusOf('SERVER_BUSY'), {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    'Retry-After': String(retryAfterSeconds),
  });
  res.end(body);
}
