/**
 * What the OEM may say about a vehicle (model, model year, region, tags) and the names of groups:
 * bounded, in a small charset, and never shaped like a VIN (the same refusal as the log's, so a
 * VIN cannot enter the registry through a tag any more than through a log entry).
 */
import { z } from 'zod';
import { ServerError } from '../error.js';
import { assertLoggable } from '../log/loggable.js';

export const modelSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,63}$/);
/** Wide enough for classic cars still on the road and a decade of announced models. */
export const modelYearSchema = z.number().int().min(1950).max(2100);
export const regionSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/);
export const tagSchema = z.string().regex(/^[a-z0-9][a-z0-9._:-]{0,47}$/);
/** Enough for cohorts (pilot, fleet customer, test bench...) without becoming a database. */
export const MAX_TAGS = 32;

export const groupNameSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/);
export const descriptionSchema = z
  .string()
  .max(500)
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  .regex(/^[^\u0000-\u001f\u007f]*$/);

/** OEM-set attributes of one vehicle, as stored. */
export interface VehicleAttributes {
  model: string | null;
  modelYear: number | null;
  region: string | null;
  /** Sorted, unique. */
  tags: string[];
  updatedAt: string;
  /** `token:<id>` of the token that set them. */
  updatedBy: string;
}

export type AttributesInput = Pick<VehicleAttributes, 'model' | 'modelYear' | 'region' | 'tags'>;

/**
 * Refuses any string shaped like a VIN (ISO 3779) with PERSONAL_DATA_REJECTED: the log's own check
 * (assertLoggable), asked about each value, so both refuse exactly the same strings.
 */
export function assertNoVinInClear(
  fields: Record<string, string | readonly string[] | null>,
): void {
  for (const [field, value] of Object.entries(fields)) {
    for (const text of value === null ? [] : typeof value === 'string' ? [value] : value) {
      try {
        assertLoggable({ type: 'recall', subject: '', reason: text });
      } catch (error) {
        if (error instanceof ServerError && error.code === 'PERSONAL_DATA_REJECTED') {
          throw new ServerError(
            'PERSONAL_DATA_REJECTED',
            `${field} looks like a VIN; name a vehicle only by its salted commitment`,
            { cause: error },
          );
        }
        throw error;
      }
    }
  }
}

/** Normalizes tags (unique, sorted) and refuses VIN-shaped values. */
export function checkAttributes(input: AttributesInput): AttributesInput {
  assertNoVinInClear({ model: input.model, region: input.region, tags: input.tags });
  return { ...input, tags: [...new Set(input.tags)].sort() };
}
