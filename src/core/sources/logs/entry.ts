/** An entry as a log file stores it, before `docker logs`' choices (which streams, which times) apply. */
export interface DecodedEntry {
  /** The stream the engine recorded: "stdout" or "stderr" (anything else is not shown by docker logs). */
  source: string;
  /** Nanoseconds since the epoch. */
  timeNs: bigint;
  /** The UTC offset the time was recorded with (json-file keeps the zone it was written in), minutes. */
  offsetMin: number;
  /** The bytes docker logs writes for this entry (its `\n` included when the line was complete). */
  line: Buffer;
  /** A piece of a line longer than the engine's 16 KiB buffer (or the end of the output without a newline). */
  partial: boolean;
}

export type EntryResult = { entry: DecodedEntry; error?: undefined } | { entry?: undefined; error: string };
