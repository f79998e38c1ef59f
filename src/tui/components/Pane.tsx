import React from 'react';
import { Box, Text } from 'ink';
import type { Line, Tone } from '../rows.js';
import { columns, cutColumns } from '../width.js';

/**
 * A bordered pane of plain lines. Our own small component rather than ink-table: ink-table 3.1 is CommonJS and
 * cannot `require` ink 6 (top-level await), and we need row windowing anyway: only the visible lines of a
 * list are ever built and rendered. The focused pane has a heavy border (visible without colour).
 */
export interface PaneProps {
  title: string;
  width: number;
  /** Total height, borders included. */
  height: number;
  focused?: boolean;
  lines: Line[];
  color: boolean;
}

const TONE_COLOR: Record<Exclude<Tone, undefined>, string | undefined> = {
  added: 'green',
  modified: 'yellow',
  deleted: 'red',
  opaque: 'magenta',
  dim: 'gray',
  heading: undefined,
  warning: 'yellow',
};

export function LineText({ line, color }: { line: Line; color: boolean }): React.ReactElement {
  const c = color && line.tone ? TONE_COLOR[line.tone] : undefined;
  return (
    <Text wrap="truncate-end" color={c} bold={line.tone === 'heading'} inverse={!!line.selected} dimColor={!color && line.tone === 'dim'}>
      {line.text === '' ? ' ' : line.text}
    </Text>
  );
}

export function Pane({ title, width, height, focused = false, lines, color }: PaneProps): React.ReactElement {
  const inner = Math.max(1, width - 2);
  const [h, v, tl, tr, bl, br] = focused ? ['━', '┃', '┏', '┓', '┗', '┛'] : ['─', '│', '┌', '┐', '└', '┘'];
  // Cut by the columns it takes (a name of wide characters is twice as wide as it is long).
  const t = cutColumns(title, Math.max(1, inner - 3));
  const top = `${tl}${h} ${t} ${h.repeat(Math.max(0, inner - columns(t) - 3))}${tr}`;
  const rows = Math.max(0, height - 2);
  const body: React.ReactElement[] = [];
  for (let i = 0; i < rows; i++) {
    const line = lines[i];
    body.push(
      <Box key={i} height={1} width={width}>
        <Text color={focused && color ? 'cyan' : undefined}>{v}</Text>
        <Box width={inner}>{line ? <LineText line={line} color={color} /> : <Text> </Text>}</Box>
        <Text color={focused && color ? 'cyan' : undefined}>{v}</Text>
      </Box>,
    );
  }
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text color={focused && color ? 'cyan' : undefined} bold={focused}>
        {top}
      </Text>
      {body}
      <Text color={focused && color ? 'cyan' : undefined}>{`${bl}${h.repeat(inner)}${br}`}</Text>
    </Box>
  );
}
