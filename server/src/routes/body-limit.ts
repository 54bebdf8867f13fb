import { bodyLimit } from 'hono/body-limit';
import { ServerError } from '../error.js';

/** Refuses a request body over `maxSize` bytes with PAYLOAD_TOO_LARGE, before it is read whole. */
export const jsonBodyLimit = (maxSize: number) =>
  bodyLimit({
    maxSize,
    onError: () => {
      throw new ServerError('PAYLOAD_TOO_LARGE', `body exceeds ${maxSize} bytes`);
    },
  });
