/** The terminal UI: one barrel. The CLI imports `runTui`; tests and the bench import the pieces. */
export { runTui, colourWanted, type TuiOptions } from './run.js';
export { App, type AppProps } from './components/App.js';
export { reduce, initialState, imageState, layout, currentView, type State, type Action } from './state/index.js';
export { BINDINGS, helpLines, actionForKey, normalizeKey, type Binding } from './keys.js';
export { flatTree, visibleView, type FlatTree, type VisibleView, type CollapseState } from './file-tree.js';
export { Session, type Driver, type SessionOptions } from './session.js';
