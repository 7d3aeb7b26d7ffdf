// B11 (shared/BENCHMARKS.md): the calc graph at cluster scale, on a simulated cluster of 1,000 hosts × 50
// pods (50,000 pods in 100 namespaces), 5,000 policies (Kubernetes, Calico namespaced and global), computing
// the desired state of one host. Measures, over several rounds:
//   1. full resync: every resource put into a fresh graph, in-sync, one flush (goal ≤ 5 s);
//   2. churn: pod changes (relabels, reschedules with a new address, local and remote) fed one per
//      update as a stream of 100 changes/s would arrive, each timed to its flushed messages (goal p99 ≤ 5 ms);
//   3. RSS with the graph built (goal ≤ 500 MiB), and the heap the graph itself holds.
// B11 has no external anchor; the incremental update is set beside the full recompute it replaces.
// Run: node --expose-gc --import tsx bench/calc/bench-calc.ts [--rounds N] [--hosts H] [--pods P] [--policies N] [--churn N]

import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CalcGraph, diffResources } from '../../src/calc/index.ts';
import type { DatastoreUpdate } from '../../src/calc/index.ts';
import type { AnyResource } from '../../src/model/index.ts';
import { median, quantile } from '../bench-stats.ts';

export interface Options {
  rounds: number;
  hosts: number;
  podsPerHost: number;
  policies: number;
  churn: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { rounds: 5, hosts: 1000, podsPerHost: 50, policies: 5000, churn: 2000 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = Number(argv[i + 1]);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${argv[i]} needs a positive integer, got ${JSON.stringify(argv[i + 1])}`);
    switch (argv[i]) {
      case '--rounds': o.rounds = Math.max(5, v); break;
      case '--hosts': o.hosts = v; break;
      case '--pods': o.podsPerHost = v; break;
      case '--policies': o.policies = v; break;
      case '--churn': o.churn = v; break;
      default: throw new Error(`unknown option ${JSON.stringify(argv[i])} (--rounds, --hosts, --pods, --policies, --churn)`);
    }
  }
  return o;
}

/** Deterministic pseudo-random numbers, so every round and every run sees the same cluster and churn. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const NAMESPACES = 100;
const APPS = 500;
const TIERS = ['frontend', 'backend', 'db', 'cache', 'batch'];

function podIp(host: number, slot: number): string {
  // Pool 10.96.0.0/16 in /26 blocks, one block per host (64 addresses ≥ 50 pods).
  const n = host * 64 + slot;
  return `10.96.${Math.floor(n / 256)}.${n % 256}`;
}

function podLabels(r: () => number, app: number): Record<string, string> {
  return { app: `app-${app}`, tier: TIERS[app % TIERS.length], version: `v${Math.floor(r() * 3)}` };
}

function makePod(ns: number, name: string, host: number, slot: number, labels: Record<string, string>): AnyResource {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: `ns-${ns}`, labels },
    spec: { nodeName: `host-${host}`, serviceAccountName: 'default', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] },
    status: { podIP: podIp(host, slot), podIPs: [{ ip: podIp(host, slot) }] },
  };
}

export interface Cluster {
  resources: AnyResource[];
  pods: AnyResource[];
}

export function buildCluster(o: Options): Cluster {
  const r = rng(11);
  const resources: AnyResource[] = [
    { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'pool' }, spec: { cidr: '10.96.0.0/16', blockSize: 26, vxlanMode: 'Never' } },
    { apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name: 'security' }, spec: { order: 100 } },
  ];
  for (let i = 0; i < NAMESPACES; i++) {
    resources.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${i}`, labels: { team: `team-${i % 10}`, env: i % 3 === 0 ? 'prod' : 'dev', 'kubernetes.io/metadata.name': `ns-${i}` } }, spec: {} });
  }
  for (let h = 0; h < o.hosts; h++) {
    resources.push({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: `host-${h}` }, spec: { bgp: { ipv4Address: `172.16.${Math.floor(h / 250)}.${(h % 250) + 1}/16` } } });
  }
  const pods: AnyResource[] = [];
  for (let h = 0; h < o.hosts; h++) {
    for (let s = 0; s < o.podsPerHost; s++) {
      const app = Math.floor(r() * APPS);
      pods.push(makePod(app % NAMESPACES, `pod-${h}-${s}`, h, s, podLabels(r, app)));
    }
  }
  resources.push(...pods);
  // Policies: 60% Kubernetes NetworkPolicy, 30% Calico NetworkPolicy, 10% GlobalNetworkPolicy.
  for (let p = 0; p < o.policies; p++) {
    const app = Math.floor(r() * APPS);
    const peer = Math.floor(r() * APPS);
    const ns = `ns-${app % NAMESPACES}`;
    const kind = p % 10;
    if (kind < 6) {
      resources.push({
        apiVersion: 'networking.k8s.io/v1', kind: 'KubernetesNetworkPolicy', metadata: { name: `knp-${p}`, namespace: ns },
        spec: {
          podSelector: { matchLabels: { app: `app-${app}` } },
          policyTypes: p % 4 === 0 ? ['Ingress', 'Egress'] : ['Ingress'],
          ingress: [
            { from: [{ podSelector: { matchLabels: { app: `app-${peer}` } } }, { namespaceSelector: { matchLabels: { team: `team-${p % 10}` } }, podSelector: { matchLabels: { tier: 'frontend' } } }], ports: [{ protocol: 'TCP', port: 8080 }, { protocol: 'TCP', port: 'http' }] },
          ],
          ...(p % 4 === 0 ? { egress: [{ to: [{ ipBlock: { cidr: '10.96.0.0/16', except: [`10.96.${p % 250}.0/24`] } }], ports: [{ protocol: 'UDP', port: 53 }] }] } : {}),
        },
      });
    } else if (kind < 9) {
      resources.push({
        apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name: `np-${p}`, namespace: ns },
        spec: {
          order: p % 100, selector: `app == "app-${app}"`, types: ['Ingress', 'Egress'],
          ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: `tier == "${TIERS[p % TIERS.length]}"` }, destination: { ports: [8080] } }],
          egress: [{ action: 'Allow', destination: { selector: `app == "app-${peer}"`, namespaceSelector: `team == "team-${p % 10}"` } }, { action: 'Deny' }],
        },
      });
    } else {
      resources.push({
        apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: `security.gnp-${p}` },
        spec: {
          tier: 'security', order: p, selector: `tier == "${TIERS[p % TIERS.length]}" && version == "v${p % 3}"`,
          ingress: [{ action: 'Deny', source: { nets: [`192.168.${p % 256}.0/24`] } }, { action: 'Pass' }],
        },
      });
    }
  }
  return { resources, pods };
}

/** A stream of pod changes: relabels (most), reschedules to a new host and address, some on the local host. */
export function buildChurn(cluster: Cluster, o: Options, seed: number): DatastoreUpdate[] {
  const r = rng(seed);
  const out: DatastoreUpdate[] = [];
  const current = new Map(cluster.pods.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]));
  const keys = [...current.keys()];
  const localKeys = keys.filter((k) => (current.get(k) as AnyResource & { spec: { nodeName: string } }).spec.nodeName === 'host-0');
  let extra = 0;
  for (let i = 0; i < o.churn; i++) {
    // Every tenth change hits a pod of the local host (its endpoint and policies change, not only sets).
    const pool = i % 10 === 0 && localKeys.length > 0 ? localKeys : keys;
    const idx = Math.floor(r() * pool.length);
    const key = pool[idx];
    const old = current.get(key) as AnyResource;
    const roll = r();
    if (roll < 0.8) {
      const app = Math.floor(r() * APPS);
      const next = { ...old, metadata: { ...old.metadata, labels: podLabels(r, app) } } as AnyResource;
      current.set(key, next);
      out.push({ type: 'put', resource: next });
    } else {
      // Rescheduled: the old pod goes, a new one starts elsewhere with a fresh address (a spare slot).
      out.push({ type: 'delete', kind: 'Pod', namespace: old.metadata.namespace, name: old.metadata.name });
      current.delete(key);
      const host = Math.floor(r() * o.hosts);
      const slot = o.podsPerHost + (extra++ % (64 - o.podsPerHost));
      const app = Math.floor(r() * APPS);
      const name = `${old.metadata.name}-r${i}`;
      const next = makePod(app % NAMESPACES, name, host, slot, podLabels(r, app));
      out.push({ type: 'put', resource: next });
      const newKey = `${next.metadata.namespace}/${name}`;
      current.set(newKey, next);
      // The new pod takes the old one's place in the list it was picked from (and in the other, if there).
      pool[idx] = newKey;
      if (pool !== keys) keys[keys.indexOf(key)] = newKey;
      else if (localKeys.includes(key)) localKeys.splice(localKeys.indexOf(key), 1);
      if (host === 0 && pool !== localKeys) localKeys.push(newKey);
    }
  }
  return out;
}

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

const mib = (bytes: number): number => bytes / 1024 / 1024;
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

function resync(cluster: Cluster): { graph: CalcGraph; ms: number; cpuMs: number; messages: number } {
  const updates = diffResources([], cluster.resources);
  const c = process.cpuUsage();
  const t = now();
  const graph = new CalcGraph({ hostname: 'host-0' });
  const msgs = graph.apply([...updates, { type: 'in-sync' }]);
  const ms = now() - t;
  const cpu = process.cpuUsage(c);
  return { graph, ms, cpuMs: (cpu.user + cpu.system) / 1000, messages: msgs.length };
}

/** Whether a churn update concerns a pod of the local host (before or after the change). */
function isLocal(u: DatastoreUpdate, localNames: Set<string>): boolean {
  if (u.type === 'delete') return localNames.has(`${u.namespace}/${u.name}`);
  if (u.type !== 'put') return false;
  const r = u.resource as AnyResource & { spec?: { nodeName?: string } };
  return r.spec?.nodeName === 'host-0' || localNames.has(`${r.metadata.namespace}/${r.metadata.name}`);
}

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  gc();
  const baseRss = process.memoryUsage().rss;
  const cluster = buildCluster(o);
  console.log(`B11 calc graph: ${o.hosts} hosts × ${o.podsPerHost} pods = ${cluster.pods.length} pods, ${o.policies} policies, ` +
    `${cluster.resources.length} resources; host-0's state; ${o.rounds} rounds; churn ${o.churn} pod changes per round`);
  if (!(globalThis as { gc?: unknown }).gc) console.log('(run with node --expose-gc for heap figures after collection)');

  const resyncMs: number[] = [];
  const resyncCpu: number[] = [];
  const localP99: number[] = [];
  const remoteP99: number[] = [];
  const p50s: number[] = [];
  const p99s: number[] = [];
  const maxes: number[] = [];
  const rates: number[] = [];
  let rss = 0;
  let graphHeap = 0;
  let stats = '';
  for (let round = 0; round < o.rounds; round++) {
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const { graph, ms, cpuMs, messages } = resync(cluster);
    resyncMs.push(ms);
    resyncCpu.push(cpuMs);
    gc();
    const mem = process.memoryUsage();
    rss = Math.max(rss, mem.rss);
    graphHeap = Math.max(graphHeap, mem.heapUsed - heapBefore);
    const s = graph.stats();
    stats = `${messages} messages; ${s.localEndpoints} local endpoints, ${s.activePolicies} active policies, ${s.ipSets} IP sets, ${s.routes} routes, ${s.holders} label holders`;

    const churn = buildChurn(cluster, o, 100 + round);
    const localNames = new Set(cluster.pods.filter((p) => (p as AnyResource & { spec: { nodeName: string } }).spec.nodeName === 'host-0').map((p) => `${p.metadata.namespace}/${p.metadata.name}`));
    const lat: number[] = [];
    const latLocal: number[] = [];
    const latRemote: number[] = [];
    const t0 = now();
    for (const u of churn) {
      const local = isLocal(u, localNames);
      if (u.type === 'put' && local) localNames.add(`${u.resource.metadata.namespace}/${u.resource.metadata.name}`);
      const t = now();
      graph.apply([u]);
      const d = now() - t;
      lat.push(d);
      (local ? latLocal : latRemote).push(d);
    }
    localP99.push(quantile(latLocal, 0.99));
    remoteP99.push(quantile(latRemote, 0.99));
    const elapsed = now() - t0;
    p50s.push(quantile(lat, 0.5));
    p99s.push(quantile(lat, 0.99));
    maxes.push(Math.max(...lat));
    rates.push((churn.length / elapsed) * 1000);
    console.log(`  round ${round + 1}: resync ${ms.toFixed(0)} ms (cpu ${cpuMs.toFixed(0)} ms); churn p50 ${quantile(lat, 0.5).toFixed(3)} ms, p99 ${quantile(lat, 0.99).toFixed(3)} ms, max ${Math.max(...lat).toFixed(1)} ms, ${((churn.length / elapsed) * 1000).toFixed(0)} updates/s`);
  }
  const resyncMed = median(resyncMs);
  const p99 = median(p99s);
  console.log(`  state: ${stats}`);
  console.log(`  machine: ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} (other work inflates wall times)`);
  console.log('');
  console.log('| measure | median of rounds | goal | met |');
  console.log('| --- | --- | --- | --- |');
  console.log(`| full resync (${cluster.resources.length} updates → flush) | ${(resyncMed / 1000).toFixed(2)} s | ≤ 5 s | ${resyncMed <= 5000 ? 'yes' : 'no'} |`);
  console.log(`| per-update p99 (one pod change → messages) | ${p99.toFixed(3)} ms | ≤ 5 ms | ${p99 <= 5 ? 'yes' : 'no'} |`);
  console.log(`| full resync, CPU time (less sensitive to other load) | ${(median(resyncCpu) / 1000).toFixed(2)} s | | |`);
  console.log(`| per-update p99, changes of local pods (1 in 10 of the churn) | ${median(localP99).toFixed(3)} ms | | |`);
  console.log(`| per-update p99, changes of remote pods | ${median(remoteP99).toFixed(3)} ms | | |`);
  console.log(`| per-update p50 | ${median(p50s).toFixed(3)} ms | | |`);
  console.log(`| per-update max | ${median(maxes).toFixed(1)} ms | | |`);
  console.log(`| sustained pod changes/s (one at a time) | ${median(rates).toFixed(0)} | ≥ 100 | ${median(rates) >= 100 ? 'yes' : 'no'} |`);
  console.log(`| RSS with graph and cluster model (peak) | ${mib(rss).toFixed(0)} MiB | ≤ 500 MiB | ${mib(rss) <= 500 ? 'yes' : 'no'} |`);
  console.log(`| heap held by one graph | ${mib(graphHeap).toFixed(0)} MiB | | |`);
  console.log(`| RSS before the cluster model was built | ${mib(baseRss).toFixed(0)} MiB | | |`);
  console.log(`| incremental vs full recompute (resync / p99) | ${(resyncMed / p99).toFixed(0)}× | | |`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
