/**
 * Rows read so far in this process, counted by readers as they come in (a layer dir's walk counts each chunk),
 * so that a progress line moves during a big layer, not only when it is done. For display only.
 */
export const readCounters = { rows: 0 };
