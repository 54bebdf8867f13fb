import { createRequire } from 'node:module';
import type * as Forge from 'node-forge';

const require = createRequire(import.meta.url);

// node-forge is CommonJS without named ESM exports; require keeps one instance for tsx, vitest and
// node. Only its ASN.1 codec (with the util buffers it builds on) is used here, so only that part
// is loaded: node-forge's index would also load its ciphers, TLS, PKI and PKCS#12 code (~1.8 MiB of
// heap in the vehicle agent, which reads its PKCS#12 bundle with this codec).
require('node-forge/lib/asn1');
export const forge = require('node-forge/lib/forge') as Pick<typeof Forge, 'asn1' | 'util'>;
