// @tufchain/keys loads reflect-metadata, which @peculiar/x509 needs before it is evaluated.
import '@tufchain/keys';
import * as x509 from '@peculiar/x509';

const VIN = /^[A-HJ-NPR-Z0-9]{17}$/i;
const VIN_INSIDE = /(?:^|[^A-Za-z0-9])[A-HJ-NPR-Z0-9]{17}(?:$|[^A-Za-z0-9])/i;

/**
 * Every attribute value of a CSR's subject and the DNS/URI/email names it requests, to look for a
 * VIN in clear. Returns undefined when the CSR does not parse (the CSR check reports that).
 */
function requestedNames(csrPem: string): string[] | undefined {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch {
    return undefined;
  }
  const values: string[] = [];
  for (const rdn of csr.subjectName.toJSON()) {
    for (const list of Object.values(rdn)) values.push(...list);
  }
  for (const extension of csr.extensions) {
    if (extension instanceof x509.SubjectAlternativeNameExtension) {
      for (const name of extension.names.items) values.push(name.value);
    }
  }
  return values;
}

/** True when any requested name is, or contains, a 17-character VIN (ISO 3779 alphabet). */
export function csrNamesVin(csrPem: string): boolean {
  const names = requestedNames(csrPem) ?? [];
  return names.some((value) => VIN.test(value.trim()) || VIN_INSIDE.test(value));
}
