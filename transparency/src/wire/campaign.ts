import { z } from 'zod';

/** `urn:tufchain:campaign:<32 hex>`: a campaign's name in the log and in its correlation IDs. */
export const campaignUrnSchema = z.string().regex(/^urn:tufchain:campaign:[0-9a-f]{32}$/);

export const CAMPAIGN_EVENTS = [
  'created',
  'wave-started',
  'wave-assigned',
  'paused',
  'stopped',
  'resumed',
  'finished',
  'cancelled',
  'assignments-cancelled',
  'rollback-created',
] as const;
export type CampaignEventKind = (typeof CAMPAIGN_EVENTS)[number];

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

/**
 * One state change of a campaign, as the transparency log holds it. `seq` counts the campaign's
 * changes from 1 without gaps, so an auditor sees a missing or repeated change; `detail` carries
 * what the change fixed (for `wave-started`: the wave's member-set and assignment hashes, which
 * prove that every vehicle of the wave received the same release set). Vehicles appear only as
 * commitments, and only through hashes.
 */
export const campaignLogEntrySchema = z
  .object({
    type: z.literal('campaign'),
    campaign: campaignUrnSchema,
    seq: z.number().int().positive(),
    event: z.enum(CAMPAIGN_EVENTS),
    at: z.iso.datetime({ offset: true }),
    detail: z.record(z.string(), z.unknown()),
  })
  .strict();
export type CampaignLogEntry = z.infer<typeof campaignLogEntrySchema>;

/** The release set of a campaign in the log: one image per hardware ID, sorted by hardware ID. */
export const campaignReleaseSchema = z.array(
  z
    .object({
      hardwareId: z.string().min(1),
      name: z.string().min(1),
      sha256: sha256Hex,
      length: z.number().int().nonnegative(),
    })
    .strict(),
);
