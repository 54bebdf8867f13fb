// Lets plain `node` (which strips TypeScript types itself) run the agent's sources: maps the
// `.js` specifiers of relative imports to the `.ts` files beside them.
import { registerHooks } from 'node:module';

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
