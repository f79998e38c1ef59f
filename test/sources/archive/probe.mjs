// Preloaded (node --import) into a CLI run by the hostile-archive tests: at exit, writes what the process
// read (rchar: every byte read(2) returned, page cache or not) and its peak RSS to $LAYERSCOPE_TEST_PROBE.
// A work bound that a regression (re-reading a member 60 times, keeping 1.3 GB of JSON) cannot pass.
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.env.LAYERSCOPE_TEST_PROBE;
if (out) {
  process.on('exit', () => {
    const io = readFileSync('/proc/self/io', 'utf8');
    const rchar = Number(/rchar: (\d+)/.exec(io)?.[1] ?? -1);
    writeFileSync(out, JSON.stringify({ rchar, maxRSS: process.resourceUsage().maxRSS * 1024 }));
  });
}
