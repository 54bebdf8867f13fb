import { createRequire } from 'node:module';
import type * as Undici from 'undici';

/*
 * The parts of undici the agent uses, loaded without undici's index, which loads every dispatcher,
 * mock, cache store, interceptor and fetch besides: 2.6 MiB less heap and ~4 MiB less resident
 * memory on the vehicle, where that margin pays for the sha512 read-back worker. undici is pinned
 * to an exact version (package.json) because these paths are not its public API: a moved file
 * fails at start-up and in every test that makes a request.
 */
const require = createRequire(import.meta.url);

export const Agent = require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
export const errors = require('undici/lib/core/errors.js') as typeof Undici.errors;
const DispatcherClass = require('undici/lib/dispatcher/dispatcher.js') as typeof Undici.Dispatcher;
const { getGlobalDispatcher } = require('undici/lib/global.js') as {
  getGlobalDispatcher: typeof Undici.getGlobalDispatcher;
};
// What undici's index does: request() and friends become Dispatcher methods.
Object.assign(DispatcherClass.prototype, require('undici/lib/api/index.js') as object);

type RequestOptions = Omit<Undici.Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & {
  method?: Undici.Dispatcher.HttpMethod;
  dispatcher?: Undici.Dispatcher;
};

/** undici's request(url, options) for an absolute URL, on the given or the global dispatcher. */
export function request(
  url: string | URL,
  options: RequestOptions = {},
): Promise<Undici.Dispatcher.ResponseData> {
  const { dispatcher = getGlobalDispatcher(), method = 'GET', ...rest } = options;
  const target = new URL(url);
  return dispatcher.request({
    ...rest,
    origin: target.origin,
    path: `${target.pathname}${target.search}`,
    method,
  });
}
