// B1 of BENCHMARKS.md on the lab cluster: iperf3 throughput from pod a (h1) to pod b (h2) across hosts,
// 1 and 4 streams, in three arms: no policies (the agents' base table with its conntrack fast path
// only, the nearest this lab gets to the physical limit), a hand-written 1,000-rule linear
// nft chain on h2's forward hook, and brindle with 1,000 GlobalNetworkPolicies on b and 10,000 network-set
// members programmed by the agents, none matching the flow (a last low-priority policy allows it).
// Rounds alternate the streams; medians and ratios are printed as a table; exit code 0 whatever happens.
// Run: node --import tsx bench/dataplane/bench-b1.ts [--rounds N] [--seconds S]

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { inNetns, rootTestSkipReason } from '../../src/os/index.ts';
import { createLabCluster } from '../../src/lab/index.ts';
import type { LabCluster, LabClusterPod } from '../../src/lab/index.ts';
import type { AnyResource, GlobalNetworkPolicy, GlobalNetworkSet } from '../../src/model/index.ts';
import { median } from '../bench-stats.ts';
import { pollUntil } from '../../src/lib/index.ts';

const POLICIES = 1000;
const SETS = 10;
const MEMBERS_PER_SET = 1000;
const LINEAR_TABLE = 'brl_bench_linear';
const PORT = 5201;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

const until = (what: string, fn: () => Promise<boolean>, deadlineMs: number): Promise<true> =>
  pollUntil(what, fn as () => Promise<true | false>, deadlineMs, { intervalMs: 250 });

/** Policy and set resources: every policy selects b, allows one TCP port from one set; the flow's port is none of them. */
function scaleResources(): AnyResource[] {
  const out: AnyResource[] = [];
  for (let s = 0; s < SETS; s++) {
    const nets: string[] = [];
    for (let j = 0; j < MEMBERS_PER_SET; j++) nets.push(`10.${200 + s}.${j >> 8}.${j & 255}/32`);
    const set: GlobalNetworkSet = { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkSet', metadata: { name: `b1-set-${s}`, labels: { 'b1-set': `s${s}` } }, spec: { nets } };
    out.push(set);
  }
  for (let p = 0; p < POLICIES; p++) {
    const pol: GlobalNetworkPolicy = {
      apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: `b1-p${p}` },
      spec: {
        order: p, selector: "app == 'b'", types: ['Ingress'],
        ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: `b1-set == 's${p % SETS}'` }, destination: { ports: [10000 + p] } }],
      },
    };
    out.push(pol);
  }
  const allow: GlobalNetworkPolicy = {
    apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: 'b1-allow-rest' },
    spec: { order: 100000, selector: "app == 'b'", types: ['Ingress'], ingress: [{ action: 'Allow' }] },
  };
  out.push(allow);
  return out;
}

function linearChain(): string {
  const lines = [`table ip ${LINEAR_TABLE} {`, '  chain linear {', '    type filter hook forward priority 10; policy accept;'];
  for (let i = 0; i < 1000; i++) lines.push(`    ip saddr 10.250.${i >> 8}.${i & 255} tcp dport ${10000 + i} drop`);
  lines.push('  }', '}');
  return lines.join('\n') + '\n';
}

async function iperf(lab: LabCluster, a: LabClusterPod, b: LabClusterPod, streams: number, seconds: number): Promise<number> {
  const r = await lab.run(a.path, 'iperf3', ['-c', b.ip, '-p', String(PORT), '-t', String(seconds), '-P', String(streams), '-J'], { timeoutMs: (seconds + 20) * 1000, okCodes: [1] });
  const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second: number } }; error?: string };
  if (!j.end?.sum_received) throw new Error(`iperf3 gave no result: ${j.error ?? r.stderr}`);
  return j.end.sum_received.bits_per_second / 1e9;
}

async function main(): Promise<void> {
  const skip = rootTestSkipReason(['ip', 'nsenter', 'nft', 'curl', 'iperf3']);
  if (skip) {
    console.log(`B1 skipped: ${skip}`);
    return;
  }
  const rounds = arg('--rounds', 3);
  const seconds = arg('--seconds', 3);
  const lab = await createLabCluster({ hosts: 2, poolCidr: '10.69.0.0/16' });
  let server: ChildProcess | undefined;
  try {
    const a = await lab.addPod({ name: 'a', host: 0, labels: { app: 'a' } });
    const b = await lab.addPod({ name: 'b', host: 1, labels: { app: 'b' } });
    const { command, args } = inNetns(b.path, 'iperf3', ['-s', '-p', String(PORT)]);
    server = spawn(command, args, { stdio: 'ignore' });
    // A one-second run that succeeds proves the server listens and the path is programmed.
    await until('iperf3 from a reaches the server in b', async () => {
      try {
        return (await iperf(lab, a, b, 1, 1)) > 0;
      } catch {
        return false;
      }
    }, 20_000);

    const samples = new Map<string, number[]>();
    const measure = async (arm: string) => {
      for (let r = 0; r < rounds; r++) {
        for (const streams of r % 2 === 0 ? [1, 4] : [4, 1]) {
          const key = `${arm}|${streams}`;
          const v = await iperf(lab, a, b, streams, seconds);
          samples.set(key, [...(samples.get(key) ?? []), v]);
        }
      }
    };

    await measure('no policies');
    await lab.run(b.host.path, 'nft', ['-f', '-'], { input: linearChain() });
    await measure('linear chain (1,000 rules)');
    await lab.run(b.host.path, 'nft', ['delete', 'table', 'ip', LINEAR_TABLE]);

    const t0 = performance.now();
    const resources = scaleResources();
    await lab.store(async (rs) => {
      for (const res of resources) await rs.apply(res);
    });
    // Programmed on h2 when the last policy's port is in its ruleset and every set member is loaded.
    await until('1,000 policies and 10,000 set members in h2\'s nftables', async () => {
      const text = (await lab.run(b.host.path, 'nft', ['list', 'ruleset'])).stdout;
      const members = text.match(/\b10\.2(0\d)\.\d+\.\d+\b/g)?.length ?? 0;
      return text.includes(String(10000 + POLICIES - 1)) && members >= SETS * MEMBERS_PER_SET;
    }, 180_000);
    const programmedS = (performance.now() - t0) / 1000;
    await measure('brindle (1k policies, 10k members)');

    const m = (arm: string, s: number) => median(samples.get(`${arm}|${s}`) ?? []);
    const fmt = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
    const arms = ['no policies', 'linear chain (1,000 rules)', 'brindle (1k policies, 10k members)'];
    console.log(`B1 pod-to-pod throughput across hosts (iperf3 ${seconds}s × ${rounds} rounds, median Gbit/s; policies programmed in ${fmt(programmedS, 1)} s)`);
    console.log(`${'arm'.padEnd(38)}${'1 stream'.padStart(10)}${'4 streams'.padStart(11)}`);
    for (const arm of arms) console.log(`${arm.padEnd(38)}${fmt(m(arm, 1)).padStart(10)}${fmt(m(arm, 4)).padStart(11)}`);
    const brindle = arms[2];
    console.log(`ratio brindle / no policies:      1 stream ${fmt(m(brindle, 1) / m('no policies', 1))} (target ≥ 0.80), 4 streams ${fmt(m(brindle, 4) / m('no policies', 4))} (target ≥ 0.90)`);
    console.log(`ratio brindle / linear chain:  1 stream ${fmt(m(brindle, 1) / m(arms[1], 1))}, 4 streams ${fmt(m(brindle, 4) / m(arms[1], 4))} (target ≥ 1.5)`);
  } finally {
    if (server?.pid !== undefined && server.exitCode === null && server.signalCode === null) {
      const gone = new Promise<void>((r) => server!.once('exit', () => r()));
      process.kill(server.pid, 'SIGKILL');
      await gone;
    }
    await lab.down();
  }
}

main().catch((err: unknown) => {
  console.log(`B1 failed: ${(err as Error).stack ?? String(err)}`);
}).finally(() => {
  process.exitCode = 0;
});
