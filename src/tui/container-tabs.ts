/**
 * The container screen's tabs: what each shows, and the state each keeps beside the shared UI state. The
 * changes tab is the image view itself (the container's stack: image layers, init layer, RW layer), so it has
 * no state of its own here; the others are scrollable lists.
 */
import { userRegExp } from './regex.js';

export type ContainerTab = 'changes' | 'diff' | 'inspect' | 'mounts' | 'logs';

export const CONTAINER_TABS: readonly { tab: ContainerTab; key: string; title: string }[] = [
  { tab: 'changes', key: '1', title: 'Changes' },
  { tab: 'diff', key: '2', title: 'Diff' },
  { tab: 'inspect', key: '3', title: 'Inspect' },
  { tab: 'mounts', key: '4', title: 'Mounts' },
  { tab: 'logs', key: '5', title: 'Logs' },
];

/** The tab `delta` steps from `tab`, wrapping. */
export function stepTab(tab: ContainerTab, delta: number): ContainerTab {
  const i = CONTAINER_TABS.findIndex((t) => t.tab === tab);
  const n = CONTAINER_TABS.length;
  return CONTAINER_TABS[(((i + delta) % n) + n) % n]!.tab;
}

/** One log entry as the logs tab shows it (partial messages joined, text already made safe to print). */
export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** As docker logs -t prints it (RFC 3339, nanoseconds), or '' when the driver keeps none. */
  time: string;
  text: string;
}

/** The container's logs as loaded for the tab: a bounded window (the last entries), never the whole file. */
export interface LogsView {
  status: 'loading' | 'ready' | 'error';
  /** The log driver (json-file, local, journald...). */
  driver: string | null;
  /** What to say above the entries: where they came from, or why there are none. */
  notes: string[];
  lines: LogLine[];
  /** More entries exist than the tab holds (the first ones are left out). */
  truncated: boolean;
  /** Problems met while reading (bad lines, unreadable files), as text. */
  problems: string[];
}

/** A search in the logs tab: the lines that match, and which one the cursor is on. */
export interface LogSearch {
  query: string;
  regex: boolean;
  hits: number[];
  hit: number;
  error: string | null;
}

/** What the mounts tab knows of one mount beyond docker inspect's fields: its size and whether it can be browsed. */
export interface MountInfo {
  /** Bytes as `docker system df -v` counts them; null when not sized (outside the evidence, unreadable). */
  bytes: number | null;
  /** A tree we can show (a volume's data, a bind source inside the evidence). */
  browsable: boolean;
  /** Why not, or what else to know (outside the evidence, a mount made with options, unreadable...). */
  note: string | null;
}

/** A volume or bind source shown as a tree in the mounts tab (Enter on its row; Esc back to the list). */
export interface Browse {
  /** The mount's row in the mounts tab. */
  index: number;
  /** For the title: `volume ls-data at /data`. */
  label: string;
}

export interface ContainerTabsState {
  tab: ContainerTab;
  /** First line shown, per scrollable tab. */
  scroll: Record<'diff' | 'inspect' | 'mounts' | 'logs', number>;
  /** Columns scrolled to the right (long log lines, long inspect values). */
  hscroll: number;
  mountsCursor: number;
  logs: LogsView | null;
  logSearch: LogSearch | null;
  /** Per row of the mounts tab, once the driver has looked (sizes are walked when the tab is first shown). */
  mountInfo: MountInfo[] | null;
  /** The mount being browsed as a tree, or null. */
  browse: Browse | null;
}

export const INITIAL_TABS: ContainerTabsState = Object.freeze({
  tab: 'changes',
  scroll: Object.freeze({ diff: 0, inspect: 0, mounts: 0, logs: 0 }),
  hscroll: 0,
  mountsCursor: 0,
  logs: null,
  logSearch: null,
  mountInfo: null,
  browse: null,
}) as ContainerTabsState;

/** The lines of the logs tab that match a query (substring, or a regular expression). */
export function searchLogs(lines: readonly LogLine[], query: string, regex: boolean): LogSearch {
  const out: LogSearch = { query, regex, hits: [], hit: 0, error: null };
  let test: (s: string) => boolean;
  if (regex) {
    try {
      const re = userRegExp(query);
      test = (s) => re.test(s);
    } catch (err) {
      out.error = (err as Error).message;
      return out;
    }
  } else test = (s) => s.includes(query);
  lines.forEach((l, i) => {
    if (test(l.text)) out.hits.push(i);
  });
  return out;
}
