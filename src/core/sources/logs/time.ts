/**
 * Times as `docker logs` reads and prints them: entry times are nanoseconds since the epoch (bigint: a
 * float64 cannot hold them exactly), printed in Go's RFC3339NanoFixed layout; --since/--until values are
 * parsed the way the docker client turns them into "seconds.nanoseconds" and the daemon turns that into a time.
 */

const NS = 1_000_000_000n;

/** A parsed RFC 3339 time: nanoseconds since the epoch, and the UTC offset it was written with (minutes). */
export interface ZonedTime {
  ns: bigint;
  offsetMin: number;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * An RFC 3339 time as json-file writes it (`2024-05-01T12:00:00.123456789Z`, or with an offset), or null when
 * it is not one. Fields are range-checked as Go's time.Parse does (month 1-12, day within the month, ...).
 */
export function parseRfc3339(s: string): ZonedTime | null {
  const m = RFC3339.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, sec] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > daysIn(y!, mo!) || h! > 23 || mi! > 59 || sec! > 59) return null;
  const frac = m[7] ? BigInt(m[7].padEnd(9, '0')) : 0n;
  let offsetMin = 0;
  if (!m[8]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return null;
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const wall = BigInt(utcMs(y!, mo! - 1, d!, h!, mi!, sec!)) / 1000n;
  return { ns: (wall - BigInt(offsetMin * 60)) * NS + frac, offsetMin };
}

function daysIn(y: number, m: number): number {
  return new Date(utcMs(y, m, 0)).getUTCDate();
}

/** Date.UTC for every year: Date.UTC reads the years 0 to 99 as 1900 to 1999; setUTCFullYear does not. */
function utcMs(y: number, mo: number, d: number, h = 0, mi = 0, sec = 0): number {
  const t = new Date(0);
  t.setUTCFullYear(y, mo, d);
  t.setUTCHours(h, mi, sec, 0);
  return t.getTime();
}

/**
 * Go's `t.Format("2006-01-02T15:04:05.000000000Z07:00")` (jsonmessage.RFC3339NanoFixed), what `docker logs -t`
 * prints before each entry: always nine fraction digits, `Z` for UTC, else the offset.
 */
export function formatDockerTime(ns: bigint, offsetMin = 0): string {
  const local = ns + BigInt(offsetMin * 60) * NS;
  let secs = local / NS;
  let frac = local % NS;
  if (frac < 0n) {
    frac += NS;
    secs -= 1n;
  }
  const d = new Date(Number(secs) * 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const year = d.getUTCFullYear();
  const date = `${year < 0 ? '-' + pad(-year, 4) : pad(year, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${frac.toString().padStart(9, '0')}`;
  if (offsetMin === 0) return `${date}T${time}Z`;
  const a = Math.abs(offsetMin);
  return `${date}T${time}${offsetMin < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

/** A --since/--until value we cannot read, said as docker says it. */
export class LogTimeError extends Error {}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in nanoseconds (a float: only whole seconds of it are used), or null. */
export function parseGoDuration(s: string): number | null {
  let rest = s;
  let sign = 1;
  if (rest[0] === '-' || rest[0] === '+') {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return null;
  let total = 0;
  const re = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/;
  while (rest) {
    const m = re.exec(rest);
    if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) return null;
    const unit = UNITS[m[3]!]!;
    total += Number(m[1] || '0') * unit + (m[2] ? Number('0.' + m[2]) * unit : 0);
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}

/**
 * A --since or --until value as `docker logs` takes it, in nanoseconds since the epoch: a Go duration (`10m`,
 * `1h30m`: that long before `now`, whole seconds), an RFC 3339 date or time (`2024-05-01`, `2024-05-01T12:00`,
 * `...:05.5Z`, `...+02:00`; without a zone, the zone of this machine, as the docker client reads it), or unix
 * seconds with an optional fraction (`1714564800.5`). Anything else throws LogTimeError.
 */
export function parseLogTime(value: string, now: Date = new Date()): bigint {
  if (value !== '0') {
    const d = parseGoDuration(value);
    // The docker client sends reference.Add(-d).Unix(): whole seconds, rounded down.
    if (d !== null) return BigInt(Math.floor((now.getTime() - d / 1e6) / 1000)) * NS;
  }
  const t = parseDockerTimestamp(value, now);
  if (t !== null) return t;
  if (value.includes('-')) throw new LogTimeError(`cannot parse ${JSON.stringify(value)} as a time (RFC 3339, e.g. 2024-05-01T12:00:00Z)`);
  const u = parseUnixSeconds(value);
  if (u === null) throw new LogTimeError(`failed to parse value as time or duration: ${JSON.stringify(value)}`);
  return u;
}

/** The daemon's parseTimestamp: `seconds[.fraction]` (the fraction scaled to nanoseconds, extra digits cut). */
function parseUnixSeconds(value: string): bigint | null {
  const m = /^([+-]?\d+)(?:\.([+-]?\d+))?$/.exec(value);
  if (!m) return null;
  const sec = BigInt(m[1]!);
  if (m[2] === undefined) return sec * NS;
  const n = Number(m[2]);
  // Go: int64(float64(nsec) * math.Pow(10, 9-len(n))), len counting a sign too.
  const nsec = BigInt(Math.trunc(n * Math.pow(10, 9 - m[2].length)));
  return sec * NS + nsec;
}

/** The RFC 3339 variants the docker client accepts (api/types/time GetTimestamp), or null when none matches. */
function parseDockerTimestamp(value: string, now: Date): bigint | null {
  const inLocation = !/[zZ+]/.test(value) && (value.match(/-/g) ?? []).length !== 3;
  // The zone the client uses for values without one: its own offset now (Go: FixedZone(reference.Zone())).
  const localOffset = -now.getTimezoneOffset();
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|[+-]\d{2}:\d{2})?$/.exec(value);
  if (!m) return null;
  const hasT = value.includes('T');
  const hasFrac = value.includes('.');
  // Which layout the client picks decides which parts are required: with a '.', seconds and fraction; with a T,
  // as many parts as colons; a date alone otherwise.
  if (hasFrac && (m[6] === undefined || m[7] === undefined)) return null;
  if (!hasFrac && m[7] !== undefined) return null;
  if (!hasT && m[4] !== undefined) return null;
  if (inLocation === (m[8] !== undefined)) return null;
  const [y, mo, d] = [1, 2, 3].map((i) => Number(m[i]));
  const [h, mi, s] = [4, 5, 6].map((i) => (m[i] === undefined ? 0 : Number(m[i])));
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > daysIn(y!, mo!) || h! > 23 || mi! > 59 || s! > 59) return null;
  let offsetMin = localOffset;
  if (m[8] !== undefined) {
    if (m[8] === 'Z') offsetMin = 0;
    else {
      const oh = Number(m[8].slice(1, 3));
      const om = Number(m[8].slice(4, 6));
      if (oh > 23 || om > 59) return null;
      offsetMin = (m[8][0] === '-' ? -1 : 1) * (oh * 60 + om);
    }
  }
  const wall = BigInt(utcMs(y!, mo! - 1, d!, h!, mi!, s!)) / 1000n;
  const frac = m[7] ? BigInt(m[7].padEnd(9, '0')) : 0n;
  return (wall - BigInt(offsetMin * 60)) * NS + frac;
}
