// Registers a resolve hook: @sqlrooms/db 0.29's dist/bridge.js imports
// './arrow-streaming' without the '.js' Node's ESM loader requires (a
// bundler would add it). Run with: node --import ./extensionless.mjs ...
import { register } from 'node:module';

register('data:text/javascript,' + encodeURIComponent(`
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && /^\\.\\.?\\//.test(specifier) && !specifier.endsWith('.js')) {
      return next(specifier + '.js', context);
    }
    throw err;
  }
}`));
