import type { CampaignLogEntry } from '@tufchain/transparency/wire';
import type { Logger } from 'pino';
import type { TransparencyLogSink } from '../log-sink.js';
import { errorText } from '../tuf/service.js';
import type { CampaignStore } from './store.js';

/** Appends campaign events not yet in the transparency log (each once), oldest first. */
export async function flushCampaignEvents(deps: {
  store: CampaignStore;
  log: TransparencyLogSink | undefined;
  logger: Logger;
}): Promise<void> {
  const append = deps.log?.appendCampaignEvent?.bind(deps.log);
  if (!append) return;
  const urns = new Map<number, string>();
  // A campaign whose event fails waits for the next flush; the others' events go on.
  const blocked = new Set<number>();
  try {
    for (;;) {
      const events = await deps.store.unloggedEvents(100);
      let progressed = false;
      for (const e of events) {
        if (blocked.has(e.campaignId)) continue;
        try {
          let urn = urns.get(e.campaignId);
          if (urn === undefined) {
            const campaign = await deps.store.campaign(e.campaignId);
            if (!campaign) throw new Error(`no campaign ${e.campaignId}`);
            urn = campaign.urn;
            urns.set(e.campaignId, urn);
          }
          const entry: CampaignLogEntry = {
            type: 'campaign',
            campaign: urn,
            seq: e.seq,
            event: e.kind,
            at: e.at,
            detail: e.detail,
          };
          await deps.store.setEventLogIndex(e.campaignId, e.seq, await append(entry));
          progressed = true;
        } catch (error) {
          blocked.add(e.campaignId);
          deps.logger.error(
            { campaign: e.campaignId, seq: e.seq, err: errorText(error) },
            'campaign event not logged yet',
          );
        }
      }
      if (events.length < 100 || !progressed) return;
    }
  } catch (error) {
    deps.logger.error({ err: errorText(error) }, 'campaign events not logged yet');
  }
}
