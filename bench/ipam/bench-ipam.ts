// B8 (BENCHMARKS.md): IPAM allocation rate and contention, beside Debian's `host-local` IPAM plugin
// in the same run. Rounds alternate anchor and brindle arms (order rotating each round); medians
// and ratios are printed; exit 0 whatever the numbers.
//   anchor  host-local: N ADDs then N DELs, one exec each (that is how a runtime uses it), /16 range
//   arm 1   brindle, one host, in-process, SQLite: N autoAssign then N releaseByHandle, same /16
//   arm 2   brindle, 4 hosts = 4 processes sharing one pool through one SQLite file, N/4 each
//   arm 3   brindle, 4 hosts in one process (4 Ipam instances, 4 requests in flight), SQLite
// Then, once: the full-size 4 processes × 2,500 no-duplicates run on SQLite and on etcd.
// Run: node --import tsx bench/ipam/bench-ipam.ts [--n N (default 2000)] [--rounds R (≥5, default 5)] [--skip-full]

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdDatastore, etcdAvailable, ResourceStore, SqliteDatastore, startEtcd } from '../../src/datastore/index.ts';
import type { Datastore } from '../../src/datastore/index.ts';
import { Ipam } from '../../src/ipam/index.ts';
import { runAllocationWorkers } from '../../src/ipam/allocation-workers.ts';
import { BRINDLE_API_VERSION } from '../../src/model/index.ts';
import { median, quantile } from '../bench-stats.ts';

const HOST_LOCAL = '/usr/lib/cni/host-local';
const RANGE = '10.99.0.0/16';

const now = (): number => performance.now();
const f = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

interface ArmResult {
  allocPerSec: number;
  releasePerSec: number;
  p99: number;
  /** Time to the 100th allocation (B8: 100 pods on one host in ≤ 2 s). */
  first100Ms: number;
  duplicates: number;
  conflicts: number;
  blocks: number;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const v = i > 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

function duplicatesOf(ips: string[]): number {
  return ips.length - new Set(ips).size;
}

async function poolStore(ds: Datastore): Promise<void> {
  await new ResourceStore(ds).create({ apiVersion: BRINDLE_API_VERSION, kind: 'IPPool', metadata: { name: 'bench' }, spec: { cidr: RANGE } });
}

// ---------------------------------------------------------------- anchor: host-local

function hostLocalCall(command: 'ADD' | 'DEL' | 'VERSION', containerId: string, conf: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(HOST_LOCAL, [], {
      env: { CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: '/var/run/netns/brindle-bench-none', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`host-local ${command} ${containerId} exited ${code}: ${out}`))));
    // VERSION exits without reading its input: a closed pipe there is not an error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(conf);
  });
}

async function hostLocalArm(dir: string, n: number): Promise<ArmResult & { execFloorMs: number }> {
  const dataDir = join(dir, `hl-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dataDir);
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'bench', ipam: { type: 'host-local', ranges: [[{ subnet: RANGE }]], dataDir } });
  // Exec floor: the same binary answering VERSION (no IPAM work), for context.
  const floor: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = now();
    await hostLocalCall('VERSION', 'v', conf);
    floor.push(now() - t);
  }
  const lat: number[] = [];
  const ips: string[] = [];
  let first100Ms = NaN;
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const t = now();
    const out = JSON.parse(await hostLocalCall('ADD', `c${i}`, conf)) as { ips: Array<{ address: string }> };
    lat.push(now() - t);
    ips.push(out.ips[0].address.split('/')[0]);
    if (i === 99) first100Ms = now() - t0;
  }
  const allocMs = now() - t0;
  const t1 = now();
  for (let i = 0; i < n; i++) await hostLocalCall('DEL', `c${i}`, conf);
  const releaseMs = now() - t1;
  rmSync(dataDir, { recursive: true, force: true });
  return {
    allocPerSec: (n / allocMs) * 1000,
    releasePerSec: (n / releaseMs) * 1000,
    p99: quantile(lat, 0.99),
    first100Ms,
    duplicates: duplicatesOf(ips),
    conflicts: 0,
    blocks: 0,
    execFloorMs: median(floor),
  };
}

// ---------------------------------------------------------------- brindle arms

async function singleHostArm(dir: string, n: number): Promise<ArmResult> {
  const path = join(dir, `single-${Math.random().toString(36).slice(2)}.db`);
  const ds = new SqliteDatastore(path);
  try {
    await poolStore(ds);
    const ipam = new Ipam(ds, { host: 'n1' });
    const lat: number[] = [];
    const ips: string[] = [];
    let first100Ms = NaN;
    const t0 = now();
    for (let i = 0; i < n; i++) {
      const t = now();
      const r = await ipam.autoAssign({ handleId: `bench.c${i}`, num4: 1, attrs: { node: 'n1' } });
      lat.push(now() - t);
      ips.push(r.ipv4[0].ip);
      if (i === 99) first100Ms = now() - t0;
    }
    const allocMs = now() - t0;
    const t1 = now();
    for (let i = 0; i < n; i++) await ipam.releaseByHandle(`bench.c${i}`);
    const releaseMs = now() - t1;
    return {
      allocPerSec: (n / allocMs) * 1000,
      releasePerSec: (n / releaseMs) * 1000,
      p99: quantile(lat, 0.99),
      first100Ms,
      duplicates: duplicatesOf(ips),
      conflicts: ipam.counters.conflicts,
      blocks: ipam.counters.blocksClaimed,
    };
  } finally {
    await ds.close();
    rmSync(path, { force: true });
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
  }
}

async function multiProcessArm(locator: string, ds: Datastore, n: number, hosts = 4): Promise<ArmResult> {
  await poolStore(ds);
  const per = Math.floor(n / hosts);
  const specs = Array.from({ length: hosts }, (_, i) => ({ host: `n${i + 1}`, count: per, handlePrefix: `bench.h${i}` }));
  const { results } = await runAllocationWorkers(locator, specs, { release: true, timeoutMs: 1_800_000 });
  const allocWall = Math.max(...results.map((r) => r.allocMs));
  const releaseWall = Math.max(...results.map((r) => r.releaseMs));
  const lat = results.flatMap((r) => r.latenciesMs);
  return {
    allocPerSec: ((per * hosts) / allocWall) * 1000,
    releasePerSec: ((per * hosts) / releaseWall) * 1000,
    p99: quantile(lat, 0.99),
    first100Ms: NaN,
    duplicates: duplicatesOf(results.flatMap((r) => r.ips)),
    conflicts: results.reduce((s, r) => s + r.counters.conflicts, 0),
    blocks: results.reduce((s, r) => s + r.counters.blocksClaimed, 0),
  };
}

async function sqliteMultiProcessArm(dir: string, n: number): Promise<ArmResult> {
  const path = join(dir, `multi-${Math.random().toString(36).slice(2)}.db`);
  const ds = new SqliteDatastore(path);
  try {
    return await multiProcessArm(`sqlite:${path}`, ds, n);
  } finally {
    await ds.close();
    for (const p of [path, `${path}-wal`, `${path}-shm`]) rmSync(p, { force: true });
  }
}

async function inProcessHostsArm(dir: string, n: number): Promise<ArmResult> {
  const path = join(dir, `inproc-${Math.random().toString(36).slice(2)}.db`);
  const ds = new SqliteDatastore(path);
  try {
    await poolStore(ds);
    const hosts = [1, 2, 3, 4].map((h) => new Ipam(ds, { host: `n${h}` }));
    const per = Math.floor(n / 4);
    const lat: number[] = [];
    const ips: string[] = [];
    const t0 = now();
    await Promise.all(
      hosts.map(async (ipam, h) => {
        for (let i = 0; i < per; i++) {
          const t = now();
          const r = await ipam.autoAssign({ handleId: `bench.h${h}.${i}`, num4: 1, attrs: { node: `n${h + 1}` } });
          lat.push(now() - t);
          ips.push(r.ipv4[0].ip);
        }
      }),
    );
    const allocMs = now() - t0;
    const t1 = now();
    await Promise.all(hosts.map(async (ipam, h) => {
      for (let i = 0; i < per; i++) await ipam.releaseByHandle(`bench.h${h}.${i}`);
    }));
    const releaseMs = now() - t1;
    return {
      allocPerSec: ((per * 4) / allocMs) * 1000,
      releasePerSec: ((per * 4) / releaseMs) * 1000,
      p99: quantile(lat, 0.99),
      first100Ms: NaN,
      duplicates: duplicatesOf(ips),
      conflicts: hosts.reduce((s, i) => s + i.counters.conflicts, 0),
      blocks: hosts.reduce((s, i) => s + i.counters.blocksClaimed, 0),
    };
  } finally {
    await ds.close();
    for (const p of [path, `${path}-wal`, `${path}-shm`]) rmSync(p, { force: true });
  }
}

// ---------------------------------------------------------------- main

function line(name: string, r: ArmResult): string {
  return (
    `${name}: ${f(r.allocPerSec)} alloc/s (p99 ${f(r.p99, 2)} ms), ${f(r.releasePerSec)} release/s, ` +
    `duplicates ${r.duplicates}, CAS retries ${r.conflicts}, blocks claimed ${r.blocks}` +
    (Number.isFinite(r.first100Ms) ? `, first 100 in ${f(r.first100Ms, 0)} ms` : '')
  );
}

async function main(): Promise<void> {
  const n = Math.floor(arg('--n', 2000));
  const rounds = Math.max(5, Math.floor(arg('--rounds', 5)));
  const skipFull = process.argv.includes('--skip-full');
  const haveHostLocal = existsSync(HOST_LOCAL);
  const started = now();
  let hlVersion = 'not installed';
  if (haveHostLocal) {
    try {
      hlVersion = execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'containernetworking-plugins'], { encoding: 'utf8' });
    } catch {
      hlVersion = 'installed (version unknown)';
    }
  }
  console.log(`# brindle IPAM benchmark (B8) — ${rounds} alternating rounds of ${n} allocations + releases per arm, medians`);
  console.log(`node ${process.version}, ${cpus().length} CPUs, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}, host-local ${hlVersion}`);
  if (!haveHostLocal) {
    console.log(`\n${HOST_LOCAL} is missing, so the anchor is skipped and brindle is measured alone.`);
    console.log('Install the reference plugins with: apt-get install containernetworking-plugins');
  }
  const dir = mkdtempSync(join(tmpdir(), 'brindle-bench-ipam-'));
  const anchor: Array<ArmResult & { execFloorMs: number }> = [];
  const single: ArmResult[] = [];
  const multi: ArmResult[] = [];
  const inproc: ArmResult[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const arms: Array<() => Promise<void>> = [
        async () => void single.push(await singleHostArm(dir, n)),
        async () => void multi.push(await sqliteMultiProcessArm(dir, n)),
        async () => void inproc.push(await inProcessHostsArm(dir, n)),
      ];
      if (haveHostLocal) arms.unshift(async () => void anchor.push(await hostLocalArm(dir, n)));
      for (let k = 0; k < arms.length; k++) await arms[(k + round) % arms.length]();
      console.log(`\nround ${round + 1}`);
      if (haveHostLocal) console.log(`  ${line('host-local (exec per call)', anchor[anchor.length - 1])}`);
      console.log(`  ${line('brindle 1 host', single[single.length - 1])}`);
      console.log(`  ${line('brindle 4 hosts, 4 processes', multi[multi.length - 1])}`);
      console.log(`  ${line('brindle 4 hosts, 1 process', inproc[inproc.length - 1])}`);
    }
  } catch (err) {
    console.log(`\nbenchmark stopped early: ${err instanceof Error ? err.stack : String(err)}`);
  }

  const med = (xs: ArmResult[], k: keyof ArmResult) => median(xs.map((x) => x[k] as number));
  const rows: string[][] = [];
  const s1 = med(single, 'allocPerSec');
  if (haveHostLocal && anchor.length > 0) {
    const a = med(anchor, 'allocPerSec');
    rows.push(['(i) allocations/s, one host', f(s1), `host-local ${f(a)}`, f(s1 / a, 2), '≥ 1.0']);
    rows.push(['releases/s, one host', f(med(single, 'releasePerSec')), `host-local ${f(med(anchor, 'releasePerSec'))}`, f(med(single, 'releasePerSec') / med(anchor, 'releasePerSec'), 2), '']);
    rows.push(['p99 per allocation (ms), one host', f(med(single, 'p99'), 2), `host-local ${f(med(anchor, 'p99'), 2)}`, f(med(single, 'p99') / med(anchor, 'p99'), 2), '≤ 5 ms']);
    rows.push(['host-local exec floor (VERSION, ms)', '', f(median(anchor.map((x) => x.execFloorMs)), 2), '', 'context']);
  } else {
    rows.push(['(i) allocations/s, one host', f(s1), 'n/a', 'n/a', '≥ 1.0× host-local']);
    rows.push(['p99 per allocation (ms), one host', f(med(single, 'p99'), 2), 'n/a', '', '≤ 5 ms']);
  }
  rows.push(['first 100 allocations, one host (ms)', f(med(single, 'first100Ms'), 0), haveHostLocal && anchor.length ? `host-local ${f(med(anchor, 'first100Ms'), 0)}` : 'n/a', '', '≤ 2000 ms']);
  rows.push(['(ii) allocations/s, 4 hosts as 4 processes', f(med(multi, 'allocPerSec')), `brindle 1 host ${f(s1)}`, f(med(multi, 'allocPerSec') / s1, 2), '≥ 0.8']);
  rows.push(['(ii) allocations/s, 4 hosts in 1 process', f(med(inproc, 'allocPerSec')), `brindle 1 host ${f(s1)}`, f(med(inproc, 'allocPerSec') / s1, 2), '≥ 0.8']);
  rows.push(['p99 per allocation (ms), 4 processes', f(med(multi, 'p99'), 2), '', '', '']);
  rows.push(['duplicates (all rounds, all arms)', String([...single, ...multi, ...inproc].reduce((s, r) => s + r.duplicates, 0)), '', '', '0']);
  rows.push(['CAS retries per round, 4 processes (median)', f(med(multi, 'conflicts'), 0), '', '', '']);

  if (!skipFull) {
    console.log('\n## Full size, once: 4 processes × 2,500 allocations from one /16 pool (no anchor)');
    try {
      const path = join(dir, 'full.db');
      const ds = new SqliteDatastore(path);
      try {
        const r = await multiProcessArm(`sqlite:${path}`, ds, 10_000);
        console.log(`  ${line('SQLite', r)}`);
        rows.push(['full size 4 × 2,500, SQLite: allocations/s', f(r.allocPerSec), '', '', `duplicates ${r.duplicates} (goal 0)`]);
      } finally {
        await ds.close();
      }
      if (etcdAvailable()) {
        const etcd = await startEtcd();
        const eds = new EtcdDatastore(etcd.url);
        try {
          const r = await multiProcessArm(`etcd:${etcd.url}`, eds, 10_000);
          console.log(`  ${line('etcd', r)}`);
          rows.push(['full size 4 × 2,500, etcd: allocations/s', f(r.allocPerSec), '', '', `duplicates ${r.duplicates} (goal 0)`]);
        } finally {
          await eds.close();
          await etcd.stop();
        }
      } else {
        console.log('  etcd: skipped, /usr/bin/etcd is not installed (apt-get install etcd-server)');
      }
    } catch (err) {
      console.log(`  full-size run stopped: ${err instanceof Error ? err.stack : String(err)}`);
    }
  }
  rmSync(dir, { recursive: true, force: true });

  console.log(`\n## Results (medians of ${single.length} rounds; ${f((now() - started) / 1000, 0)} s; command: node --import tsx bench/ipam/bench-ipam.ts --n ${n} --rounds ${rounds})\n`);
  console.log('| measure | brindle | anchor (same run) | ratio | goal |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log(
    '\nAnchor: Debian `host-local` executed once per ADD and per DEL with a /16 range, as a container runtime calls it; ' +
      'its exec floor (the same binary answering VERSION) is shown for context. brindle arm 1 calls the library in-process ' +
      '(the shape of an agent serving CNI over a local socket); the SQLite store uses synchronous=FULL, so every write is fsync’d.',
  );
}

await main();
process.exit(0);
