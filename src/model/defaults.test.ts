// Tests for defaults.ts: Calico's and Kubernetes' defaults per kind, idempotency, and that the input is
// never modified.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyDefaults, defaultPolicyTypes } from './defaults.ts';
import type { AnyResource, BGPConfiguration, GlobalNetworkPolicy, IPPool, KubernetesNetworkPolicy, StagedNetworkPolicy, Tier } from './types.ts';
import { validateResource } from './validate.ts';

const v = (raw: Record<string, unknown>): AnyResource => validateResource(raw, { source: 'test', index: 1 });
const calico = 'projectcalico.org/v3';

test('policy types follow rule presence (Calico rule)', () => {
  assert.deepEqual(defaultPolicyTypes({}), ['Ingress']);
  assert.deepEqual(defaultPolicyTypes({ ingress: [{}] }), ['Ingress']);
  assert.deepEqual(defaultPolicyTypes({ egress: [{}] }), ['Egress']);
  assert.deepEqual(defaultPolicyTypes({ ingress: [{}], egress: [{}] }), ['Ingress', 'Egress']);
  assert.deepEqual(defaultPolicyTypes({ ingress: [], egress: [{}] }), ['Egress']);
});

test('policies get tier default and types; explicit values are kept', () => {
  const g = applyDefaults(v({ apiVersion: calico, kind: 'GlobalNetworkPolicy', metadata: { name: 'g' }, spec: { order: 5, egress: [{ action: 'Deny' }] } })) as GlobalNetworkPolicy;
  assert.deepEqual(g.spec, { tier: 'default', order: 5, types: ['Egress'], egress: [{ action: 'Deny' }] });
  const explicit = applyDefaults(v({ apiVersion: calico, kind: 'GlobalNetworkPolicy', metadata: { name: 'g' }, spec: { tier: 'sec', types: ['Ingress', 'Egress'] } })) as GlobalNetworkPolicy;
  assert.equal(explicit.spec.tier, 'sec');
  assert.deepEqual(explicit.spec.types, ['Ingress', 'Egress']);
  assert.equal(explicit.spec.selector, undefined, 'an absent selector stays absent (it already means all())');
  const s = applyDefaults(v({ apiVersion: calico, kind: 'StagedNetworkPolicy', metadata: { name: 's', namespace: 'a' }, spec: {} })) as StagedNetworkPolicy;
  assert.equal(s.spec.stagedAction, 'Set');
  assert.deepEqual(s.spec.types, ['Ingress']);
});

test('IPPool defaults per family, canonical CIDR text', () => {
  const p4 = applyDefaults(v({ apiVersion: calico, kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: '10.0.0.0/16', nodeSelector: '' } })) as IPPool;
  assert.deepEqual(p4.spec, {
    cidr: '10.0.0.0/16',
    blockSize: 26,
    ipipMode: 'Never',
    vxlanMode: 'Never',
    natOutgoing: false,
    disabled: false,
    disableBGPExport: false,
    nodeSelector: 'all()',
    allowedUses: ['Workload', 'Tunnel'],
    assignmentMode: 'Automatic',
  });
  const p6 = applyDefaults(v({ apiVersion: calico, kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: 'FD00:0:0:1::/64', namespaceSelector: 'env == "x"', allowedUses: ['LoadBalancer'] } })) as IPPool;
  assert.equal(p6.spec.cidr, 'fd00:0:0:1::/64');
  assert.equal(p6.spec.blockSize, 122);
  assert.equal(p6.spec.namespaceSelector, 'env == "x"');
  assert.deepEqual(p6.spec.allowedUses, ['LoadBalancer']);
});

test('Tier defaultAction Deny; built-in tiers get their fixed order and action', () => {
  const t = applyDefaults(v({ apiVersion: calico, kind: 'Tier', metadata: { name: 'sec' }, spec: { order: 50 } })) as Tier;
  assert.deepEqual(t.spec, { order: 50, defaultAction: 'Deny' });
  const admin = applyDefaults(v({ apiVersion: calico, kind: 'Tier', metadata: { name: 'kube-admin' } })) as Tier;
  assert.deepEqual(admin.spec, { order: 1000, defaultAction: 'Pass' });
  const def = applyDefaults(v({ apiVersion: calico, kind: 'Tier', metadata: { name: 'default' } })) as Tier;
  assert.deepEqual(def.spec, { order: 1_000_000, defaultAction: 'Deny' });
});

test('BGPConfiguration globals only on "default"', () => {
  const d = applyDefaults(v({ apiVersion: calico, kind: 'BGPConfiguration', metadata: { name: 'default' }, spec: { listenPort: 1179 } })) as BGPConfiguration;
  assert.deepEqual(d.spec, { logSeverityScreen: 'Info', nodeToNodeMeshEnabled: true, asNumber: 64512, listenPort: 1179 });
  const n = applyDefaults(v({ apiVersion: calico, kind: 'BGPConfiguration', metadata: { name: 'node.n1' }, spec: { logSeverityScreen: 'Debug' } })) as BGPConfiguration;
  assert.deepEqual(n.spec, { logSeverityScreen: 'Debug' });
});

test('Kubernetes NetworkPolicy: policyTypes and port protocol as the API server defaults them', () => {
  const only = applyDefaults(v({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'k', namespace: 'a' }, spec: { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] } })) as KubernetesNetworkPolicy;
  assert.deepEqual(only.spec.policyTypes, ['Ingress']);
  assert.deepEqual(only.spec.ingress, [{ ports: [{ protocol: 'TCP', port: 80 }] }]);
  const eg = applyDefaults(v({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'k', namespace: 'a' }, spec: { podSelector: {}, egress: [{}] } })) as KubernetesNetworkPolicy;
  assert.deepEqual(eg.spec.policyTypes, ['Ingress', 'Egress']);
  const explicit = applyDefaults(v({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'k', namespace: 'a' }, spec: { podSelector: {}, policyTypes: ['Egress'] } })) as KubernetesNetworkPolicy;
  assert.deepEqual(explicit.spec.policyTypes, ['Egress']);
});

test('applyDefaults is idempotent and does not modify its input', () => {
  const inputs: Array<Record<string, unknown>> = [
    { apiVersion: calico, kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: 'fd00::/48' } },
    { apiVersion: calico, kind: 'GlobalNetworkPolicy', metadata: { name: 'g' }, spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] } },
    { apiVersion: calico, kind: 'StagedGlobalNetworkPolicy', metadata: { name: 'g' }, spec: { stagedAction: 'Delete' } },
    { apiVersion: calico, kind: 'Tier', metadata: { name: 'kube-baseline' } },
    { apiVersion: calico, kind: 'BGPConfiguration', metadata: { name: 'default' } },
    { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'k', namespace: 'a' }, spec: { podSelector: {}, egress: [{ ports: [{ port: 53, protocol: 'UDP' }, { port: 'dns' }] }] } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'a' }, spec: { containers: [{ name: 'c', ports: [{ containerPort: 80 }] }] } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 's', namespace: 'a' } },
    { apiVersion: calico, kind: 'Profile', metadata: { name: 'p' } },
  ];
  for (const raw of inputs) {
    const r = v(raw);
    const before = structuredClone(r);
    const once = applyDefaults(r);
    assert.deepEqual(r, before, `input modified for ${String(raw.kind)}`);
    assert.deepEqual(applyDefaults(once), once, `not idempotent for ${String(raw.kind)}`);
    assert.notEqual(once, r);
  }
});
