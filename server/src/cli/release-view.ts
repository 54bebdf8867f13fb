/** The server's release view (ReleaseSchema) as the CLI reads it. */
export interface ChainRef {
  txHash: string;
  blockNumber: number;
  blockHash: string;
}

export interface ReleaseView {
  id: number;
  status: 'pending' | 'logged' | 'confirmed' | 'failed' | 'revoked';
  targets: string[];
  /** The snapshot version logged on chain that published it. */
  metadataVersion: number;
  metadataHash: string | null;
  chain: ChainRef | null;
  revocation: { metadataVersion: number; metadataHash: string; chain: ChainRef | null } | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  /** Publish and GET by id: the deltas the release's images list, with their sizes. */
  deltas?: ReleaseDelta[];
}

/** One delta a release's image lists, with both sizes. */
export interface ReleaseDelta {
  image: string;
  imageLength: number;
  target: string;
  length: number;
  baseVersion: string;
  baseSha256: string;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export function releaseText(r: ReleaseView): string {
  const lines = [
    `release ${r.id}: ${r.status}, snapshot v${r.metadataVersion} (${r.targets.join(', ') || 'no new targets'})`,
  ];
  if (r.metadataHash) lines.push(`  metadata hash ${r.metadataHash}`);
  if (r.chain)
    lines.push(
      `  chain: tx ${r.chain.txHash}, block ${r.chain.blockNumber} (${r.chain.blockHash})`,
    );
  if (r.revocation) {
    lines.push(
      `  revoked by snapshot v${r.revocation.metadataVersion}` +
        (r.revocation.chain
          ? `, tx ${r.revocation.chain.txHash}, block ${r.revocation.chain.blockNumber}`
          : ''),
    );
  }
  if (r.deltas) lines.push(...deltaLines(r.deltas));
  if (r.error) lines.push(`  error: ${r.error}`);
  return lines.join('\n');
}

/** The deltas a release lists, one line each with its size and share of the image. */
export function deltaLines(deltas: ReleaseDelta[]): string[] {
  if (deltas.length === 0) return ['  deltas: none (a first release, or deltas turned off)'];
  const lines = ['  deltas (what a vehicle on the base version downloads instead of the image):'];
  for (const d of deltas) {
    const base = d.baseVersion || d.baseSha256.slice(0, 16);
    const share = d.imageLength > 0 ? ((100 * d.length) / d.imageLength).toFixed(1) : '0.0';
    lines.push(
      `    ${d.image} from ${base}: ${size(d.length)} (${share}% of ${size(d.imageLength)})`,
    );
  }
  return lines;
}
