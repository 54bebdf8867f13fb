import { z } from 'zod';
import { KeysError } from '../error.js';

export const IN_TOTO_STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const FIRMWARE_PREDICATE_TYPE = 'https://tufchain.dev/attestation/firmware/v1';

export interface InTotoSubject {
  name: string;
  digest: Record<string, string>;
}

export interface InTotoStatement<P = unknown> {
  _type: typeof IN_TOTO_STATEMENT_TYPE;
  subject: InTotoSubject[];
  predicateType: string;
  predicate: P;
}

const statementSchema = z.object({
  _type: z.literal(IN_TOTO_STATEMENT_TYPE),
  subject: z.array(z.object({ name: z.string(), digest: z.record(z.string(), z.string()) })).min(1),
  predicateType: z.string().min(1),
  predicate: z.unknown(),
});

export function parseStatement(payload: Uint8Array): InTotoStatement {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch (error) {
    throw new KeysError('MALFORMED_STATEMENT', 'the DSSE payload is not JSON', { cause: error });
  }
  const result = statementSchema.safeParse(json);
  if (!result.success) {
    throw new KeysError(
      'MALFORMED_STATEMENT',
      `the payload is not an in-toto v1 statement: ${result.error.message}`,
    );
  }
  return result.data;
}

export function checkStatement(statement: InTotoStatement): void {
  const result = statementSchema.safeParse(statement);
  if (!result.success) {
    throw new KeysError(
      'MALFORMED_STATEMENT',
      `not an in-toto v1 statement: ${result.error.message}`,
    );
  }
}
