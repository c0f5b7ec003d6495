// One V8 setting for a process that runs Switchboard. With allocation-site pretenuring, V8 allocates
// straight into the old generation the objects of any site whose objects mostly outlived a young
// collection. A message's objects live for that message; under a gateway firehose some outlived one
// (in flight at the collection, or listed by a dead table: pipeline/replayable.ts), their sites were
// pretenured, and those old objects then kept the young ones of later messages alive until a full
// collection. Off, with pipeline/replayable.ts emptying its dead entries, the Discord gateway row
// spent about 40% less CPU an event (bench/README.md, "Gateway fan-in"). An operator who starts
// node with --allocation-site-pretenuring keeps it.

import { setFlagsFromString } from 'node:v8';

let tuned = false;

/** Turns allocation-site pretenuring off for this process, once, unless node was started asking for it. */
export function tuneCollector(execArgv: readonly string[] = process.execArgv): void {
  if (tuned) return;
  tuned = true;
  if (execArgv.some((arg) => /^--allocation[-_]site[-_]pretenuring$/.test(arg))) return;
  setFlagsFromString('--no-allocation-site-pretenuring');
}
