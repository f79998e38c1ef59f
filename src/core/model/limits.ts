import { LayerscopeError } from './errors.js';

/**
 * Every count, size and depth that evidence can make us spend memory or time on, bounded in one place.
 *
 * Evidence is made by whoever controlled the host: a directory of ten million entries, a chain of thousands of
 * layers or a path of 100,000 components are attacks on the tool before they are data. Each bound is far above
 * what a real engine produces (the figure it is compared with is in the comment), so that real evidence never
 * meets one, and crossing one is a problem that names the file, never an out-of-memory crash.
 */
const DEFAULTS = {
  /** Distinct paths in one source (all layers of all images). 5M paths of a big host take ~250 MB here. */
  paths: 20_000_000,
  /** Entries in one layer. The largest distro images hold ~1M files. */
  layerEntries: 10_000_000,
  /** Names in one directory (they are held and sorted at once). ext4 dirs with millions of names are rare. */
  dirEntries: 4_000_000,
  /** Components of one path. Linux PATH_MAX (4096 bytes) allows 2048; tar names are not bounded by it. */
  pathDepth: 16_384,
  /** Layers of one image or container stack. Docker's overlay2 mounts at most ~128; containerd no limit. */
  chainLayers: 4096,
  /**
   * A directory whose st_size passes this is read a name at a time (not all at once) and only up to
   * dirEntries: ext4 needs ~25 bytes a name, so this is ~500k names.
   */
  bigDirBytes: 16 << 20,
  /**
   * One line of a json-file container log. The engine writes at most 16 KiB of output an entry (~100 KiB as
   * escaped JSON); a longer line is passed over a chunk at a time, never held.
   */
  logLineBytes: 1 << 20,
  /**
   * What one compressed rotated log may expand to when its max-size is not known. With a known max-size, the
   * bound is max-size plus one entry's worth: the engine rotates as soon as a file passes max-size.
   */
  logInflatedBytes: 16 * 1024 ** 3,
  /**
   * One metadata file of a containers/storage store (layers.json, images.json, containers.json), read whole. A
   * host with thousands of images and layers keeps a few MB there.
   */
  storeMetadataBytes: 256 << 20,
};

export type Limits = { readonly [K in keyof typeof DEFAULTS]: number };

/**
 * The bounds in force. LAYERSCOPE_TEST_LIMITS (JSON, e.g. `{"dirEntries":1000}`) lowers them, so that tests prove
 * each bound with a thousand entries instead of ten million; it can only lower them.
 */
export const LIMITS: Limits = Object.freeze(withTestLimits(DEFAULTS));

function withTestLimits(d: typeof DEFAULTS): Limits {
  const raw = typeof process !== 'undefined' ? process.env.LAYERSCOPE_TEST_LIMITS : undefined;
  if (!raw) return d;
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch {
    return d;
  }
  const out: Record<string, number> = { ...d };
  if (o && typeof o === 'object') {
    for (const [k, v] of Object.entries(o)) if (k in d && typeof v === 'number' && v >= 0 && v < out[k]!) out[k] = v;
  }
  return out as Limits;
}

/** A bound in {@link LIMITS} was crossed. Sources turn it into a problem naming the file. */
export class LimitError extends LayerscopeError {
  override name = 'LimitError';
}
