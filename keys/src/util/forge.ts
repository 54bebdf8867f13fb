import { createRequire } from 'node:module';
import type * as Forge from 'node-forge';

// node-forge is CommonJS without named ESM exports; require keeps one instance for tsx, vitest and node.
export const forge = createRequire(import.meta.url)('node-forge') as typeof Forge;
