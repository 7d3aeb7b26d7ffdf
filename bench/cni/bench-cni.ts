// B7 (BENCHMARKS.md): CNI ADD and DEL latency, one caller and 4 concurrent callers, beside Debian's
// `bridge` + `host-local` plugins from /usr/lib/cni in the same run. Rounds alternate the arms
// (order rotating each round); medians of per-round p50s and the ratios are printed as a markdown
// table; everything runs inside throwaway namespaces; exit 0 whatever the numbers.
//   anchor    bridge + host-local (a Go binary per call), v4, isGateway, no masquerade
//   bundle    brindle-cni, self-contained: the installed shim runs the Node bundle (no server)
//   server    brindle-cni fast path: the shim hands the call to `brindle-cni serve` over its socket
// Every arm is called exactly as a runtime calls it (exec, CNI_* env, config on stdin), from inside
// a test host namespace; after each round the host is checked for leftover links, routes and
// allocations.
// Run: node --import tsx bench/cni/bench-cni.ts [--rounds N (≥5, default 5)] [--pods N (default 8)]

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execPlugin, installCni } from '../../src/cni/index.ts';
import type { ExecPluginResult } from '../../src/cni/index.ts';
import { openDatastore, ResourceStore } from '../../src/datastore/index.ts';
import { Ipam } from '../../src/ipam/index.ts';
import { createTestHost, createThrowawayNetns, deleteAllThrowawayNetns, ipJson, ProcessRunner, rootTestSkipReason } from '../../src/os/index.ts';
import type { IpLink, IpRoute, ThrowawayNetns } from '../../src/os/index.ts';
import { median, quantile } from '../bench-stats.ts';

const REF_DIR = '/usr/lib/cni';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v <= 0) {
    process.stderr.write(`bench-cni: --${name} needs a positive whole number\n`);
    process.exit(2);
  }
  return v;
}

const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

type ArmName = 'anchor' | 'bundle' | 'server';
type Scenario = 'ADD seq' | 'DEL seq' | 'ADD x4' | 'DEL x4';
const SCENARIOS: Scenario[] = ['ADD seq', 'DEL seq', 'ADD x4', 'DEL x4'];

interface Arm {
  name: ArmName;
  binary: string;
  conf: Record<string, unknown>;
  env: Record<string, string>;
  args: (i: number) => string;
}

async function main(): Promise<void> {
  const rounds = Math.max(5, arg('rounds', 5));
  const pods = arg('pods', 8);
  const skip = rootTestSkipReason(['ip', 'nsenter', 'curl', `${REF_DIR}/bridge`, `${REF_DIR}/host-local`]);
  if (skip) {
    console.log(`bench-cni: skipped: ${skip}`);
    return;
  }
  const runner = new ProcessRunner();
  const dir = mkdtempSync(join(tmpdir(), 'brb-bench-cni-'));
  const locator = `sqlite:${join(dir, 'store.db')}`;
  const socket = join(dir, 'cni.sock');
  let server: ChildProcess | undefined;
  let host: ThrowawayNetns | undefined;
  try {
    const installed = await installCni({ binDir: join(dir, 'bin'), confDir: join(dir, 'net.d'), datastore: locator, socket });
    const ds = await openDatastore(locator);
    await new ResourceStore(ds).apply({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'bench-v4' }, spec: { cidr: '10.93.0.0/16', blockSize: 26 } });
    await new ResourceStore(ds).apply({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: 'bench-node' }, spec: {} });
    await ds.close();
    host = await createTestHost('brb', runner);
    server = spawn('nsenter', [`--net=${host.path}`, process.execPath, installed.bundle, 'serve', '--socket', socket], { stdio: ['ignore', 'ignore', 'inherit'] });
    const deadline = Date.now() + 15_000;
    while (!existsSync(socket)) {
      if (Date.now() > deadline || server.exitCode !== null) throw new Error('the CNI server did not start');
      await new Promise((r) => setTimeout(r, 20));
    }

    const brindleConf = { cniVersion: '1.0.0', name: 'brbbench', type: 'brindle-cni', datastore: locator, nodename: 'bench-node', ipam: { type: 'brindle-ipam', assign_ipv6: false } };
    const arms: Arm[] = [
      {
        name: 'anchor',
        binary: `${REF_DIR}/bridge`,
        conf: {
          cniVersion: '1.0.0', name: 'brbanchor', type: 'bridge', bridge: 'brbbr0', isGateway: true, ipMasq: false,
          ipam: { type: 'host-local', ranges: [[{ subnet: '10.94.0.0/16' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(dir, 'host-local') },
        },
        env: {},
        args: () => 'IgnoreUnknown=1',
      },
      { name: 'bundle', binary: installed.binaries[0], conf: brindleConf, env: { BRINDLE_CNI_SOCKET: join(dir, 'no-server.sock') }, args: (i) => `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=b${i}` },
      { name: 'server', binary: installed.binaries[0], conf: brindleConf, env: {}, args: (i) => `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=s${i}` },
    ];
    const results = new Map<string, number[]>(); // `${arm} ${scenario}` → per-round p50
    const p99s = new Map<string, number[]>();
    const failures: string[] = [];
    const leaks: string[] = [];
    let serial = 0;

    const call = async (arm: Arm, command: string, ns: ThrowawayNetns, id: string, i: number): Promise<ExecPluginResult> => {
      const r = await execPlugin({
        binary: arm.binary, command, conf: arm.conf, containerId: id, netns: ns.path, ifname: 'eth0', args: arm.args(i),
        path: [REF_DIR, join(dir, 'bin')], hostNetns: host!.path, env: arm.env,
      });
      if (r.exitCode !== 0) failures.push(`${arm.name} ${command} ${id}: ${r.stdout.trim() || r.stderr.trim()}`);
      return r;
    };

    const runArm = async (arm: Arm): Promise<void> => {
      const record = (scenario: Scenario, ms: number[]) => {
        const key = `${arm.name} ${scenario}`;
        results.set(key, [...(results.get(key) ?? []), median(ms)]);
        p99s.set(key, [...(p99s.get(key) ?? []), quantile(ms, 0.99)]);
      };
      const nss: ThrowawayNetns[] = [];
      for (let i = 0; i < pods * 2; i++) nss.push(await createThrowawayNetns('brb', runner));
      try {
        const ids = nss.map(() => `bench-${++serial}`);
        // one caller
        const seqAdd: number[] = [];
        const seqDel: number[] = [];
        for (let i = 0; i < pods; i++) seqAdd.push((await call(arm, 'ADD', nss[i], ids[i], serial * 100 + i)).ms);
        for (let i = 0; i < pods; i++) seqDel.push((await call(arm, 'DEL', nss[i], ids[i], serial * 100 + i)).ms);
        record('ADD seq', seqAdd);
        record('DEL seq', seqDel);
        // four callers at once
        const conc = async (command: string): Promise<number[]> => {
          const out: number[] = [];
          let next = pods;
          await Promise.all(
            Array.from({ length: 4 }, async () => {
              while (next < pods * 2) {
                const i = next++;
                out.push((await call(arm, command, nss[i], ids[i], serial * 100 + i)).ms);
              }
            }),
          );
          return out;
        };
        record('ADD x4', await conc('ADD'));
        record('DEL x4', await conc('DEL'));
      } finally {
        for (const ns of nss) await ns.delete();
      }
      // Leak check: nothing of this arm may remain on the host.
      const links = (await ipJson<IpLink>(runner, ['link', 'show'], { netns: host!.path })).map((l) => l.ifname).filter((n) => n.startsWith('brv') || n.startsWith('veth'));
      const routes = (await ipJson<IpRoute>(runner, ['-4', 'route', 'show', 'proto', '80'], { netns: host!.path })).map((r) => r.dst);
      if (links.length > 0 || routes.length > 0) leaks.push(`${arm.name}: links ${links.join(',') || '-'} routes ${routes.join(',') || '-'}`);
    };

    console.error(`bench-cni: ${rounds} rounds × 3 arms × ${pods} sequential + ${pods} concurrent pods; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    for (let round = 0; round < rounds; round++) {
      const order = arms.map((_, i) => arms[(i + round) % arms.length]);
      for (const arm of order) await runArm(arm);
      console.error(`  round ${round + 1}/${rounds} done`);
    }
    const ds2 = await openDatastore(locator);
    const ipam = new Ipam(ds2);
    const left = { handles: (await ipam.listHandles()).length, allocations: (await ipam.listBlocks()).reduce((n, b) => n + b.allocated, 0) };
    const weps = (await new ResourceStore(ds2).list('WorkloadEndpoint')).items.length;
    await ds2.close();
    const hostLocalLeft = existsSync(join(dir, 'host-local', 'brbanchor'))
      ? readdirSync(join(dir, 'host-local', 'brbanchor')).filter((f) => /^\d/.test(f)).length
      : 0;

    const m = (arm: ArmName, s: Scenario) => median(results.get(`${arm} ${s}`) ?? []);
    const p = (arm: ArmName, s: Scenario) => median(p99s.get(`${arm} ${s}`) ?? []);
    const goal = (s: Scenario, ms: number) => {
      const a = m('anchor', s);
      const limit = s.startsWith('ADD') ? 1.5 * a + 10 : a + 10;
      return `${ms <= limit ? 'met' : 'missed'} (≤ ${f(limit)} ms)`;
    };
    console.log(`\n### B7: CNI ADD/DEL latency (ms, median of ${rounds} per-round p50s; p99 in brackets)\n`);
    console.log(`machine: ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; pods per round: ${pods} one caller + ${pods} over 4 callers\n`);
    console.log('| scenario | anchor bridge+host-local | brindle bundle | ratio | goal (bundle) | brindle server | ratio | goal (server) |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const s of SCENARIOS) {
      const a = m('anchor', s);
      const b = m('bundle', s);
      const c = m('server', s);
      console.log(`| ${s} | ${f(a)} [${f(p('anchor', s))}] | ${f(b)} [${f(p('bundle', s))}] | ${f(b / a, 2)} | ${goal(s, b)} | ${f(c)} [${f(p('server', s))}] | ${f(c / a, 2)} | ${goal(s, c)} |`);
    }
    console.log('');
    console.log(`failed calls: ${failures.length}${failures.length ? ` (first: ${failures[0]})` : ''}`);
    console.log(`leaked after DEL: host ${leaks.length === 0 ? 'nothing' : leaks.join('; ')}; brindle handles ${left.handles}, allocations ${left.allocations}, endpoints ${weps}; host-local reservations ${hostLocalLeft}`);
  } finally {
    if (server && server.exitCode === null) server.kill('SIGTERM');
    await host?.delete();
    deleteAllThrowawayNetns();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench-cni: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  deleteAllThrowawayNetns();
});
