/** The TUI's state: its shape (types.ts), the reducer (reduce.ts) and the pure questions asked of it. */
export * from './types.js';
export * from './layout.js';
export * from './picker.js';
export { activeList, currentProblems, currentTree, currentView, scrollFor } from './lists.js';
export { cursorPath } from './files.js';
export { logsHead } from './container.js';
export { imageState, reduce } from './reduce.js';
export { entryAtCursor } from './viewer.js';
