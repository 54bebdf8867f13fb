import { describe, expect, it } from 'vitest';
import { ServerError } from '../error.js';
import { isDatabaseUnavailable } from './database-unavailable.js';

const withCode = (message: string, code: string): Error =>
  Object.assign(new Error(message), { code });

describe('isDatabaseUnavailable', () => {
  it.each([
    { desc: 'a server shutting down (57P01)', error: withCode('terminating connection', '57P01') },
    {
      desc: 'a server starting up (57P03)',
      error: withCode('the database system is starting up', '57P03'),
    },
    { desc: 'a connection exception (08006)', error: withCode('connection failure', '08006') },
    {
      desc: 'nothing listening',
      error: withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
    },
    { desc: 'a connection lost mid-query', error: new Error('Connection terminated unexpectedly') },
    {
      desc: 'a STORAGE_FAILED caused by one',
      error: new ServerError('STORAGE_FAILED', 'could not take the lease', {
        cause: withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      }),
    },
  ])('is true for $desc', ({ error }) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    { desc: 'a unique violation (23505)', error: withCode('duplicate key', '23505') },
    { desc: 'a syntax error (42601)', error: withCode('syntax error', '42601') },
    { desc: 'an error of the code', error: new TypeError('x is undefined') },
    { desc: 'not an Error', error: 'ECONNREFUSED' },
  ])('is false for $desc', ({ error }) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});
