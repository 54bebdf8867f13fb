import { registerHooks } from 'node:module';

/**
 * In-thread resolve hook for child processes started with plain `node` (Node 24 strips types
 * itself): maps the `.js` specifiers of our TypeScript sources to their `.ts` files.
 */
registerHooks({
  resolve(specifier, context, next) {
    try {
      return next(specifier, context);
    } catch (err) {
      if (specifier.startsWith('.') && specifier.endsWith('.js')) {
        return next(`${specifier.slice(0, -3)}.ts`, context);
      }
      throw err;
    }
  },
});
