// The Kubernetes NetworkPolicy conformance cases (shared/conformance) on the real kernel: the x/y/z × a/b/c
// pods are namespaces wired into one throwaway host, each case's resources go through the calc graph,
// its dataplane messages through the nftables driver, and every probe is a real TCP or UDP connection.
// Each cell is checked against the case's expected matrix and against the reference evaluator (the policy
// trace). SCTP probes are skipped (this kernel has no SCTP sockets).
//
//   case YAML ──SimulatedCluster──► resources ──CalcGraph('*')──► messages (+ interface names) ──► NftablesDriver
//            ──probes (nsenter node clients)──► observed matrix  vs  expected matrix, evaluator
//
// Run: node --import tsx bench/dataplane/kernel-conformance.ts [--only ID,ID...]   (exit 0 always; prints a table)

import { readFileSync } from 'node:fs';
import { CalcGraph, SimulatedCluster, diffResources, matrixFromRules, parseConformanceFile } from '../../src/calc/index.ts';
import type { ConformanceCase, ConformanceFile, DatastoreUpdate, Probe } from '../../src/calc/index.ts';
import type { AnyResource } from '../../src/model/index.ts';
import type { DataplaneMessage } from '../../src/dataplane-api/index.ts';
import { NftablesDriver, createLab } from '../../src/dataplane/index.ts';
import type { Lab } from '../../src/dataplane/index.ts';
import { ProcessRunner } from '../../src/os/index.ts';

export const CASES_FILE = new URL('../../../shared/conformance/k8s-netpol-cases.yaml', import.meta.url);

export interface KernelCaseResult {
  id: string;
  cells: number;
  /** Cells where the kernel disagreed with the case's expected matrix. */
  mismatches: string[];
  /** Cells where the kernel disagreed with the reference evaluator. */
  traceMismatches: string[];
  skippedProbes: number;
  error?: string;
}

function ifaceOf(key: string): string {
  return `brvcf${key.replace('/', '')}`;
}

/** A host with the model's nine pods, serving 80 and 81 over TCP and UDP. */
export async function createConformanceLab(file: ConformanceFile, runner = new ProcessRunner()): Promise<Lab> {
  const lab = await createLab(runner);
  try {
    const cluster = new SimulatedCluster(file.model);
    for (const key of file.model.columns) {
      await lab.addPod({ name: key, v4: cluster.podIp(key), iface: ifaceOf(key) });
      await lab.startServer(key, { tcp: [80, 81], udp: [80, 81] });
    }
  } catch (err) {
    await lab.close();
    throw err;
  }
  return lab;
}

/** Endpoints of simulated pods carry no interface; give each the one its namespace is wired to. */
function withInterfaces(msgs: DataplaneMessage[]): DataplaneMessage[] {
  return msgs.map((m) => (m.type === 'WorkloadEndpointUpdate'
    ? { ...m, endpoint: { ...m.endpoint, interfaceName: ifaceOf(`${m.endpoint.namespace}/${m.endpoint.pod ?? m.endpoint.name}`) } }
    : m));
}

export async function runKernelCase(lab: Lab, file: ConformanceFile, c: ConformanceCase, runner = new ProcessRunner()): Promise<KernelCaseResult> {
  const result: KernelCaseResult = { id: c.id, cells: 0, mismatches: [], traceMismatches: [], skippedProbes: 0 };
  try {
    const cluster = new SimulatedCluster(file.model);
    const graph = new CalcGraph({ hostname: '*' });
    // A fresh driver per case: its first programming reads the previous case's table back and repairs it.
    const driver = new NftablesDriver({ runner, netns: lab.hostPath });
    let fed: AnyResource[] = [];
    const sync = async (first: boolean): Promise<void> => {
      const resources = cluster.resources();
      const updates: DatastoreUpdate[] = [...diffResources(fed, resources), ...(first ? [{ type: 'in-sync' as const }] : [])];
      fed = resources;
      await driver.apply(withInterfaces(graph.apply(updates)));
    };
    const policies = [...(c.policies ?? [])].map((p, i) => ({ p, i }))
      .sort((a, b) => Number(b.p.kind === 'Tier') - Number(a.p.kind === 'Tier') || a.i - b.i);
    for (const { p, i } of policies) cluster.applyObject(p, `${c.id} policies[${i}]`);
    await sync(true);
    const probe = async (pr: Probe, step: number): Promise<void> => {
      const proto = pr.protocol.toLowerCase();
      if (proto !== 'tcp' && proto !== 'udp') { result.skippedProbes++; return; }
      const cols = pr.columns ?? pr.expect.columns ?? file.model.columns;
      const expected = pr.expect.matrix ?? matrixFromRules(pr.expect, cols);
      const ev = cluster.evaluatorNow();
      await Promise.all(Object.keys(expected).map(async (from) => {
        const targets = cols.map((to, i) => ({ to, want: String(expected[from])[i] })).filter((x) => x.to !== from && x.want !== '-');
        const got = await lab.probe(from, targets.map((x) => ({ to: cluster.podIp(x.to), proto, port: pr.port })));
        got.forEach((g, i) => {
          const { to, want } = targets[i];
          const cell = `step ${step} ${proto}/${pr.port} ${from} -> ${to}`;
          result.cells++;
          if (g.ok !== (want === '.')) result.mismatches.push(`${cell}: kernel ${g.ok ? 'allowed' : 'denied'}, case expects ${want === '.' ? 'allow' : 'deny'}`);
          const traced = ev.evaluate({ from, to, protocol: pr.protocol, port: pr.port }).allowed;
          if (g.ok !== traced) result.traceMismatches.push(`${cell}: kernel ${g.ok ? 'allowed' : 'denied'}, trace ${traced ? 'allows' : 'denies'}`);
        });
      }));
    };
    for (const pr of c.probes ?? []) await probe(pr, 0);
    for (const [si, step] of (c.steps ?? []).entries()) {
      step.actions.forEach((a, ai) => cluster.applyAction(a, `${c.id} steps[${si}].actions[${ai}]`));
      await sync(false);
      for (const pr of step.probes ?? []) await probe(pr, si + 1);
    }
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
  }
  return result;
}

export function loadCases(): ConformanceFile {
  return parseConformanceFile(readFileSync(CASES_FILE, 'utf8'));
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--only');
  const only = i >= 0 ? new Set(process.argv[i + 1].split(',')) : undefined;
  const file = loadCases();
  const cases = file.cases.filter((c) => !only || only.has(c.id));
  console.log(`# NetworkPolicy conformance on the kernel: ${cases.length} cases, nftables driver, real TCP/UDP probes`);
  const lab = await createConformanceLab(file);
  const started = performance.now();
  let failedCases = 0;
  let cells = 0;
  try {
    for (const c of cases) {
      const r = await runKernelCase(lab, file, c);
      cells += r.cells;
      const bad = r.error !== undefined || r.mismatches.length > 0 || r.traceMismatches.length > 0;
      if (bad) failedCases++;
      console.log(`${bad ? 'FAIL' : 'ok  '} ${r.id}: ${r.cells} cells${r.skippedProbes ? `, ${r.skippedProbes} SCTP probes skipped` : ''}${r.error ? `, error: ${r.error}` : ''}`);
      for (const m of [...r.mismatches, ...r.traceMismatches].slice(0, 10)) console.log(`     ${m}`);
    }
  } finally {
    await lab.close();
  }
  console.log(`\n${cases.length - failedCases}/${cases.length} cases agree with their matrices and the trace (${cells} cells, ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  main().then(() => process.exit(0), (err) => { console.error(err); process.exit(0); });
}
