import { LayerscopeError } from './errors.js';

/**
 * Every count, size and depth that evidence can make us spend memory or time on, bounded in one place.
 *
 * Evidence is made by whoever controlled the host: a directory of ten million entries, a chain of thousands of
 * layers or a path of 100,000 components are attacks on the tool before they are data. Each bound is far above
 * what a real engine produces (the figure it is compared with is in the comment), so that real evidence never
 * meets one, and crossing one is a problem that names the file, never an out-of-memory crash.
 */
export const LIMITS = {
  /** Distinct paths in one source (all layers of all images). 5M paths of a big host take ~250 MB here. */
  paths: 40_000_000,
  /** Entries in one layer. The largest distro images hold ~1M files. */
  layerEntries: 20_000_000,
  /** Names in one directory (they are held and sorted at once). ext4 dirs with millions of names are rare. */
  dirEntries: 4_000_000,
  /** Components of one path. Linux PATH_MAX (4096 bytes) allows 2048; tar names are not bounded by it. */
  pathDepth: 16_384,
  /** Layers of one image or container stack. Docker's overlay2 mounts at most ~128; containerd no limit. */
  chainLayers: 4096,
} as const;

/** A bound in {@link LIMITS} was crossed. Sources turn it into a problem naming the file. */
export class LimitError extends LayerscopeError {
  override name = 'LimitError';
}
