export * from './types.js';
export * from './path.js';
export * from './source.js';
export * from './errors.js';
export * from './paths.js';
export * from './layer-table.js';
export * from './limits.js';
export * from './volumes.js';
