import { httpStatusOf, type ServerErrorCode } from '../../src/index.js';
import type { RawResponse } from './raw-http.js';

/**
 * What is wrong with an answer, by the server's rules: never a 5xx, and every 4xx is JSON
 * `{ error: { code, message } }` whose code is a specific ServerErrorCode of that very status.
 * Empty when nothing is.
 */
export function answerProblems(method: string, res: RawResponse): string[] {
  const problems: string[] = [];
  if (res.status >= 500) problems.push(`answered ${res.status}`);
  if (res.status < 400) return problems;
  const type = String(res.headers['content-type'] ?? '');
  if (!type.startsWith('application/json')) {
    problems.push(`${res.status} with content-type ${type || 'none'}`);
  }
  if (method === 'HEAD') return problems;
  const text = res.body.toString('utf8');
  let error: { code?: unknown; message?: unknown } | undefined;
  try {
    error = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
  } catch {
    problems.push(`error body is not JSON: ${text.slice(0, 120)}`);
    return problems;
  }
  const { code, message } = error ?? {};
  if (typeof code !== 'string' || typeof message !== 'string' || message === '') {
    problems.push(`error body is not { error: { code, message } }: ${text.slice(0, 200)}`);
    return problems;
  }
  if (code === 'INTERNAL') problems.push('code INTERNAL');
  // httpStatusOf is the compiler-checked map: a code outside ServerErrorCode has no status.
  const status = httpStatusOf(code as ServerErrorCode) as number | undefined;
  if (status !== res.status) {
    problems.push(`code ${code} is not a ServerErrorCode of status ${res.status}`);
  }
  return problems;
}

/** The error code of an error answer (throws when there is none). */
export function errorCodeOf(res: RawResponse): string {
  return (JSON.parse(res.body.toString('utf8')) as { error: { code: string } }).error.code;
}
