// A child process for the multi-process IPAM tests and benchmark: opens the store a locator names,
// says "ready", waits for "go" on stdin (so all workers start together), then allocates COUNT
// addresses for HOST one handle at a time (optionally releasing each handle afterwards) and prints
// one JSON line: { ips, allocMs, releaseMs, latenciesMs, counters } (latencies: one per allocation).
//
//   node --import tsx allocate-worker.ts LOCATOR HOST COUNT HANDLE_PREFIX [release]

import { createInterface } from 'node:readline';
import { openDatastore } from '../datastore/index.ts';
import { Ipam } from './ipam.ts';

const [locator, host, countText, prefix, mode] = process.argv.slice(2);
const count = Number(countText);
if (!locator || !host || !Number.isInteger(count) || count < 0 || !prefix) {
  process.stderr.write('usage: allocate-worker.ts LOCATOR HOST COUNT HANDLE_PREFIX [release]\n');
  process.exit(2);
}

const ds = await openDatastore(locator);
const ipam = new Ipam(ds, { host });
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line.trim() === 'go') break;
lines.close();

const ips: string[] = [];
const latenciesMs: number[] = [];
let t0 = performance.now();
for (let i = 0; i < count; i++) {
  const t = performance.now();
  const r = await ipam.autoAssign({ handleId: `${prefix}-${i}`, num4: 1, attrs: { node: host } });
  latenciesMs.push(performance.now() - t);
  ips.push(r.ipv4[0].ip);
}
const allocMs = performance.now() - t0;
let releaseMs = 0;
if (mode === 'release') {
  t0 = performance.now();
  for (let i = 0; i < count; i++) await ipam.releaseByHandle(`${prefix}-${i}`);
  releaseMs = performance.now() - t0;
}
await ds.close();
process.stdout.write(`${JSON.stringify({ ips, allocMs, releaseMs, latenciesMs, counters: ipam.counters })}\n`);
