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
  if (r.error) lines.push(`  error: ${r.error}`);
  return lines.join('\n');
}
