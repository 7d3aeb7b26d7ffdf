// The calc graph message by message: an update emits exactly what it changes (a remote label change is
// one IP-set delta), no-op and unrelated updates emit nothing, messages come in dataplane order, in-sync
// is sent once, invalid input is reported and treated as absent, and label changes stay off the full scan.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AnyResource } from '../model/index.ts';
import { DesiredState } from '../dataplane-api/index.ts';
import { CalcGraph } from './calc-graph.ts';
import type { DatastoreUpdate } from './calc-graph.ts';
import { gnp, messageSummary, ns, pod, wep } from './calc-graph-harness.ts';

const put = (resource: AnyResource): DatastoreUpdate => ({ type: 'put', resource });

function start(resources: AnyResource[], hostname = 'n1') {
  const graph = new CalcGraph({ hostname });
  const mirror = new DesiredState();
  const first = graph.apply(resources.map(put));
  mirror.applyAll(first);
  const step = (updates: DatastoreUpdate[]) => {
    const msgs = graph.apply(updates);
    mirror.applyAll(msgs);
    return messageSummary(msgs);
  };
  return { graph, mirror, first: messageSummary(first), step };
}

const BASE = [
  ns('dev'),
  pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }),
  pod('dev', 'b', 'n2', '10.0.0.2', { app: 'db' }),
  pod('dev', 'c', 'n2', '10.0.0.3', { app: 'cache' }),
  gnp('web-in', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'app == "db"' } }, { action: 'Allow', source: { selector: 'app == "cache"' } }] }),
];

test('the first flush sends sets, then profiles and policies, then endpoints', () => {
  const { first } = start(BASE);
  assert.deepEqual(first, [
    'IpSetUpdate app == "cache" [10.0.0.3/32]',
    'IpSetUpdate app == "db" [10.0.0.2/32]',
    'ActiveProfileUpdate kns.dev',
    'ActiveProfileUpdate ksa.dev.default',
    'ActivePolicyUpdate GlobalNetworkPolicy/web-in',
    'WorkloadEndpointUpdate pod:dev/a',
  ]);
});

test('a remote pod label change touches only the sets it leaves and joins', () => {
  const { step } = start(BASE);
  assert.deepEqual(step([put(pod('dev', 'b', 'n2', '10.0.0.2', { app: 'cache' }))]), [
    'IpSetDeltaUpdate +[10.0.0.2/32] -[]',
    'IpSetDeltaUpdate +[] -[10.0.0.2/32]',
  ]);
  assert.deepEqual(step([put(pod('dev', 'b', 'n2', '10.0.0.2', { app: 'cache', tier: 'x' }))]), [], 'a label no selector uses: nothing');
});

test('a local label change that keeps the same policies emits nothing; one that drops them retires them', () => {
  const { step } = start(BASE);
  assert.deepEqual(step([put(pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web', extra: 'yes' }))]), []);
  assert.deepEqual(step([put(pod('dev', 'a', 'n1', '10.0.0.1', { app: 'other' }))]), [
    'WorkloadEndpointUpdate pod:dev/a',
    'ActivePolicyRemove GlobalNetworkPolicy/web-in',
    'IpSetRemove',
    'IpSetRemove',
  ]);
});

test('no-op and unrelated updates emit nothing; deleting what does not exist emits nothing', () => {
  const { step } = start(BASE);
  assert.deepEqual(step(BASE.map(put)), []);
  const bgp: AnyResource = { apiVersion: 'projectcalico.org/v3', kind: 'BGPConfiguration', metadata: { name: 'default' }, spec: { asNumber: 64512 } };
  assert.deepEqual(step([put(bgp)]), []);
  assert.deepEqual(step([{ type: 'delete', kind: 'Pod', namespace: 'dev', name: 'nope' }]), []);
  // Rules of a direction the policy does not apply to are not compiled: changing them changes nothing.
  const withEgress = gnp('web-in', {
    selector: 'app == "web"', types: ['Ingress'],
    ingress: [{ action: 'Allow', source: { selector: 'app == "db"' } }, { action: 'Allow', source: { selector: 'app == "cache"' } }],
    egress: [{ action: 'Deny' }],
  });
  assert.deepEqual(step([put(withEgress)]), []);
});

test('in-sync goes out once, after the state it covers', () => {
  const graph = new CalcGraph({ hostname: 'n1' });
  const msgs = messageSummary(graph.apply([...BASE.map(put), { type: 'in-sync' }]));
  assert.equal(msgs[msgs.length - 1], 'InSync');
  assert.equal(msgs.filter((m) => m === 'InSync').length, 1);
  assert.deepEqual(messageSummary(graph.apply([{ type: 'in-sync' }])), []);
  assert.deepEqual(messageSummary(graph.apply([put(pod('dev', 'b', 'n2', '10.0.0.2', { app: 'x' }))])), ['IpSetDeltaUpdate +[] -[10.0.0.2/32]']);
});

test('a policy update that swaps its selector sets the new set before the policy and removes the old after', () => {
  const { step } = start(BASE);
  const swapped = gnp('web-in', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'app == "db"' } }, { action: 'Allow', source: { selector: 'tier == "x"' } }] });
  assert.deepEqual(step([put(swapped)]), [
    'IpSetUpdate tier == "x" []',
    'ActivePolicyUpdate GlobalNetworkPolicy/web-in',
    'IpSetRemove',
  ]);
});

test('a WorkloadEndpoint replacing its Pod, and the Pod coming back when it goes', () => {
  const { step } = start(BASE);
  const w = wep('dev', 'n1-k8s-a-eth0', 'n1', ['10.0.0.1/32'], { pod: 'a', iface: 'calia', labels: { app: 'web' } });
  assert.deepEqual(step([put(w)]), [
    'WorkloadEndpointUpdate wep:dev/n1-k8s-a-eth0',
    'WorkloadEndpointRemove pod:dev/a',
    'ActiveProfileRemove ksa.dev.default',
    'RouteUpdate 10.0.0.1/32',
  ]);
  assert.deepEqual(step([{ type: 'delete', kind: 'WorkloadEndpoint', namespace: 'dev', name: 'n1-k8s-a-eth0' }]), [
    'ActiveProfileUpdate ksa.dev.default',
    'WorkloadEndpointUpdate pod:dev/a',
    'WorkloadEndpointRemove wep:dev/n1-k8s-a-eth0',
    'RouteRemove 10.0.0.1/32',
  ]);
});

test('invalid policies are reported and treated as absent until fixed or deleted', () => {
  const { graph, step, mirror } = start(BASE);
  assert.deepEqual(step([put(gnp('bad', { selector: 'app == "web"', ingress: [{ action: 'Deny', source: { selector: 'app ==' } }] }))]), []);
  assert.equal(graph.problems().length, 1);
  assert.equal(graph.problems()[0].resource, 'GlobalNetworkPolicy//bad');
  assert.match(graph.problems()[0].message, /spec\.ingress\[0\]\.source\.selector: invalid selector at column 7/);
  // The previous valid version of a policy is withdrawn when an invalid one replaces it.
  step([put(gnp('web-in', { selector: 'app ==' }))]);
  assert.equal(mirror.policies.size, 0);
  assert.equal(graph.problems().length, 2);
  step([put(BASE[4]), { type: 'delete', kind: 'GlobalNetworkPolicy', name: 'bad' }]);
  assert.deepEqual(graph.problems(), []);
  assert.deepEqual([...mirror.policies.keys()], ['GlobalNetworkPolicy/web-in']);
});

test('at scale, a label change evaluates a handful of selectors, not all of them', () => {
  const resources: AnyResource[] = [ns('dev')];
  for (let i = 0; i < 2000; i++) {
    resources.push(gnp(`p${i}`, { selector: `app == "app${i}"`, ingress: [{ action: 'Allow', source: { selector: `role == "r${i}"` } }] }));
    resources.push(pod('dev', `p${i}`, i < 20 ? 'n1' : 'n2', `10.1.${Math.floor(i / 250)}.${i % 250}`, { app: `app${i}`, role: `r${i}` }));
  }
  const graph = new CalcGraph({ hostname: 'n1' });
  graph.apply(resources.map(put));
  const before = graph.stats();
  assert.equal(before.activePolicies, 20);
  assert.equal(before.ipSets, 20);
  assert.ok(before.policySelectorEvaluations < 200, `resync: ${before.policySelectorEvaluations} policy selector evaluations`);
  assert.ok(before.ipSetSelectorEvaluations < 200, `resync: ${before.ipSetSelectorEvaluations} IP set selector evaluations`);
  const msgs = messageSummary(graph.apply([put(pod('dev', 'p1500', 'n2', '10.1.6.0', { app: 'app1500', role: 'r5' }))]));
  assert.deepEqual(msgs, ['IpSetDeltaUpdate +[10.1.6.0/32] -[]']);
  const after = graph.stats();
  assert.ok(after.ipSetSelectorEvaluations - before.ipSetSelectorEvaluations <= 2);
  assert.equal(after.policySelectorEvaluations, before.policySelectorEvaluations, 'a remote pod never meets policy selectors');
});

test('a set retired and needed again comes back with the members it has now', () => {
  const { step } = start(BASE);
  // The local pod stops matching: the policy and its two sets go from the dataplane.
  assert.deepEqual(step([put(pod('dev', 'a', 'n1', '10.0.0.1', { app: 'other' }))]), [
    'WorkloadEndpointUpdate pod:dev/a', 'ActivePolicyRemove GlobalNetworkPolicy/web-in', 'IpSetRemove', 'IpSetRemove',
  ]);
  // Meanwhile membership changes: nothing is sent for sets the dataplane no longer has.
  assert.deepEqual(step([put(pod('dev', 'c', 'n2', '10.0.0.3', { app: 'db' })), put(pod('dev', 'd', 'n2', '10.0.0.4', { app: 'db' }))]), []);
  assert.deepEqual(step([put(pod('dev', 'a', 'n1', '10.0.0.1', { app: 'web' }))]), [
    'IpSetUpdate app == "cache" []',
    'IpSetUpdate app == "db" [10.0.0.2/32 10.0.0.3/32 10.0.0.4/32]',
    'ActivePolicyUpdate GlobalNetworkPolicy/web-in',
    'WorkloadEndpointUpdate pod:dev/a',
  ]);
});
