/**
 * Terminal columns of text: East Asian wide characters and emoji take two, combining marks none, the rest one
 * (the cases that matter for names from evidence; Ink lays lines out the same way). Used to cut titles and
 * labels by the columns they take, not by their length.
 */
const WIDE = /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1f64f}\u{1f900}-\u{1f9ff}\u{20000}-\u{3fffd}]/u;
const ZERO = /[\u0300-\u036f\u200b-\u200f\u20d0-\u20ff\ufe00-\ufe0f]/u;

function charWidth(c: string): number {
  return ZERO.test(c) ? 0 : WIDE.test(c) ? 2 : 1;
}

export function columns(s: string): number {
  let n = 0;
  for (const c of s) n += charWidth(c);
  return n;
}

/** `s` cut to at most `max` columns, with `…` when something was left out. */
export function cutColumns(s: string, max: number): string {
  if (columns(s) <= max) return s;
  let out = '';
  let n = 0;
  for (const c of s) {
    const w = charWidth(c);
    if (n + w > max - 1) break;
    out += c;
    n += w;
  }
  return out + '…';
}
