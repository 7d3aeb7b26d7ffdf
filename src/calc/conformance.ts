// Simulated connectivity test: runs cases in the format of shared/conformance/README.md (the x/y/z × a/b/c
// model, policies, steps, probes with full or compact expected matrices) through the reference evaluator,
// with synthetic pod IPs and no kernel. Every object goes through the same validation and defaulting as
// `brindlectl apply`. `brindlectl connectivity test --simulate` prints what this returns.

import { parse as parseYaml } from 'yaml';
import { blockOf, InvalidError, parseIp } from '../lib/index.ts';
import { applyDefaults, kindForManifest, kindInfo, validateResource } from '../model/index.ts';
import type { AnyResource, KindName, Labels } from '../model/index.ts';
import { DesiredState } from '../dataplane-api/index.ts';
import { CalcGraph, diffResources } from './calc-graph.ts';
import { PolicyEvaluator } from './evaluator.ts';
import { isPolicyKind } from './policy-model.ts';

export interface ServedPort {
  port: number;
  protocol: string;
  name: string;
}

export interface ConformanceModel {
  namespaces: Record<string, Labels>;
  pods: string[];
  columns: string[];
  served: ServedPort[];
}

export interface ExpectRule {
  from: string | string[];
  to: string | string[];
  allow: boolean;
}

export interface ProbeExpect {
  matrix?: Record<string, string>;
  default?: 'allow' | 'deny';
  rules?: ExpectRule[];
  columns?: string[];
  summary?: string;
}

export interface Probe {
  protocol: string;
  port: number;
  expect: ProbeExpect;
  columns?: string[];
}

export interface CaseAction {
  action: string;
  [field: string]: unknown;
}

export interface CaseStep {
  description?: string;
  actions: CaseAction[];
  probes: Probe[];
}

export interface ConformanceCase {
  id: string;
  name?: string;
  requires?: string[];
  policies?: Array<Record<string, unknown>>;
  probes?: Probe[];
  steps?: CaseStep[];
}

export interface ConformanceFile {
  model: ConformanceModel;
  cases: ConformanceCase[];
}

export interface CellMismatch {
  from: string;
  to: string;
  expected: 'allow' | 'deny';
  observed: 'allow' | 'deny';
}

export interface ProbeResult {
  /** 0 = the case's initial probes; n = after step n. */
  step: number;
  stepDescription?: string;
  protocol: string;
  port: number;
  columns: string[];
  rows: string[];
  expected: string[];
  observed: string[];
  passed: number;
  failed: number;
  skipped: number;
  mismatches: CellMismatch[];
}

export interface CaseResult {
  id: string;
  name?: string;
  passed: number;
  failed: number;
  skipped: number;
  probes: ProbeResult[];
  /** Set when the case could not be run at all (bad policy, unknown action): the case fails. */
  error?: string;
}

function fail(path: string, msg: string): never {
  throw new InvalidError(path, msg);
}

function asRecord(v: unknown, path: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(path, 'expected a mapping');
  return v as Record<string, unknown>;
}

/** Reads a cases file; throws InvalidError naming the field that does not fit the format. */
export function parseConformanceFile(text: string): ConformanceFile {
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    fail('', `cases file is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const root = asRecord(doc, '');
  const m = asRecord(root.model, 'model');
  const namespaces: Record<string, Labels> = {};
  for (const [ns, labels] of Object.entries(asRecord(m.namespaces, 'model.namespaces'))) {
    namespaces[ns] = Object.fromEntries(Object.entries(asRecord(labels ?? {}, `model.namespaces.${ns}`)).map(([k, v]) => [k, String(v)]));
  }
  const pods = asRecord(m.pods, 'model.pods').names;
  if (!Array.isArray(pods)) fail('model.pods.names', 'expected a list of pod names');
  if (!Array.isArray(m.columns)) fail('model.columns', 'expected a list of ns/pod keys');
  const served = Array.isArray(m.served) ? (m.served as ServedPort[]) : [];
  if (!Array.isArray(root.cases)) fail('cases', 'expected a list of cases');
  const cases = root.cases as ConformanceCase[];
  cases.forEach((c, i) => {
    if (!c || typeof c.id !== 'string') fail(`cases[${i}].id`, 'required');
  });
  return { model: { namespaces, pods: pods.map(String), columns: (m.columns as unknown[]).map(String), served }, cases };
}

// ---------------------------------------------------------------------------------------------------
// Expected matrices

function patternMatches(pattern: string, key: string): boolean {
  if (pattern === '*') return true;
  const [pns, ppod] = pattern.split('/');
  const [kns, kpod] = key.split('/');
  return (pns === '*' || pns === kns) && (ppod === '*' || ppod === kpod);
}

/** The compact form (`default` + ordered `rules`, later rules win) as one row string per client. */
export function matrixFromRules(expect: ProbeExpect, columns: string[]): Record<string, string> {
  const def = expect.default === 'deny' ? 'X' : '.';
  const out: Record<string, string> = {};
  for (const from of columns) {
    const row = columns.map((to) => {
      if (to === from) return '-';
      let cell = def;
      for (const r of expect.rules ?? []) {
        const froms = Array.isArray(r.from) ? r.from : [r.from];
        const tos = Array.isArray(r.to) ? r.to : [r.to];
        if (froms.some((p) => patternMatches(p, from)) && tos.some((p) => patternMatches(p, to))) cell = r.allow ? '.' : 'X';
      }
      return cell;
    });
    out[from] = row.join('');
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The simulated cluster

interface PodInfo {
  ns: string;
  name: string;
  ip: string;
  labels: Labels;
}

const MODEL_LABEL = 'kubernetes.io/metadata.name';

/**
 * `graph` (default): the incremental calc graph for a whole-cluster host ('*') is fed the changes of every
 * step and the evaluator walks its output; `snapshot`: the state is recomputed from scratch at each step.
 */
export type ConformanceEngine = 'graph' | 'snapshot';

export class SimulatedCluster {
  private readonly nsLabels = new Map<string, Labels>();
  private readonly pods = new Map<string, PodInfo>();
  private readonly policies = new Map<string, AnyResource>();
  private readonly served: ServedPort[];
  private nextHost = 10;
  private readonly nsIndex = new Map<string, number>();
  private evaluator: PolicyEvaluator | undefined;
  private readonly engine: ConformanceEngine;
  private readonly graph = new CalcGraph({ hostname: '*' });
  private readonly mirror = new DesiredState();
  private fed: AnyResource[] = [];

  constructor(model: ConformanceModel, engine: ConformanceEngine = 'graph') {
    this.engine = engine;
    this.served = model.served;
    for (const [ns, labels] of Object.entries(model.namespaces)) this.createNamespace(ns, labels);
    for (const ns of Object.keys(model.namespaces)) {
      for (const pod of model.pods) this.createPod(ns, pod, { pod });
    }
  }

  private touch(): void {
    this.evaluator = undefined;
  }

  createNamespace(ns: string, labels: Labels): void {
    if (!this.nsIndex.has(ns)) this.nsIndex.set(ns, this.nsIndex.size + 1);
    this.nsLabels.set(ns, { ...labels, [MODEL_LABEL]: ns });
    this.touch();
  }

  deleteNamespace(ns: string): void {
    if (!this.nsLabels.delete(ns)) fail('namespace', `namespace "${ns}" does not exist`);
    for (const [k, p] of this.pods) if (p.ns === ns) this.pods.delete(k);
    for (const [k, r] of this.policies) if (r.metadata.namespace === ns) this.policies.delete(k);
    this.touch();
  }

  setNamespaceLabels(ns: string, labels: Labels, merge: boolean): void {
    const cur = this.nsLabels.get(ns);
    if (!cur) fail('namespace', `namespace "${ns}" does not exist`);
    // kubernetes.io/metadata.name is set by the API server and cannot be changed.
    this.nsLabels.set(ns, { ...(merge ? cur : {}), ...labels, [MODEL_LABEL]: ns });
    this.touch();
  }

  createPod(ns: string, name: string, labels: Labels): void {
    if (!this.nsLabels.has(ns)) fail('pod', `namespace "${ns}" of pod "${ns}/${name}" does not exist`);
    const idx = this.nsIndex.get(ns) as number;
    // 10.244.<ns>.<n>: every pod in one /16, and all in the /4 the ipBlock-except cases assume.
    const ip = `10.244.${idx}.${this.nextHost++}`;
    this.pods.set(`${ns}/${name}`, { ns, name, ip, labels: { ...labels } });
    this.touch();
  }

  deletePod(key: string): void {
    if (!this.pods.delete(key)) fail('pod', `pod "${key}" does not exist`);
    this.touch();
  }

  setPodLabels(key: string, labels: Labels, merge: boolean): void {
    const p = this.pods.get(key);
    if (!p) fail('pod', `pod "${key}" does not exist`);
    p.labels = { ...(merge ? p.labels : {}), ...labels };
    this.touch();
  }

  podIp(key: string): string {
    const p = this.pods.get(key);
    if (!p) fail('template', `pod "${key}" does not exist`);
    return p.ip;
  }

  /** Substitutes ${host:NS/POD} and ${net:NS/POD:BITS} in every string of an object. */
  expandTemplates<T>(value: T): T {
    if (typeof value === 'string') {
      return value.replace(/\$\{(host|net):([^}:]+)(?::(\d+))?\}/g, (_m, kind: string, key: string, bits?: string) => {
        const ip = this.podIp(key);
        const full = parseIp(ip).family === 4 ? 32 : 128;
        if (kind === 'host') return `${ip}/${full}`;
        if (bits === undefined) fail('template', `\${net:${key}} needs :BITS`);
        return blockOf(ip, Number(bits)).text;
      }) as T;
    }
    if (Array.isArray(value)) return value.map((v) => this.expandTemplates(v)) as T;
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.expandTemplates(v)])) as T;
    }
    return value;
  }

  private static key(r: AnyResource): string {
    const ns = kindInfo(r.kind).namespaced ? (r.metadata.namespace ?? 'default') : '';
    return `${r.kind}/${ns}/${r.metadata.name}`;
  }

  /** Validates, defaults and stores (creates or replaces) one object of any kind brindle accepts. */
  applyObject(raw: Record<string, unknown>, where: string): AnyResource {
    const expanded = this.expandTemplates(raw);
    const validated = validateResource(expanded, { source: where, index: 1 });
    const r = applyDefaults(validated);
    if (kindInfo(r.kind).namespaced && !r.metadata.namespace) r.metadata.namespace = 'default';
    if (!isPolicyKind(r.kind) && !['Tier', 'NetworkSet', 'GlobalNetworkSet', 'Profile'].includes(r.kind)) {
      fail('kind', `${where}: the simulated runner applies policies, tiers, profiles and network sets, not ${r.kind}`);
    }
    this.policies.set(SimulatedCluster.key(r), r);
    this.touch();
    return r;
  }

  deleteObject(kind: KindName, namespace: string | undefined, name: string): void {
    const ns = kindInfo(kind).namespaced ? (namespace ?? 'default') : '';
    if (!this.policies.delete(`${kind}/${ns}/${name}`)) fail('delete-policy', `${kind} "${ns ? `${ns}/` : ''}${name}" does not exist`);
    this.touch();
  }

  deleteAllPolicies(): void {
    for (const [k, r] of this.policies) if (isPolicyKind(r.kind) && r.metadata.namespace !== undefined) this.policies.delete(k);
    this.touch();
  }

  resources(): AnyResource[] {
    const out: AnyResource[] = [];
    for (const [ns, labels] of this.nsLabels) {
      out.push(applyDefaults(validateResource({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } }, { source: 'model', index: 1 })));
    }
    for (const p of this.pods.values()) {
      const raw = {
        apiVersion: 'v1', kind: 'Pod',
        metadata: { name: p.name, namespace: p.ns, labels: p.labels },
        spec: { nodeName: 'sim', containers: [{ name: 'serve', ports: this.served.map((s) => ({ name: s.name, containerPort: s.port, protocol: s.protocol })) }] },
        status: { podIP: p.ip, podIPs: [{ ip: p.ip }], phase: 'Running' },
      };
      out.push(applyDefaults(validateResource(raw, { source: 'model', index: 1 })));
    }
    out.push(...this.policies.values());
    return out;
  }

  evaluatorNow(): PolicyEvaluator {
    if (this.evaluator) return this.evaluator;
    const resources = this.resources();
    if (this.engine === 'snapshot') {
      this.evaluator = new PolicyEvaluator(resources);
    } else {
      this.mirror.applyAll(this.graph.apply(diffResources(this.fed, resources)));
      this.fed = resources;
      this.evaluator = new PolicyEvaluator(this.mirror, { problems: this.graph.problems() });
    }
    return this.evaluator;
  }

  hasPod(key: string): boolean {
    return this.pods.has(key);
  }

  applyAction(a: CaseAction, where: string): void {
    const str = (field: string): string => {
      const v = a[field];
      if (typeof v !== 'string' || v === '') fail(`${where}.${field}`, `required for action "${a.action}"`);
      return v;
    };
    const labels = (): Labels => Object.fromEntries(Object.entries(asRecord(a.labels ?? {}, `${where}.labels`)).map(([k, v]) => [k, String(v)]));
    switch (a.action) {
      case 'create-policy':
      case 'update-policy':
        this.applyObject(asRecord(a.policy, `${where}.policy`), `${where}.policy`);
        return;
      case 'delete-policy': {
        let kind: KindName = 'KubernetesNetworkPolicy';
        if (typeof a.kind === 'string') {
          const info = kindForManifest(typeof a.apiVersion === 'string' ? a.apiVersion : 'networking.k8s.io/v1', a.kind);
          if (!info) fail(`${where}.kind`, `unknown kind "${a.kind}" for apiVersion "${String(a.apiVersion)}"`);
          kind = info.kind;
        }
        this.deleteObject(kind, typeof a.namespace === 'string' ? a.namespace : undefined, str('name'));
        return;
      }
      case 'delete-all-policies': this.deleteAllPolicies(); return;
      case 'add-pod-labels': this.setPodLabels(str('pod'), labels(), true); return;
      case 'set-pod-labels': this.setPodLabels(str('pod'), labels(), false); return;
      case 'add-namespace-labels': this.setNamespaceLabels(str('namespace'), labels(), true); return;
      case 'set-namespace-labels': this.setNamespaceLabels(str('namespace'), labels(), false); return;
      case 'create-namespace': this.createNamespace(str('namespace'), labels()); return;
      case 'delete-namespace': this.deleteNamespace(str('namespace')); return;
      case 'create-pod': {
        const key = str('pod');
        const [ns, name] = key.split('/');
        this.createPod(ns, name, labels());
        return;
      }
      case 'delete-pod': this.deletePod(str('pod')); return;
      default:
        fail(`${where}.action`, `unknown action "${a.action}"`);
    }
  }
}

function runProbe(cluster: SimulatedCluster, probe: Probe, columns: string[], step: number, stepDescription?: string): ProbeResult {
  const cols = probe.columns ?? probe.expect.columns ?? columns;
  const expectedMatrix = probe.expect.matrix ?? matrixFromRules(probe.expect, cols);
  const rows = Object.keys(expectedMatrix);
  const ev = cluster.evaluatorNow();
  const observed: string[] = [];
  const expected: string[] = [];
  const mismatches: CellMismatch[] = [];
  let passed = 0;
  let failed = 0;
  // Nothing is skipped in simulation (SCTP needs no sockets); the lab runner fills this in.
  const skipped = 0;
  for (const from of rows) {
    const exp = String(expectedMatrix[from]);
    expected.push(exp);
    let row = '';
    cols.forEach((to, i) => {
      const want = exp[i];
      // Loopback is never asserted (upstream ignores it), so it is not counted either.
      if (from === to || want === '-') { row += '-'; return; }
      const allowed = cluster.hasPod(from) && cluster.hasPod(to)
        && ev.evaluate({ from, to, protocol: probe.protocol, port: probe.port }).allowed;
      row += allowed ? '.' : 'X';
      if ((want === '.') === allowed) passed++;
      else {
        failed++;
        mismatches.push({ from, to, expected: want === '.' ? 'allow' : 'deny', observed: allowed ? 'allow' : 'deny' });
      }
    });
    observed.push(row);
  }
  return {
    step, ...(stepDescription ? { stepDescription } : {}),
    protocol: probe.protocol, port: probe.port, columns: cols, rows, expected, observed, passed, failed, skipped, mismatches,
  };
}

export function runConformanceCase(file: ConformanceFile, c: ConformanceCase, engine: ConformanceEngine = 'graph'): CaseResult {
  const result: CaseResult = { id: c.id, ...(c.name ? { name: c.name } : {}), passed: 0, failed: 0, skipped: 0, probes: [] };
  const add = (p: ProbeResult) => {
    result.probes.push(p);
    result.passed += p.passed;
    result.failed += p.failed;
    result.skipped += p.skipped;
  };
  try {
    const cluster = new SimulatedCluster(file.model, engine);
    // Tiers first, so the policies that use them find them (as `brindlectl apply` orders a batch).
    const policies = [...(c.policies ?? [])].map((p, i) => ({ p, i }))
      .sort((a, b) => Number(b.p.kind === 'Tier') - Number(a.p.kind === 'Tier') || a.i - b.i);
    for (const { p, i } of policies) cluster.applyObject(p, `${c.id} policies[${i}]`);
    for (const probe of c.probes ?? []) add(runProbe(cluster, probe, file.model.columns, 0));
    (c.steps ?? []).forEach((step, si) => {
      step.actions.forEach((a, ai) => cluster.applyAction(a, `${c.id} steps[${si}].actions[${ai}]`));
      for (const probe of step.probes ?? []) add(runProbe(cluster, probe, file.model.columns, si + 1, step.description));
    });
  } catch (err) {
    result.error = (err as Error).message;
  }
  return result;
}

export interface ConformanceRun {
  cases: CaseResult[];
  /** Ids given in `only` that no case has. */
  unknownIds: string[];
}

export function runConformance(text: string, options: { only?: string[]; engine?: ConformanceEngine } = {}): ConformanceRun {
  const file = parseConformanceFile(text);
  const only = options.only && options.only.length > 0 ? new Set(options.only) : undefined;
  const cases = file.cases.filter((c) => !only || only.has(c.id));
  const known = new Set(file.cases.map((c) => c.id));
  return {
    cases: cases.map((c) => runConformanceCase(file, c, options.engine)),
    unknownIds: [...(only ?? [])].filter((id) => !known.has(id)),
  };
}

export function caseFailed(r: CaseResult): boolean {
  return r.error !== undefined || r.failed > 0;
}
