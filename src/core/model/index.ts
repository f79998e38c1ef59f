export * from './types.js';
export * from './path.js';
export * from './source.js';
export * from './errors.js';
