import type { MetricsRegistry, Sample } from '../metrics.js';
import { HOLDING_STATES, type CampaignState } from './model.js';
import type { CampaignService } from './service.js';

const OUTCOMES = [
  'assigning',
  'skipped',
  'inProgress',
  'deferred',
  'retriesExhausted',
  'succeeded',
  'failed',
  'cancelled',
] as const;
const STATES: readonly CampaignState[] = ['draft', ...HOLDING_STATES, 'finished', 'cancelled'];

/**
 * Per campaign and wave, read at scrape time from the same counts as the API: vehicles by outcome
 * for the campaigns that hold vehicles (running, paused, stopped), and every campaign's state.
 */
export function registerCampaignMetrics(
  registry: MetricsRegistry,
  campaigns: CampaignService,
): void {
  registry.collected({
    name: 'tufchain_campaign_vehicles',
    help: 'Vehicles of a running, paused or stopped campaign by wave and outcome (verified reports only)',
    labelNames: ['campaign', 'wave', 'outcome'],
    collect: async () => {
      const samples: Sample[] = [];
      for (const c of await campaigns.store.campaigns({ states: HOLDING_STATES, limit: 1000 })) {
        const { counts } = await campaigns.status(c.id);
        for (const wave of counts) {
          for (const outcome of OUTCOMES) {
            samples.push({
              labels: { campaign: String(c.id), wave: String(wave.wave), outcome },
              value: wave[outcome],
            });
          }
        }
      }
      return samples;
    },
  });
  registry.collected({
    name: 'tufchain_campaign_state',
    help: 'Campaigns (the first 1000 by id) by state: 1 for the state each is in',
    labelNames: ['campaign', 'state'],
    collect: async () => {
      const all = await campaigns.store.campaigns({ limit: 1000 });
      return all.flatMap((c) =>
        STATES.map((state) => ({
          labels: { campaign: String(c.id), state },
          value: c.state === state ? 1 : 0,
        })),
      );
    },
  });
  registry.collected({
    name: 'tufchain_campaign_wave',
    help: 'The current wave of each campaign (0 before the first)',
    labelNames: ['campaign'],
    collect: async () =>
      (await campaigns.store.campaigns({ limit: 1000 })).map((c) => ({
        labels: { campaign: String(c.id) },
        value: c.wave,
      })),
  });
}
