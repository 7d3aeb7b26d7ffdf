// Dataplane benchmarks on one host namespace (everything in throwaway namespaces; the root namespace is
// never touched). Arms alternate within each round, the order rotating; medians and ratios are printed;
// the exit code is 0 whatever the numbers (a benchmark reports, a test asserts).
//   B5: one policy or one endpoint changed at 1k local endpoints, change → committed in the kernel,
//       vs a full `nft -f` reload of the same ruleset (atomic table replace).
//   B4: iperf3 throughput between two workload namespaces as policies grow 0 → 1k → 10k (IP set members
//       0 → 10k → 100k), vs brindle's own zero-policy run; a run with no table at all for context.
// Run: node --import tsx bench/dataplane/bench-dataplane.ts [--only b4|b5] [--rounds N] [--write FILE]

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
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
  } catch (err) {
    console.log(`\nbenchmark stopped early: ${err instanceof Error ? err.stack : String(err)}`);
  }
  const table = [
    `## Dataplane results (medians of ${rounds} rounds; ${f((now() - started) / 1000, 1)} s; command: node --import tsx bench/dataplane/bench-dataplane.ts${only ? ` --only ${only}` : ''})`,
    '',
    '| id | measure | brindle | anchor (same run) | ratio | goal |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.id} | ${r.what} | ${r.brindle} | ${r.anchor} | ${r.ratio} | ${r.goal} |`),
    '',
  ].join('\n');
  console.log(`\n${table}`);
  const out = arg('--write');
  if (out) writeFileSync(out, `${table}\n`);
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(0);
});
