// Dataplane benchmarks on one host namespace (everything in throwaway namespaces; the root namespace is
// never touched). Arms alternate within each round, the order rotating; medians and ratios are printed;
// the exit code is 0 whatever the numbers (a benchmark reports, a test asserts).
//   B5: one policy or one endpoint changed at 1k local endpoints, change → committed in the kernel,
//       vs a full `nft -f` reload of the same ruleset (atomic table replace).
//   B4: iperf3 throughput between two workload namespaces as policies grow 0 → 1k → 10k (IP set members
//       0 → 10k → 100k), vs brindle's own zero-policy run; a run with no table at all for context.
//   B3: TCP request/response latency and connection rate through 1k policies vs no rules.
//   B10: cold start at 10k endpoints / 1k policies vs `nft -f` of the final ruleset; restart in place; RSS.
// Run: node --import tsx bench/dataplane/bench-dataplane.ts [--only b3|b4|b5|b10] [--rounds N] [--write docs/benchmarks.md]
// (--write replaces only this benchmark's marked section of the file.)

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { NFT_FAMILY, NFT_TABLE } from '../../src/lib/index.ts';
import { ProcessRunner, createTestHost, inNetns, missingTools, rootTestSkipReason } from '../../src/os/index.ts';
import type { DataplaneMessage } from '../../src/dataplane-api/index.ts';
import { NftablesDriver, createLab, runNft } from '../../src/dataplane/index.ts';
import type { Lab } from '../../src/dataplane/index.ts';
import { endpointChange, policyChange, scaleMessages } from './scale-state.ts';
import type { ScaleOptions } from './scale-state.ts';

const runner = new ProcessRunner();
const now = (): number => performance.now();

function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
const median = (values: number[]): number => quantile(values, 0.5);
const f = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

interface Row {
  id: string;
  what: string;
  brindle: string;
  anchor: string;
  ratio: string;
  goal: string;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

// ---------------------------------------------------------------------------------------------------
// B5

async function benchB5(rounds: number, rows: Row[]): Promise<void> {
  const opts: ScaleOptions = { endpoints: 1000, policies: 1000, ipSets: 500, membersPerSet: 40, policiesPerEndpoint: 5 };
  console.log(`\n## B5: one change at ${opts.endpoints} local endpoints (${opts.policies} policies, ${opts.ipSets} IP sets × ${opts.membersPerSet} members)`);
  const host = await createTestHost('brd', runner);
  try {
    const driver = new NftablesDriver({ runner, netns: host.path });
    const t0 = now();
    const first = await driver.apply(scaleMessages(opts));
    const coldMs = now() - t0;
    const full = driver.fullScript();
    const rules = full.split('\n').filter((l) => l.startsWith('add rule')).length;
    console.log(`cold start (render + readback + load): ${f(coldMs)} ms; ${rules} rules, ${first.summary.chainsAdded} chains, ${first.summary.elementsAdded} elements`);
    const reload = `add table ${NFT_FAMILY} ${NFT_TABLE}\ndelete table ${NFT_FAMILY} ${NFT_TABLE}\n${full}`;
    const epState = { shift: new Map<number, number>() };
    let k = 0;
    const perRound: Array<{ pol: number[]; ep: number[]; reload: number[] }> = [];
    for (let r = 0; r < rounds; r++) {
      const round = { pol: [] as number[], ep: [] as number[], reload: [] as number[] };
      const arms: Array<() => Promise<void>> = [
        async () => {
          for (let i = 0; i < 40; i++, k++) {
            const msgs: DataplaneMessage[] = i % 2 === 0 ? policyChange(k, opts) : endpointChange(k, opts, epState);
            const t = now();
            const res = await driver.apply(msgs);
            (i % 2 === 0 ? round.pol : round.ep).push(now() - t);
            if (res.readBack) throw new Error('a steady-state change fell back to a readback');
          }
        },
        async () => {
          for (let i = 0; i < 3; i++) {
            const t = now();
            await runNft(runner, reload, { netns: host.path, timeoutMs: 120_000 });
            round.reload.push(now() - t);
          }
          // The table now equals the model again; the driver's next transaction builds on it.
        },
      ];
      for (let a = 0; a < arms.length; a++) await arms[(a + r) % arms.length]();
      perRound.push(round);
      console.log(`round ${r + 1}: policy change p50 ${f(quantile(round.pol, 0.5))} p99 ${f(quantile(round.pol, 0.99))} ms | endpoint change p50 ${f(quantile(round.ep, 0.5))} p99 ${f(quantile(round.ep, 0.99))} ms | full reload ${f(median(round.reload))} ms`);
    }
    const reloadMed = median(perRound.map((x) => median(x.reload)));
    for (const [name, key] of [['one policy changed', 'pol'], ['one endpoint changed', 'ep']] as const) {
      const p50 = median(perRound.map((x) => quantile(x[key], 0.5)));
      const p99 = median(perRound.map((x) => quantile(x[key], 0.99)));
      rows.push({
        id: 'B5', what: `${name} at 1k endpoints: change → committed (p50 / p99)`, brindle: `${f(p50)} / ${f(p99)} ms`,
        anchor: `full nft -f reload ${f(reloadMed)} ms`, ratio: `${f(reloadMed / p99, 1)}× faster (p99)`, goal: 'p99 ≤ 50 ms, ≥ 5×',
      });
    }
    rows.push({ id: 'B5', what: 'cold start of that state (render + readback + one transaction)', brindle: `${f(coldMs)} ms`, anchor: `nft -f alone ${f(reloadMed)} ms`, ratio: `${f(coldMs / reloadMed, 2)}×`, goal: 'context (B10: ≤ 3× + 2 s)' });
  } finally {
    await host.delete();
  }
}

// ---------------------------------------------------------------------------------------------------
// B4

const IPERF_PORT = 5201;

async function iperf(lab: Lab, to: string, streams: number, seconds: number): Promise<number> {
  const { command, args } = inNetns(lab.pod('a').ns.path, 'iperf3', ['-c', to, '-p', String(IPERF_PORT), '-t', String(seconds), '-P', String(streams), '-J']);
  const { stdout } = await runner.run(command, args, { timeoutMs: (seconds + 30) * 1000 });
  const j = JSON.parse(stdout) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  return (j.end?.sum_received?.bits_per_second ?? NaN) / 1e9;
}

async function benchB4(rounds: number, rows: Row[]): Promise<void> {
  if (missingTools(['iperf3']).length > 0) {
    console.log('\n## B4: skipped, iperf3 is not installed (scripts/ensure-deps.sh installs it)');
    return;
  }
  const seconds = Number(arg('--seconds') ?? 3);
  console.log(`\n## B4: iperf3 ${seconds} s, pod a → pod b on one host, as policies on b grow (${rounds} rounds, arm order rotating)`);
  const lab = await createLab(runner);
  let server: ChildProcess | undefined;
  try {
    await lab.addPod({ name: 'a', v4: '10.65.0.1', iface: 'brvbencha' });
    await lab.addPod({ name: 'b', v4: '10.65.0.2', iface: 'brvbenchb' });
    const { command, args } = inNetns(lab.pod('b').ns.path, 'iperf3', ['-s', '-p', String(IPERF_PORT)]);
    server = spawn(command, args, { stdio: 'ignore' });
    const real = { 0: { iface: 'brvbencha', v4: '10.65.0.1' }, 1: { iface: 'brvbenchb', v4: '10.65.0.2' } };
    const steps: Array<{ name: string; opts?: ScaleOptions }> = [
      { name: 'no nft table' },
      { name: '0 policies', opts: { endpoints: 100, policies: 0, ipSets: 0, membersPerSet: 0, policiesPerEndpoint: 0, allOnEndpoint: 1, real } },
      { name: '1k policies, 10k members', opts: { endpoints: 100, policies: 1000, ipSets: 100, membersPerSet: 100, policiesPerEndpoint: 0, allOnEndpoint: 1, real } },
      { name: '10k policies, 100k members', opts: { endpoints: 100, policies: 10000, ipSets: 1000, membersPerSet: 100, policiesPerEndpoint: 0, allOnEndpoint: 1, real } },
    ];
    const messages = new Map(steps.filter((s) => s.opts).map((s) => [s.name, scaleMessages(s.opts!)]));
    // Wait for the server to listen (a run before that fails with "Connection refused").
    for (let i = 0; ; i++) {
      try { await iperf(lab, '10.65.0.2', 1, 1); break; } catch (err) { if (i > 50) throw err; await new Promise((r) => setTimeout(r, 100)); }
    }
    const results = new Map<string, { p1: number[]; p4: number[]; loadMs: number[] }>(steps.map((s) => [s.name, { p1: [], p4: [], loadMs: [] }]));
    for (let r = 0; r < rounds; r++) {
      const line: string[] = [];
      for (let a = 0; a < steps.length; a++) {
        const step = steps[(a + r) % steps.length];
        const res = results.get(step.name)!;
        await lab.run('host', 'nft', ['delete', 'table', NFT_FAMILY, NFT_TABLE]).catch(() => undefined);
        if (step.opts) {
          const t = now();
          await new NftablesDriver({ runner, netns: lab.hostPath, timeoutMs: 300_000 }).apply(messages.get(step.name)!);
          res.loadMs.push(now() - t);
        }
        const p1 = await iperf(lab, '10.65.0.2', 1, seconds);
        const p4 = await iperf(lab, '10.65.0.2', 4, seconds);
        res.p1.push(p1);
        res.p4.push(p4);
        line.push(`${step.name}: ${f(p1, 2)} / ${f(p4, 2)}`);
      }
      console.log(`round ${r + 1} (Gbit/s, 1 / 4 streams): ${line.join(' | ')}`);
    }
    const base = results.get('0 policies')!;
    for (const step of steps) {
      const res = results.get(step.name)!;
      const p1 = median(res.p1);
      const p4 = median(res.p4);
      const anchor = step.name === '0 policies' ? 'itself' : `0 policies ${f(median(base.p1), 2)} / ${f(median(base.p4), 2)}`;
      rows.push({
        id: 'B4', what: `throughput, ${step.name}${res.loadMs.length ? ` (programmed in ${f(median(res.loadMs) / 1000, 2)} s)` : ''}`,
        brindle: `${f(p1, 2)} / ${f(p4, 2)} Gbit/s`, anchor,
        ratio: `${f(p1 / median(base.p1), 2)} / ${f(p4 / median(base.p4), 2)}`,
        goal: step.name === 'no nft table' ? 'context (physical limit)' : '≥ 0.95 at every step',
      });
    }
  } finally {
    if (server && server.exitCode === null) {
      server.kill('SIGKILL');
      await new Promise<void>((res) => { if (server!.exitCode !== null || server!.signalCode !== null) res(); else server!.once('exit', () => res()); });
    }
    await lab.close();
  }
}


// ---------------------------------------------------------------------------------------------------
// B3

const RR_PORT = 7000;

// TCP echo server (one byte in, one byte out) for request/response and connection-rate runs.
const ECHO_SERVER_JS = `
require('node:net').createServer((c) => { c.setNoDelay(true); c.on('data', (d) => c.write(d)); c.on('error', () => {}); })
  .listen(${RR_PORT}, '0.0.0.0', () => process.stdout.write('ready\\n'));
`;

// Request/response on one connection (latency per round trip), then new connections one after another
// (connect, one round trip, close): prints JSON { rr: [ms...], crr: [ms...], crrPerSecond }.
const RR_CLIENT_JS = `
const net = require('node:net'); const [host, rrN, crrN] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const now = () => Number(process.hrtime.bigint()) / 1e6;
const once = (s) => new Promise((r) => s.once('data', r));
(async () => {
  const rr = [];
  const s = net.connect(${RR_PORT}, host); s.setNoDelay(true); await new Promise((r) => s.once('connect', r));
  for (let i = 0; i < rrN; i++) { const t = now(); s.write('x'); await once(s); rr.push(now() - t); }
  s.destroy();
  const crr = []; const t0 = now();
  for (let i = 0; i < crrN; i++) {
    const t = now(); const c = net.connect(${RR_PORT}, host); c.setNoDelay(true);
    await new Promise((r, j) => { c.once('connect', r); c.once('error', j); }); c.write('x'); await once(c); c.destroy(); crr.push(now() - t);
  }
  process.stdout.write(JSON.stringify({ rr, crr, crrPerSecond: crrN / ((now() - t0) / 1000) }));
})().catch((e) => { process.stderr.write(String(e)); process.exit(1); });
`;

async function benchB3(rounds: number, rows: Row[]): Promise<void> {
  console.log(`\n## B3: TCP request/response and connection rate, pod a → pod b, through policy vs no rules (${rounds} rounds)`);
  const lab = await createLab(runner);
  let server: ChildProcess | undefined;
  try {
    await lab.addPod({ name: 'a', v4: '10.65.0.1', iface: 'brvbencha' });
    await lab.addPod({ name: 'b', v4: '10.65.0.2', iface: 'brvbenchb' });
    const sv = inNetns(lab.pod('b').ns.path, process.execPath, ['-e', ECHO_SERVER_JS]);
    server = spawn(sv.command, sv.args, { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error('echo server not ready')), 10_000);
      server!.stdout!.on('data', () => { clearTimeout(t); res(); });
    });
    const real = { 0: { iface: 'brvbencha', v4: '10.65.0.1' }, 1: { iface: 'brvbenchb', v4: '10.65.0.2' } };
    const typical = scaleMessages({ endpoints: 100, policies: 1000, ipSets: 100, membersPerSet: 100, policiesPerEndpoint: 10, defaultTierAction: 'Pass', real });
    const extreme = scaleMessages({ endpoints: 100, policies: 1000, ipSets: 100, membersPerSet: 100, policiesPerEndpoint: 0, allOnEndpoint: 1, real });
    const arms: Array<{ name: string; msgs?: DataplaneMessage[] }> = [
      { name: 'no rules' }, { name: '10 of 1k policies on each pod', msgs: typical }, { name: 'all 1k policies on b', msgs: extreme },
    ];
    const res = new Map(arms.map((a) => [a.name, { p50: [] as number[], p99: [] as number[], cps: [] as number[] }]));
    for (let r = 0; r < rounds; r++) {
      const line: string[] = [];
      for (let i = 0; i < arms.length; i++) {
        const arm = arms[(i + r) % arms.length];
        await lab.run('host', 'nft', ['delete', 'table', NFT_FAMILY, NFT_TABLE]).catch(() => undefined);
        if (arm.msgs) await new NftablesDriver({ runner, netns: lab.hostPath, timeoutMs: 300_000 }).apply(arm.msgs);
        const c = inNetns(lab.pod('a').ns.path, process.execPath, ['-e', RR_CLIENT_JS, '10.65.0.2', '2000', '300']);
        const out = JSON.parse((await runner.run(c.command, c.args, { timeoutMs: 120_000 })).stdout) as { rr: number[]; crr: number[]; crrPerSecond: number };
        const x = res.get(arm.name)!;
        x.p50.push(quantile(out.rr, 0.5));
        x.p99.push(quantile(out.rr, 0.99));
        x.cps.push(out.crrPerSecond);
        line.push(`${arm.name}: rr p50 ${f(quantile(out.rr, 0.5), 3)} p99 ${f(quantile(out.rr, 0.99), 3)} ms, ${f(out.crrPerSecond, 0)} conn/s`);
      }
      console.log(`round ${r + 1}: ${line.join(' | ')}`);
    }
    const base = res.get('no rules')!;
    for (const arm of arms.slice(1)) {
      const pol = res.get(arm.name)!;
      rows.push({ id: 'B3', what: `request/response latency p50 (one connection, 2,000 round trips), ${arm.name}`, brindle: `${f(median(pol.p50), 3)} ms`, anchor: `no rules ${f(median(base.p50), 3)} ms`, ratio: `${f(median(pol.p50) / median(base.p50), 2)}×`, goal: '≤ 1.10×' });
      rows.push({ id: 'B3', what: `request/response latency p99, ${arm.name}`, brindle: `${f(median(pol.p99), 3)} ms`, anchor: `no rules ${f(median(base.p99), 3)} ms`, ratio: `${f(median(pol.p99) / median(base.p99), 2)}×`, goal: '≤ 1.25×' });
      rows.push({ id: 'B3', what: `connections/s (connect, one round trip, close), ${arm.name}`, brindle: `${f(median(pol.cps), 0)}/s`, anchor: `no rules ${f(median(base.cps), 0)}/s`, ratio: `${f(median(pol.cps) / median(base.cps), 2)}×`, goal: '≥ 0.8×' });
    }
  } finally {
    if (server && server.exitCode === null) {
      server.kill('SIGKILL');
      await new Promise<void>((res) => { if (server!.exitCode !== null || server!.signalCode !== null) res(); else server!.once('exit', () => res()); });
    }
    await lab.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// B10 (one host, real nft; the calc-graph half is bench/calc's)

async function benchB10(rounds: number, rows: Row[]): Promise<void> {
  // The cluster has 10k endpoints (IP sets hold their addresses: 1,000 sets × 20 members) and 1k
  // policies; this host runs its share of the endpoints (--b10-local, default 250).
  const local = Number(arg('--b10-local') ?? 250);
  const opts: ScaleOptions = { endpoints: local, policies: 1000, ipSets: 1000, membersPerSet: 20, policiesPerEndpoint: 3 };
  console.log(`\n## B10: cold start and restart in place, ${local} local endpoints of a 10k-endpoint cluster, ${opts.policies} policies (${rounds} rounds)`);
  const host = await createTestHost('brd', runner);
  try {
    const msgs = scaleMessages(opts);
    const cold: number[] = [];
    const anchor: number[] = [];
    const restart: number[] = [];
    let script = '';
    let restartChanges = -1;
    for (let r = 0; r < rounds; r++) {
      const arms: Array<() => Promise<void>> = [
        async () => {
          await host.run('nft', ['delete', 'table', NFT_FAMILY, NFT_TABLE]).catch(() => undefined);
          const t = now();
          const d = new NftablesDriver({ runner, netns: host.path, timeoutMs: 600_000 });
          await d.apply(msgs);
          cold.push(now() - t);
          if (!script) script = d.fullScript();
          // Restart in place: a new driver, same state, live table.
          const t2 = now();
          const again = await new NftablesDriver({ runner, netns: host.path, timeoutMs: 600_000 }).apply(msgs);
          restart.push(now() - t2);
          restartChanges = again.script === '' ? 0 : again.script.split('\n').length - 1;
        },
        async () => {
          if (!script) return;
          await host.run('nft', ['delete', 'table', NFT_FAMILY, NFT_TABLE]).catch(() => undefined);
          const t = now();
          await runNft(runner, script, { netns: host.path, timeoutMs: 600_000 });
          anchor.push(now() - t);
        },
      ];
      for (let a = 0; a < arms.length; a++) await arms[(a + r) % arms.length]();
      console.log(`round ${r + 1}: cold start ${f(cold[cold.length - 1] ?? NaN)} ms | nft -f ${f(anchor[anchor.length - 1] ?? NaN)} ms | restart in place ${f(restart[restart.length - 1] ?? NaN)} ms (${restartChanges} lines written)`);
    }
    const rss = process.memoryUsage().rss / 2 ** 20;
    rows.push({ id: 'B10', what: `cold start, ${local} local endpoints, 1k policies, 20k set members (render + readback + load)`, brindle: `${f(median(cold) / 1000, 2)} s`, anchor: `nft -f of the final ruleset ${f(median(anchor) / 1000, 2)} s`, ratio: `${f(median(cold) / median(anchor), 2)}×`, goal: '≤ 3× nft -f + 2 s' });
    rows.push({ id: 'B10', what: 'restart in place (new driver, live table: readback and diff)', brindle: `${f(median(restart) / 1000, 2)} s, ${restartChanges} lines written`, anchor: '—', ratio: '—', goal: 'nothing flushed' });
    rows.push({ id: 'B10', what: 'RSS of the benchmark process (driver state for that table)', brindle: `${f(rss, 0)} MiB`, anchor: '—', ratio: '—', goal: '≤ 250 MiB' });
  } finally {
    await host.delete();
  }
}

// ---------------------------------------------------------------------------------------------------

const METHOD_NOTES = [
  'Everything runs in throwaway namespaces on one host. B5: "committed" is `NftablesDriver.apply()` returning',
  'after its single `nft -f` exited (the kernel commits before nft exits); the anchor replaces the whole table',
  'in one `nft -f`. Every nft call pays a process start (through nsenter here), nft\'s cache load (grows with',
  'the number of chains and interval sets) and the kernel\'s re-validation, at commit, of every chain reachable',
  'from the base chains (grows with the ruleset) — the floor under a small transaction at this size.',
  'B4: iperf3 between two workload namespaces; every policy applies to the server\'s ingress and none matches the',
  'flow, which the profile then allows; established packets take the `ct state established` fast path. B3: the',
  'first packet of each new connection walks the destination\'s policies ("all 1k on b" walks 1,000 policy chains).',
];

/** Replaces this benchmark's section of a shared markdown file (between markers), keeping the rest. */
function writeSection(file: string, body: string): void {
  const begin = '<!-- bench:dataplane -->';
  const end = '<!-- /bench:dataplane -->';
  let text = '';
  try { text = readFileSync(file, 'utf8'); } catch { text = '# Benchmarks\n\n'; }
  const section = `${begin}\n${body}\n${end}`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  text = i >= 0 && j > i ? `${text.slice(0, i)}${section}${text.slice(j + end.length)}` : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, text);
}

async function main(): Promise<void> {
  const rounds = Math.max(5, Number(arg('--rounds') ?? 5));
  const only = arg('--only');
  const why = rootTestSkipReason(['ip', 'nsenter', 'nft']);
  console.log(`# brindle dataplane benchmark — ${rounds} alternating rounds per comparison, medians`);
  console.log(`node ${process.version}, ${cpus().length} CPUs`);
  if (why) {
    console.log(`skipped: ${why}`);
    return;
  }
  const rows: Row[] = [];
  const started = now();
  try {
    if (!only || only === 'b5') await benchB5(rounds, rows);
    if (!only || only === 'b4') await benchB4(rounds, rows);
    if (!only || only === 'b3') await benchB3(rounds, rows);
    if (!only || only === 'b10') await benchB10(rounds, rows);
  } catch (err) {
    console.log(`\nbenchmark stopped early: ${err instanceof Error ? err.stack : String(err)}`);
  }
  const table = [
    `## Dataplane — \`node --import tsx bench/dataplane/bench-dataplane.ts${only ? ` --only ${only}` : ''}\` (issue 5; ${rounds} rounds, ${f((now() - started) / 1000, 0)} s)`,
    '',
    '| id | measure | brindle | anchor (same run) | ratio | goal |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.id} | ${r.what} | ${r.brindle} | ${r.anchor} | ${r.ratio} | ${r.goal} |`),
    '',
    ...METHOD_NOTES,
  ].join('\n');
  console.log(`\n${table}`);
  const out = arg('--write');
  if (out) writeSection(out, table);
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(0);
});
