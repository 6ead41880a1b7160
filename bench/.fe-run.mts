import { runEventsFuzz, formatEventsFuzzReport } from '/work/main/bench/fuzz-events.ts';
const count = Number(process.argv[2] ?? 5000);
const r = await runEventsFuzz({ count, seed: Number(process.argv[3] ?? 1), maxSeconds: Number(process.argv[4] ?? 30), log: (l) => console.log(l) });
console.log(formatEventsFuzzReport(r));
process.exit(r.ok ? 0 : 1);
