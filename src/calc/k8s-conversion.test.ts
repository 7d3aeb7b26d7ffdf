// Kubernetes NetworkPolicy conversion (reference/calico.md §3.7) and the selector scoping that follows it
// (§3.5): each test pins one row of the conversion table to the exact Calico rules produced.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubernetesNetworkPolicy } from '../model/index.ts';
import { convertK8sNetworkPolicy, k8sSelectorToCalico, simplifyPorts } from './k8s-conversion.ts';
import { normalizePolicy } from './policy-model.ts';
import { entityRuleSelector } from './rule-compiler.ts';

function knp(spec: KubernetesNetworkPolicy['spec'], ns = 'x', name = 'p'): KubernetesNetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'KubernetesNetworkPolicy', metadata: { name, namespace: ns }, spec };
}

test('podSelector becomes orchestrator == k8s AND sorted matchLabels AND matchExpressions', () => {
  const sel = k8sSelectorToCalico({
    matchLabels: { pod: 'a', app: 'web' },
    matchExpressions: [
      { key: 'tier', operator: 'In', values: ['x', 'y'] },
      { key: 'env', operator: 'NotIn', values: ['prod'] },
      { key: 'team', operator: 'Exists' },
      { key: 'legacy', operator: 'DoesNotExist' },
    ],
  }, true);
  assert.equal(sel, 'projectcalico.org/orchestrator == "k8s" && app == "web" && pod == "a" && tier in {"x", "y"} && env not in {"prod"} && has(team) && !has(legacy)');
});

test('empty namespaceSelector is all(), empty podSelector is just the orchestrator term', () => {
  assert.equal(k8sSelectorToCalico({}, false), 'all()');
  assert.equal(k8sSelectorToCalico({}, true), 'projectcalico.org/orchestrator == "k8s"');
  assert.equal(k8sSelectorToCalico(undefined, true), 'projectcalico.org/orchestrator == "k8s"');
});

test('policy lands in tier default at order 1000 with a namespace-scoped selector', () => {
  const p = normalizePolicy(knp({ podSelector: { matchLabels: { pod: 'a' } } }));
  assert.equal(p.tier, 'default');
  assert.equal(p.order, 1000);
  assert.equal(p.id, 'KubernetesNetworkPolicy/x/p');
  assert.equal(p.selector.canonical, '(projectcalico.org/orchestrator == "k8s" && pod == "a" && projectcalico.org/namespace == "x")');
  assert.equal(p.selector.evaluate({ 'projectcalico.org/orchestrator': 'k8s', pod: 'a', 'projectcalico.org/namespace': 'x' }), true);
  assert.equal(p.selector.evaluate({ 'projectcalico.org/orchestrator': 'k8s', pod: 'a', 'projectcalico.org/namespace': 'y' }), false);
  assert.equal(p.selector.evaluate({ 'projectcalico.org/orchestrator': 'cni', pod: 'a', 'projectcalico.org/namespace': 'x' }), false);
});

test('policyTypes defaulting: omitted → Ingress (+Egress when egress rules exist); given → exactly those', () => {
  assert.deepEqual(convertK8sNetworkPolicy(knp({ podSelector: {} })).types, ['Ingress']);
  assert.deepEqual(convertK8sNetworkPolicy(knp({ podSelector: {}, egress: [{}] })).types, ['Ingress', 'Egress']);
  assert.deepEqual(convertK8sNetworkPolicy(knp({ podSelector: {}, egress: [] })).types, ['Ingress']);
  const egressOnly = convertK8sNetworkPolicy(knp({ podSelector: {}, policyTypes: ['Egress'], ingress: [{}], egress: [{}] }));
  assert.deepEqual(egressOnly.types, ['Egress']);
  assert.deepEqual(egressOnly.ingress, [], 'rules of an unlisted direction are ignored');
  assert.deepEqual(egressOnly.egress, [{ action: 'Allow' }]);
});

test('empty rule allows everything; empty ingress list allows nothing', () => {
  const c = convertK8sNetworkPolicy(knp({ podSelector: {}, ingress: [{}] }));
  assert.deepEqual(c.ingress, [{ action: 'Allow' }]);
  assert.deepEqual(convertK8sNetworkPolicy(knp({ podSelector: {}, ingress: [] })).ingress, []);
});

test('ipBlock becomes nets/notNets (masked) with no selector', () => {
  const c = convertK8sNetworkPolicy(knp({
    podSelector: {},
    egress: [{ to: [{ ipBlock: { cidr: '10.1.2.3/8', except: ['10.1.0.0/16', '10.2.3.4/32'] } }] }],
  }));
  assert.deepEqual(c.egress, [{ action: 'Allow', destination: { nets: ['10.0.0.0/8'], notNets: ['10.1.0.0/16', '10.2.3.4/32'] } }]);
});

test('peers: podSelector only, namespaceSelector only, both', () => {
  const c = convertK8sNetworkPolicy(knp({
    podSelector: {},
    ingress: [{
      from: [
        { podSelector: { matchLabels: { pod: 'b' } } },
        { namespaceSelector: { matchLabels: { ns: 'y' } } },
        { podSelector: { matchLabels: { pod: 'c' } }, namespaceSelector: {} },
      ],
    }],
  }));
  assert.deepEqual(c.ingress, [
    { action: 'Allow', source: { selector: 'projectcalico.org/orchestrator == "k8s" && pod == "b"' } },
    { action: 'Allow', source: { selector: 'projectcalico.org/orchestrator == "k8s"', namespaceSelector: 'ns == "y"' } },
    { action: 'Allow', source: { selector: 'projectcalico.org/orchestrator == "k8s" && pod == "c"', namespaceSelector: 'all()' } },
  ]);
});

test('ports: no protocol means TCP, endPort is a range, named ports kept, one rule per protocol × peer', () => {
  const c = convertK8sNetworkPolicy(knp({
    podSelector: {},
    ingress: [{
      from: [{ podSelector: {} }, { ipBlock: { cidr: '192.168.0.0/16' } }],
      ports: [{ port: 80 }, { protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 81 }, { port: 'serve-80-tcp' },
        { protocol: 'SCTP', port: 100, endPort: 200 }],
    }],
  }));
  const sel = 'projectcalico.org/orchestrator == "k8s"';
  assert.deepEqual(c.ingress, [
    { action: 'Allow', protocol: 'SCTP', source: { selector: sel }, destination: { ports: ['100:200'] } },
    { action: 'Allow', protocol: 'SCTP', source: { nets: ['192.168.0.0/16'] }, destination: { ports: ['100:200'] } },
    { action: 'Allow', protocol: 'TCP', source: { selector: sel }, destination: { ports: ['80:81', 'serve-80-tcp'] } },
    { action: 'Allow', protocol: 'TCP', source: { nets: ['192.168.0.0/16'] }, destination: { ports: ['80:81', 'serve-80-tcp'] } },
    { action: 'Allow', protocol: 'UDP', source: { selector: sel }, destination: { ports: [53] } },
    { action: 'Allow', protocol: 'UDP', source: { nets: ['192.168.0.0/16'] }, destination: { ports: [53] } },
  ]);
});

test('protocol without port opens every port of that protocol; an empty port entry opens everything', () => {
  const c = convertK8sNetworkPolicy(knp({ podSelector: {}, egress: [{ ports: [{ protocol: 'UDP' }, { protocol: 'UDP', port: 53 }] }] }));
  assert.deepEqual(c.egress, [{ action: 'Allow', protocol: 'UDP' }]);
  const any = convertK8sNetworkPolicy(knp({ podSelector: {}, egress: [{ ports: [{ port: 53 }, {}] }] }));
  assert.deepEqual(any.egress, [{ action: 'Allow' }]);
});

test('egress peers and ports share the destination', () => {
  const c = convertK8sNetworkPolicy(knp({
    podSelector: {}, policyTypes: ['Egress'],
    egress: [{ to: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80, protocol: 'TCP' }] }],
  }));
  assert.deepEqual(c.egress, [{
    action: 'Allow', protocol: 'TCP',
    destination: { ports: [80], selector: 'projectcalico.org/orchestrator == "k8s" && pod == "b"' },
  }]);
});

test('an unconvertible port is dropped with an error naming the field; the policy still converts', () => {
  const c = convertK8sNetworkPolicy(knp({ podSelector: {}, ingress: [{ ports: [{ port: 90, endPort: 80 }] }, {}] }));
  assert.equal(c.errors.length, 1);
  assert.match(c.errors[0], /spec\.ingress\[0\]\.ports\[0\]\.endPort/);
  assert.deepEqual(c.ingress, [{ action: 'Allow' }]);
});

test('simplifyPorts coalesces adjacent and overlapping ranges', () => {
  assert.deepEqual(simplifyPorts([80, 81, '82:90', 100, 'http', 95, '91:94']), ['80:95', 100, 'http']);
});

test('rule selector scoping: own namespace, namespaceSelector (pcns.), all(), global(), notSelector, serviceAccounts', () => {
  const canon = (er: Parameters<typeof entityRuleSelector>[0], ns?: string) => entityRuleSelector(er, ns)?.canonical;
  assert.equal(canon({ selector: 'pod == "b"' }, 'x'), '(projectcalico.org/namespace == "x" && pod == "b")');
  assert.equal(canon({ selector: 'pod == "b"' }), 'pod == "b"', 'global policy: no scoping');
  assert.equal(canon({ nets: ['10.0.0.0/8'] }, 'x'), undefined, 'no selector field: no selector at all');
  assert.equal(canon({ namespaceSelector: 'ns == "y"' }, 'x'), 'pcns.ns == "y"');
  assert.equal(canon({ namespaceSelector: 'all()', selector: 'pod == "a"' }, 'x'), '(has(projectcalico.org/namespace) && pod == "a")');
  assert.equal(canon({ namespaceSelector: 'global()' }), '!has(projectcalico.org/namespace)');
  assert.equal(canon({ notSelector: 'pod == "a"' }, 'x'), 'projectcalico.org/namespace == "x"');
  assert.equal(canon({ selector: 'all()' }, 'x'), 'projectcalico.org/namespace == "x"');
  assert.equal(
    canon({ serviceAccounts: { names: ['web', 'api'], selector: 'role == "fe"' } }, 'x'),
    '(projectcalico.org/namespace == "x" && pcsa.role == "fe" && projectcalico.org/serviceaccount in {"api", "web"})',
  );
});

test('NetworkPolicy serviceAccountSelector and GlobalNetworkPolicy namespaceSelector are scoped into the selector', () => {
  const np = normalizePolicy({
    apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name: 'n', namespace: 'y' },
    spec: { selector: 'app == "db"', serviceAccountSelector: 'team == "a"' },
  });
  assert.equal(np.selector.canonical, '(app == "db" && projectcalico.org/namespace == "y" && pcsa.team == "a")');
  const gnp = normalizePolicy({
    apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: 'g' },
    spec: { selector: 'app == "db"', namespaceSelector: 'all()' },
  });
  assert.equal(gnp.selector.canonical, '(app == "db" && has(projectcalico.org/namespace))');
  assert.deepEqual(gnp.types, ['ingress']);
});

test('Calico policy types default from rule presence', () => {
  const types = (spec: object) => normalizePolicy({ apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: 'g' }, spec }).types;
  assert.deepEqual(types({}), ['ingress']);
  assert.deepEqual(types({ ingress: [{ action: 'Allow' }] }), ['ingress']);
  assert.deepEqual(types({ egress: [{ action: 'Allow' }] }), ['egress']);
  assert.deepEqual(types({ ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] }), ['ingress', 'egress']);
  assert.deepEqual(types({ types: ['Egress'], ingress: [{ action: 'Allow' }] }), ['egress']);
});
