import type { AnchorHealth } from '@tufchain/transparency';
import type { TransparencyLogSink } from '../log-sink.js';

/**
 * The anchoring health of the server's transparency log (a LogService or ServerLog with
 * anchoring turned on), or undefined when nothing is anchored.
 */
export async function anchorHealthOf(
  sink: TransparencyLogSink | undefined,
): Promise<AnchorHealth | undefined> {
  const anchors = (sink as { anchors?: { health?: () => Promise<AnchorHealth> } } | undefined)
    ?.anchors;
  return typeof anchors?.health === 'function' ? anchors.health() : undefined;
}
