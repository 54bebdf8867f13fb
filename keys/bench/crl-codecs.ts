// The CRL reader of src/vehicle/revocation.ts walks raw DER by hand (src/util/der-bytes.ts) because
// a fleet CRL holds many thousands of entries. These are the same reads with the two ASN.1 libraries
// keys already carries, so that keys.bench.ts can check the hand-written path still earns its place.
// Run as a script (`crl-codecs.ts heap <reader> <crl.pem> <ca.pem>`) it reads the CRL once and
// prints how far the V8 heap had to grow for it.
import { X509Certificate, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileURLToPath } from 'node:url';
import { x509 } from '../src/vehicle/x509-provider.js';
import {
  loadRevocationList,
  loadRevocationListDetailed,
  type RevokedCertificate,
} from '../src/vehicle/revocation.js';
import { decode, encode, type Asn1 } from '../src/util/der.js';
import { forge } from '../src/util/forge.js';
import { decodePem } from '../src/util/pem.js';

const { asn1 } = forge;
const REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'unspecified',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
] as const;

export type CrlReader =
  | 'pem-only'
  | 'hand-written serials'
  | 'node-forge serials'
  | 'hand-written'
  | 'node-forge'
  | '@peculiar/x509';

/**
 * What loadRevocationListDetailed does (loadRevocationList with `serialsOnly`), with node-forge's
 * ASN.1 codec in place of the DER walk.
 */
export function readWithNodeForge(
  crlPem: string,
  caCertPem: string,
  serialsOnly = false,
): Map<string, RevokedCertificate> | Set<string> {
  const ca = new X509Certificate(caCertPem);
  const [tbs, , signature] = decode(decodePem(crlPem, 'X509 CRL')).value as Asn1[];
  // forge keeps no byte slices: the signed bytes are the re-encoded tbsCertList
  const signed = verify(
    'sha256',
    encode(tbs!),
    { key: ca.publicKey, dsaEncoding: 'der' },
    Buffer.from((signature!.value as string).slice(1), 'binary'),
  );
  if (!signed) throw new Error('CRL signature does not verify');
  const fields = (tbs!.value as Asn1[]).filter((f) => f.type === asn1.Type.SEQUENCE);
  const entries = (fields[2]?.value ?? []) as Asn1[];
  const serial = (entry: Asn1) =>
    forge.util.bytesToHex((entry.value as Asn1[])[0]!.value as string).replace(/^(00)+(?=.)/, '');
  if (serialsOnly) return new Set(entries.map(serial));
  const out = new Map<string, RevokedCertificate>();
  for (const entry of entries) {
    const [, date, extensions] = entry.value as Asn1[];
    const hex = serial(entry);
    let reason = 0;
    for (const ext of (extensions?.value ?? []) as Asn1[]) {
      const [id, value] = ext.value as Asn1[];
      if (asn1.derToOid(id!.value as string) === '2.5.29.21')
        reason = (value!.value as string).charCodeAt(2);
    }
    out.set(hex, {
      revokedAt:
        date!.type === asn1.Type.UTCTIME
          ? asn1.utcTimeToDate(date!.value as string)
          : asn1.generalizedTimeToDate(date!.value as string),
      reason: REASONS[reason] ?? 'unspecified',
    });
  }
  return out;
}

/** The entries as @peculiar/x509 (asn1js) reads them: what the auditor did before keys returned them. */
export function readWithPeculiarX509(crlPem: string): Map<string, RevokedCertificate> {
  const der = decodePem(crlPem, 'X509 CRL');
  const crl = new x509.X509Crl(der, {
    berOptions: { maxNodes: der.length, maxContentLength: der.length },
  });
  const out = new Map<string, RevokedCertificate>();
  for (const entry of crl.entries) {
    out.set(entry.serialNumber.toLowerCase(), {
      revokedAt: entry.revocationDate,
      reason: REASONS[entry.reason ?? 0] ?? 'unspecified',
    });
  }
  return out;
}

async function read(reader: CrlReader, crlPem: string, caCertPem: string): Promise<number> {
  switch (reader) {
    case 'hand-written serials':
      return (await loadRevocationList(crlPem, caCertPem)).revokedSerials.size;
    case 'node-forge serials':
      return readWithNodeForge(crlPem, caCertPem, true).size;
    case 'hand-written':
      return (await loadRevocationListDetailed(crlPem, caCertPem)).revoked.size;
    case 'node-forge':
      return readWithNodeForge(crlPem, caCertPem).size;
    case '@peculiar/x509':
      return readWithPeculiarX509(crlPem).size;
    case 'pem-only':
      return decodePem(crlPem, 'X509 CRL').length > 0 ? 0 : -1;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'heap') {
  const [reader, crlPath, caPath] = process.argv.slice(3) as [CrlReader, string, string];
  const crlPem = readFileSync(crlPath, 'utf8');
  const caCertPem = readFileSync(caPath, 'utf8');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const before = getHeapStatistics().total_heap_size;
  const entries = await read(reader, crlPem, caCertPem);
  // the heap V8 had to commit for the read: its peak, garbage included
  const heapGrowthMiB = (getHeapStatistics().total_heap_size - before) / 2 ** 20;
  console.log(JSON.stringify({ reader, entries, heapGrowthMiB }));
}
