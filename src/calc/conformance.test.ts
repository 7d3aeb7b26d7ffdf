// The project's external oracle: every case of shared/conformance/k8s-netpol-cases.yaml (67 cases taken from
// the upstream Kubernetes netpol e2e suite), every step and probe, SCTP included, through the evaluator.
// Also checks the runner itself: compact and full expectations agree, and a wrong expectation is caught.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { caseFailed, matrixFromRules, parseConformanceFile, runConformance, runConformanceCase } from './conformance.ts';

const CASES_PATH = fileURLToPath(new URL('../../../shared/conformance/k8s-netpol-cases.yaml', import.meta.url));
const text = readFileSync(CASES_PATH, 'utf8');
const file = parseConformanceFile(text);

test('the cases file holds 67 cases over the 3×3 model', () => {
  assert.equal(file.cases.length, 67);
  assert.deepEqual(file.model.columns, ['x/a', 'x/b', 'x/c', 'y/a', 'y/b', 'y/c', 'z/a', 'z/b', 'z/c']);
});

for (const engine of ['graph', 'snapshot'] as const) {
  test(`every case passes (${engine} engine): every step, every probe, every cell (loopback excepted)`, () => {
    const run = runConformance(text, { engine });
    assert.equal(run.cases.length, 67);
    const failures = run.cases.filter(caseFailed).map((c) => `${c.id}: ${c.error ?? `${c.failed} cells wrong`}`);
    assert.deepEqual(failures, []);
    for (const c of run.cases) {
      const spec = file.cases.find((x) => x.id === c.id)!;
      const wanted = (spec.probes ?? []).length + (spec.steps ?? []).reduce((n, s) => n + (s.probes ?? []).length, 0);
      assert.equal(c.probes.length, wanted, `${c.id} ran all its probes`);
      for (const p of c.probes) {
        const loopback = p.rows.filter((r) => p.columns.includes(r)).length;
        assert.equal(p.passed + p.failed, p.rows.length * p.columns.length - loopback);
        assert.equal(p.skipped, 0);
      }
    }
    const sctp = run.cases.flatMap((c) => c.probes).filter((p) => p.protocol === 'SCTP');
    assert.ok(sctp.length >= 4, 'SCTP probes are evaluated, not skipped');
    assert.ok(sctp.every((p) => p.passed > 0 && p.failed === 0));
  });
}

test('compact expectations (default + rules) give the same matrix as the full form', () => {
  let compared = 0;
  for (const c of file.cases) {
    const probes = [...(c.probes ?? []), ...(c.steps ?? []).flatMap((s) => s.probes ?? [])];
    for (const p of probes) {
      if (!p.expect.matrix || !p.expect.rules) continue;
      const cols = p.columns ?? file.model.columns;
      const fromRules = matrixFromRules(p.expect, cols);
      for (const [from, row] of Object.entries(p.expect.matrix)) {
        const mask = (s: string) => [...s].map((ch, i) => (cols[i] === from ? '-' : ch)).join('');
        assert.equal(mask(fromRules[from]), mask(row), `${c.id} ${p.protocol}/${p.port} row ${from}`);
      }
      compared++;
    }
  }
  assert.ok(compared > 50);
});

test('a wrong expectation is reported cell by cell', () => {
  const c = structuredClone(file.cases.find((x) => x.id === 'e2e-01')!);
  const probe = c.probes![0];
  probe.expect.matrix = { ...probe.expect.matrix!, 'y/a': '.........' };
  const r = runConformanceCase(file, c);
  assert.equal(caseFailed(r), true);
  assert.equal(r.failed, 3);
  assert.deepEqual(r.probes[0].mismatches.map((m) => `${m.from}->${m.to} ${m.expected}/${m.observed}`), [
    'y/a->x/a allow/deny', 'y/a->x/b allow/deny', 'y/a->x/c allow/deny',
  ]);
});

test('a policy that fails validation makes the case fail with the field named', () => {
  const c = structuredClone(file.cases.find((x) => x.id === 'e2e-01')!);
  (c.policies![0].spec as Record<string, unknown>).podSelector = { matchLabels: { pod: 'a' }, bogus: 1 };
  const r = runConformanceCase(file, c);
  assert.equal(caseFailed(r), true);
  assert.match(r.error ?? '', /bogus/);
});

test('Calico kinds in the same format: tiers, Pass, GlobalNetworkPolicy and a staged policy', () => {
  const cases = parseConformanceFile(`
model: ${JSON.stringify({ ...file.model, pods: { names: file.model.pods } })}
cases:
- id: calico-tier-pass
  policies:
  - apiVersion: projectcalico.org/v3
    kind: Tier
    metadata: { name: security }
    spec: { order: 100 }
  - apiVersion: projectcalico.org/v3
    kind: GlobalNetworkPolicy
    metadata: { name: security.deny-z }
    spec:
      tier: security
      selector: projectcalico.org/namespace == "x"
      ingress:
      - action: Deny
        source: { namespaceSelector: ns == "z" }
      - action: Pass
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: { name: only-y, namespace: x }
    spec:
      podSelector: {}
      ingress:
      - from: [{ namespaceSelector: { matchLabels: { ns: y } } }]
  - apiVersion: projectcalico.org/v3
    kind: StagedGlobalNetworkPolicy
    metadata: { name: staged-deny-all }
    spec: { selector: all(), types: [Ingress, Egress] }
  probes:
  - protocol: TCP
    port: 80
    expect:
      default: allow
      rules:
      - { from: '*', to: 'x/*', allow: false }
      - { from: 'y/*', to: 'x/*', allow: true }
`);
  const r = runConformanceCase(cases, cases.cases[0]);
  assert.equal(r.error, undefined);
  assert.equal(r.failed, 0);
  assert.equal(r.passed, 72);
});

test('pod and namespace actions, label actions, per-probe columns and ${net:} templates', () => {
  const cases = parseConformanceFile(`
model: ${JSON.stringify({ ...file.model, pods: { names: file.model.pods } })}
cases:
- id: lifecycle
  policies:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: { name: from-y2, namespace: x }
    spec:
      podSelector: { matchLabels: { pod: a } }
      ingress:
      - from: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: y-2 } } }]
  steps:
  - description: a new namespace with one pod
    actions:
    - { action: create-namespace, namespace: y-2, labels: { ns: y-2 } }
    - { action: create-pod, pod: y-2/a, labels: { pod: a } }
    probes:
    - protocol: TCP
      port: 80
      columns: [x/a, x/b, y-2/a]
      expect:
        matrix: { x/a: '-..', x/b: 'X-.', y-2/a: '..-' }
  - description: relabel and replace labels
    actions:
    - { action: set-namespace-labels, namespace: y-2, labels: { other: 'yes' } }
    - { action: add-pod-labels, pod: x/b, labels: { extra: 'yes' } }
    - { action: set-pod-labels, pod: x/a, labels: { pod: z } }
    probes:
    - protocol: TCP
      port: 80
      columns: [x/a, x/b, y-2/a]
      expect:
        matrix: { x/a: '-..', x/b: '.-.', y-2/a: '..-' }
  - description: egress by CIDR template, then the pod and its namespace go away
    actions:
    - action: create-policy
      policy:
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: { name: cidr, namespace: x }
        spec:
          podSelector: { matchLabels: { extra: 'yes' } }
          policyTypes: [Egress]
          egress: [{ to: [{ ipBlock: { cidr: '\${net:x/a:32}' } }] }]
    - { action: delete-pod, pod: y-2/a }
    - { action: delete-namespace, namespace: y-2 }
    probes:
    - protocol: TCP
      port: 80
      columns: [x/a, x/b, x/c]
      expect:
        matrix: { x/a: '-..', x/b: '.-X', x/c: '..-' }
`);
  const r = runConformanceCase(cases, cases.cases[0]);
  assert.equal(r.error, undefined);
  assert.deepEqual(r.probes.map((p) => `${p.failed}/${p.passed}`), ['0/6', '0/6', '0/6']);
  assert.deepEqual(r.probes[0].observed, ['-..', 'X-.', '..-']);
});

test('a template naming a pod that does not exist fails the case with that name', () => {
  const c = structuredClone(file.cases.find((x) => x.id === 'e2e-01')!);
  (c.policies![0].spec as Record<string, unknown>).ingress = [{ from: [{ ipBlock: { cidr: '${host:q/zz}' } }] }];
  const r = runConformanceCase(file, c);
  assert.match(r.error ?? '', /pod "q\/zz" does not exist/);
});
