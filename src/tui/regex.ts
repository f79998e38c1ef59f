import { setFlagsFromString } from 'node:v8';

/**
 * Regular expressions the user types (search, ctrl+f filter, the logs and viewer searches) run on text from the
 * evidence, on the UI thread. A backtracking engine can take exponential time on a crafted line (`(a+)+$` on
 * 4,096 `a` and a `!`), and a raw-mode terminal would then never read ctrl+c. V8 can switch a regex to its
 * linear-time engine once it backtracks too much: that is turned on here, for every regex compiled from now on.
 * The linear engine cannot run backreferences or lookbehinds, so those are refused in what users type.
 */
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
// The switch happens per match, after this many backtracks (V8's default is 50,000): 50,000 crafted names would
// each pay that before the switch (seconds of a frozen screen); at 100, a crafted line costs what a plain one does.
setFlagsFromString('--regexp-backtracks-before-fallback=100');

/** A user's regular expression, or an Error saying why not (a syntax error, or a construct that could hang). */
export function userRegExp(query: string, flags = ''): RegExp {
  if (/\\[1-9]|\\k<|\(\?<[=!]/.test(query)) throw new Error('backreferences and lookbehinds are not taken here (they could run for ever on hostile text)');
  return new RegExp(query, flags);
}
