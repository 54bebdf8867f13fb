import type { DirectorService } from '../director/service.js';
import { ServerError } from '../error.js';
import type { VehicleOutcomeRow } from './model.js';

/**
 * Cancels, through the Director's own cancel path (a new, empty targets version for the vehicle,
 * logged like any other), every still-active Director assignment a campaign made. Returns the
 * vehicles whose assignment this call cancelled, sorted; one already completed or cancelled
 * meanwhile is left as it is.
 */
export async function cancelOpenAssignments(
  director: DirectorService,
  outcomes: readonly VehicleOutcomeRow[],
): Promise<string[]> {
  const cancelled: string[] = [];
  for (const row of outcomes) {
    if (row.directorStatus !== 'active' || row.assignmentId === null) continue;
    try {
      await director.cancel(row.assignmentId);
      cancelled.push(row.vehicle);
    } catch (error) {
      if (!(error instanceof ServerError && error.code === 'ASSIGNMENT_NOT_ACTIVE')) throw error;
    }
  }
  return cancelled.sort();
}
