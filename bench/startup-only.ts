// `node --import tsx bench/startup-only.ts [runs] [--quick]`: only the start-up rows of `npm run bench`,
// for measuring a change to start-up without the rest of the bench.
import { startupRows } from './startup.js';
import { startupLine } from './table.js';

const runs = Number(process.argv[2] ?? 5);
const rows = await startupRows(runs, process.argv.includes('--quick'));
for (const r of rows) console.log(startupLine(r));
