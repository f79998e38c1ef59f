import React, { useCallback, useEffect, useRef, useState } from 'react';
import { Box, useApp, useInput, useStdin, useStdout } from 'ink';
import { actionForKey, helpLines, mouseAt, normalizeKey, splitChunk } from '../keys.js';
import {
  fitParts,
  imageConfigLines,
  stepsOf,
  containerChangeLines,
  containerInfoLines,
  detailLines,
  fileHeader,
  fileLines,
  filesTitle,
  headerText,
  layerLines,
  pickerLines,
  problemLines,
  searchLines,
  searchTitle,
  summaryLines,
  type Line,
} from '../rows.js';
import { browsing, currentProblems, currentView, layout, onTree, paneAt, reduce, type Action, type State } from '../state/index.js';
import { inspectLines, logLines, mountLines } from '../container-rows.js';
import type { Driver } from '../session.js';
import { LineText, Pane } from './Pane.js';
import { safeText } from '../../report/format.js';
import { extractLines, extractTitle, verifyLines, verifyTitle, viewerLines, viewerTitle } from '../viewer-rows.js';

export interface AppProps {
  initial: State;
  driver?: Driver;
  /** Colours on (NO_COLOR unset and a colour terminal). Bold and inverse are used either way. */
  color: boolean;
  /** Follow the terminal's size (false in tests: the initial state's size stays). */
  followTerminal?: boolean;
  onExit?: (code: number) => void;
  /** Called after every render with the state (bench and tests). */
  onState?: (s: State) => void;
}

export function App({ initial, driver, color, followTerminal = true, onExit, onState }: AppProps): React.ReactElement {
  // The reducer runs once per action, synchronously, on the latest state (a ref): keys that arrive before the
  // next render (fast typing, tmux send-keys) see what the previous key did. React state only triggers renders.
  const [state, setState] = useState(initial);
  const ref = useRef(initial);
  const dispatch = useCallback((action: Action) => {
    const next = reduce(ref.current, action);
    if (next === ref.current) return;
    ref.current = next;
    setState(next);
  }, []);
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  const { stdout } = useStdout();

  useInput(
    (input, key) => {
      // Several printable characters at once (typed fast, or pasted) are several keys.
      const keys = splitChunk(input, key) ?? [normalizeKey(input, key)];
      const at = mouseAt(input);
      if (at) {
        const pane = paneAt(ref.current, at.x - 1, at.y - 1);
        if (pane && pane !== ref.current.focus) dispatch({ type: 'focusPane', pane });
      }
      for (const k of keys) {
        if (!k) continue;
        const action = actionForKey(ref.current, k);
        if (action) dispatch(action);
      }
    },
    { isActive: isRawModeSupported === true },
  );

  useEffect(() => {
    driver?.start(dispatch);
    return () => driver?.stop();
  }, [driver]);

  useEffect(() => {
    if (state.want) driver?.request(state.want, dispatch);
  }, [state.want, driver]);

  useEffect(() => {
    if (!followTerminal) return;
    const onResize = () => dispatch({ type: 'resize', width: stdout.columns || 80, height: (stdout.rows || 24) - 1 });
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout, followTerminal]);

  useEffect(() => {
    if (state.quit) {
      onExit?.(state.exitCode);
      exit();
    }
  }, [state.quit]);

  useEffect(() => {
    onState?.(state);
  });

  useEffect(() => {
    if (!state.filesPending) return;
    // Let the frame reach the terminal, then build the big index (re-armed when another layer is asked for).
    const t = setTimeout(() => dispatch({ type: 'filesReady' }), state.pendingDelay);
    return () => clearTimeout(t);
  }, [state.filesPending, state.layer, state.mode, state.sort]);

  return <Screen s={state} color={color} />;
}

function Screen({ s, color }: { s: State; color: boolean }): React.ReactElement {
  const l = layout(s);
  const width = Math.max(40, s.width);
  const height = Math.max(12, s.height);
  let body: React.ReactElement;
  if (s.help) {
    const lines = helpLines().slice(s.helpScroll, s.helpScroll + l.bodyRows).map((text): Line => ({ text }));
    body = <Pane title="Help (Esc closes; j/k scroll)" width={width} height={height - 2} focused lines={lines} color={color} />;
  } else if (s.config && s.analysis) {
    const lines = imageConfigLines(s.analysis, s.layer, width - 4).slice(s.configScroll, s.configScroll + l.bodyRows);
    body = <Pane title="Config and history (Esc closes; j/k scroll)" width={width} height={height - 2} focused lines={lines} color={color} />;
  } else if (s.showProblems) {
    const lines = problemLines(currentProblems(s)).slice(s.problemsScroll, s.problemsScroll + l.bodyRows);
    body = <Pane title={`Problems in the evidence (${currentProblems(s).length}; Esc closes)`} width={width} height={height - 2} focused lines={lines} color={color} />;
  } else if (s.extract) {
    body = <Pane title={extractTitle(s.extract)} width={width} height={height - 2} focused lines={extractLines(s.extract)} color={color} />;
  } else if (s.verify?.open) {
    body = <Pane title={verifyTitle(s.verify)} width={width} height={height - 2} focused lines={verifyLines(s.verify)} color={color} />;
  } else if (s.viewer) {
    body = <Pane title={viewerTitle(s.viewer)} width={width} height={height - 2} focused lines={viewerLines(s.viewer, l.bodyRows - 3, width - 2)} color={color} />;
  } else if (s.screen === 'loading') {
    body = <Pane title="Loading" width={width} height={height - 2} lines={progressLines(s, width - 4)} color={color} />;
  } else if (s.screen === 'error') {
    body = <Pane title="Error" width={width} height={height - 2} focused lines={[{ text: s.error ?? 'unknown error', tone: 'warning' }, { text: '' }, { text: 'Press q to quit.' }]} color={color} />;
  } else if (s.screen === 'picker') {
    body = <PickerScreen s={s} color={color} width={width} height={height - 2} />;
  } else if (s.screen === 'container' && s.container && !onTree(s)) {
    body = <ContainerTab s={s} color={color} width={width} height={height - 2} />;
  } else if (browsing(s)) {
    body = <BrowseScreen s={s} color={color} width={width} height={height - 2} />;
  } else {
    body = <ImageScreen s={s} color={color} />;
  }
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box height={1} width={width}>
        <LineText line={{ text: headerText(s), tone: 'heading' }} color={color} />
      </Box>
      {body}
      <Box height={1} width={width}>
        <LineText line={footer(s)} color={color} />
      </Box>
    </Box>
  );
}

function progressLines(s: State, width: number): Line[] {
  const p = s.progress;
  if (!p) return [{ text: 'starting…' }];
  const lines: Line[] = [{ text: p.phase, tone: 'heading' }];
  if (p.total) {
    const w = Math.max(10, Math.min(60, width - 20));
    const f = Math.round((w * Math.min(p.done, p.total)) / p.total);
    lines.push({ text: `[${'#'.repeat(f)}${'.'.repeat(w - f)}] ${p.done}/${p.total}` });
  } else if (p.done) lines.push({ text: `${p.done} done` });
  if (p.detail) lines.push({ text: p.detail, tone: 'dim' });
  return lines;
}

/** A mount's files (a volume's data, a bind source inside the evidence): the files pane alone, without marks. */
function BrowseScreen({ s, color, width, height }: { s: State; color: boolean; width: number; height: number }): React.ReactElement {
  const title = `Files of ${s.tabs.browse!.label} (read-only; Esc back to the mounts)`;
  if (s.filesPending) return <Pane title={title} width={width} height={height} focused lines={[{ text: 'indexing…', tone: 'dim' }]} color={color} />;
  if (s.search?.result) return <Pane title={searchTitle(s)} width={width} height={height} focused lines={searchLines(s, height - 2)} color={color} />;
  const cv = currentView(s)!;
  const lines = [fileHeader(s.attrs), ...fileLines(cv.tree, cv.view, s.fileCursor, s.fileScroll, height - 3, s.attrs, true, false)];
  return <Pane title={title} width={width} height={height} focused lines={lines} color={color} />;
}

/** The container screen's tabs other than changes (which is the image view of the container's stack). */
function ContainerTab({ s, color, width, height }: { s: State; color: boolean; width: number; height: number }): React.ReactElement {
  const c = s.container!;
  const rows = height - 2;
  switch (s.tabs.tab) {
    case 'inspect':
      return <Pane title="Inspect & risk (docker inspect, read offline; ←→ scroll)" width={width} height={height} focused lines={inspectLines(s, rows)} color={color} />;
    case 'mounts':
      return <Pane title={`Mounts (${c.container.inspect?.Mounts.length ?? c.container.mounts.length})`} width={width} height={height} focused lines={mountLines(s, rows)} color={color} />;
    case 'logs':
      return <Pane title={`Logs${s.tabs.logs?.driver ? ` (${s.tabs.logs.driver})` : ''}: what the container printed`} width={width} height={height} focused lines={logLines(s, rows)} color={color} />;
    default: {
      const info = containerInfoLines(c);
      const lines = [...info, ...containerChangeLines(c, s.containerCursor, s.containerScroll, rows - info.length)];
      return <Pane title="docker diff (exactly what the engine reports)" width={width} height={height} focused lines={lines} color={color} />;
    }
  }
}

function PickerScreen({ s, color, width, height }: { s: State; color: boolean; width: number; height: number }): React.ReactElement {
  const all = pickerLines(s);
  // While figures fill in, the last row says what is being read, however long the list.
  const p = s.progress;
  const rows = height - 2 - (p ? 1 : 0);
  const sel = all.findIndex((x) => x.selected);
  const start = sel < rows ? 0 : sel - rows + 1;
  const lines = all.slice(start, start + rows);
  if (p) {
    while (lines.length < rows) lines.push({ text: '' });
    lines.push({ text: `${p.phase}${p.total ? ` ${p.done}/${p.total}` : ''}${p.detail ? ` · ${p.detail}` : '…'}`, tone: 'dim' });
  }
  return <Pane title="Images and containers (Enter opens)" width={width} height={height} focused lines={lines} color={color} />;
}

function ImageScreen({ s, color }: { s: State; color: boolean }): React.ReactElement {
  const a = s.analysis!;
  const l = layout(s);
  let right: React.ReactElement;
  if (s.filesPending) {
    const n = a.tables[s.layer]?.n ?? 0;
    right = <Pane title={filesTitle(s)} width={l.rightWidth} height={l.filesRows + 2} focused={s.focus === 'files'} lines={[{ text: `indexing ${n.toLocaleString('en')} entries of L${s.layer}…`, tone: 'dim' }]} color={color} />;
  } else if (s.search?.result) {
    right = <Pane title={searchTitle(s)} width={l.rightWidth} height={l.filesRows + 2} focused lines={searchLines(s, l.filesRows)} color={color} />;
  } else {
    const cv = currentView(s)!;
    // In a narrow pane the owner column gives way to names.
    const owner = l.rightWidth >= 60;
    const flags = s.verify?.analysis === s.analysis ? s.verify.marks : null;
    const lines = [fileHeader(s.attrs, owner), ...fileLines(cv.tree, cv.view, s.fileCursor, s.fileScroll, l.filesRows - 1, s.attrs, owner, true, flags)];
    right = <Pane title={filesTitle(s)} width={l.rightWidth} height={l.filesRows + 2} focused={s.focus === 'files'} lines={s.pathFilter?.error ? [{ text: `invalid regular expression: ${safeText(s.pathFilter.error)}`, tone: 'warning' }, ...lines] : lines} color={color} />;
  }
  return (
    <Box flexDirection="row">
      <Box flexDirection="column" width={l.leftWidth}>
        <Pane title={`Layers (${a.layers.length})`} width={l.leftWidth} height={l.layersRows + 2} focused={s.focus === 'layers' && !s.search?.result} lines={layerLines(a, s.layer, s.layerScroll, l.layersRows, s.emptySteps ? stepsOf(a.image) : null)} color={color} />
        <Pane title="Layer details" width={l.leftWidth} height={l.detailsRows + 2} lines={detailLines(a, s.layer, l.leftWidth - 2, l.detailsRows >= 8 ? 3 : 2)} color={color} />
        <Pane
          title={s.screen === 'container' ? 'Container summary (its stack)' : 'Image summary'}
          width={l.leftWidth}
          height={l.summaryRows + 2}
          focused={s.focus === 'summary' && !s.search?.result}
          lines={summaryLines(a, s.summaryCursor, s.summaryScroll, l.summaryRows, s.focus === 'summary', l.leftWidth - 2)}
          color={color}
        />
      </Box>
      {right}
    </Box>
  );
}

function footer(s: State): Line {
  if (s.pathFilter?.editing) {
    return { text: `filter /${safeText(s.pathFilter.query)}█/ (regex on paths) · Enter apply · Esc drop` };
  }
  if (s.search?.editing) {
    return { text: `/${safeText(s.search.query)}█  ${s.search.regex ? 'regex' : 'substring'} (Tab switches) · Enter ${onTree(s) ? 'search all layers' : 'search the log lines'} · Esc cancel` };
  }
  if (s.help) return { text: 'Esc or q close help · j/k scroll · Ctrl-C quit', tone: 'dim' };
  if (s.config) return { text: 'Esc or c close · j/k scroll · g/G top/end · Ctrl-C quit', tone: 'dim' };
  if (s.showProblems) return { text: 'Esc or p close · j/k scroll · Ctrl-C quit', tone: 'dim' };
  if (s.extract) return { text: s.extract.status === 'prompt' ? 'type a directory · Enter extract · Esc cancel · Ctrl-C quit' : 'Esc close · Ctrl-C quit', tone: 'dim' };
  if (s.verify?.open) return { text: `${s.verify.status === 'running' ? 'verifying… · ' : ''}Esc hide (! marks stay) · Ctrl-C quit (mounts are undone)`, tone: 'dim' };
  if (s.viewer) return { text: '↑↓ PgUp/PgDn g/G · / search · n/N · H hex/text · x extract · q close · ? help', tone: 'dim' };
  switch (s.screen) {
    case 'picker':
      return { text: fitFooter(['↑↓ move', 'Enter open', 'a all images', 'p problems'], s.width), tone: 'dim' };
    case 'container':
      if (browsing(s)) return { text: fitFooter(['↑↓ move', 'Space fold', '/ search', 'Esc mounts', '^F filter', '^O sort'], s.width), tone: 'dim' };
      if (onTree(s)) return imageFooter(s, true);
      if (s.tabs.tab === 'logs') return { text: fitFooter(['t/1-5 tab', '↑↓ scroll', '/ search', 'n/N next/prev', 'i back', '←→ scroll'], s.width), tone: 'dim' };
      return { text: fitFooter(['t/1-5 tab', `↑↓ ${s.tabs.tab === 'mounts' || s.tabs.tab === 'diff' ? 'move' : 'scroll'}`, ...(s.tabs.tab === 'mounts' ? ['Enter browse'] : []), 'i/Esc back to list', ...(s.tabs.tab === 'diff' ? [] : ['←→ scroll'])], s.width), tone: 'dim' };
    case 'image':
      return imageFooter(s, false);
    default:
      return { text: 'q quit', tone: 'dim' };
  }
}

function imageFooter(s: State, container: boolean): Line {
  if (s.search?.result) return { text: fitFooter(['↑↓ move', 'Enter show it', '/ new search', 'Esc close'], s.width), tone: 'dim' };
  const keys = [...(container ? ['t tab'] : []), 'Tab pane', 'v changes/all', '[ ] layer', 'Space fold', '/ search', '^F filter', 'c config', '^O sort', '^B attrs'];
  return { text: fitFooter(keys, s.width), tone: 'dim' };
}

/**
 * A footer of key hints that always ends with `? help · q quit`: hints that do not fit the width are left out
 * from the end of the list (they are all in the help), never cut in the middle.
 */
export function fitFooter(hints: string[], width: number): string {
  const tail = '? help · q quit';
  const kept = fitParts(hints, Math.max(40, width) - tail.length - 3, ' · ');
  return kept ? `${kept} · ${tail}` : tail;
}
