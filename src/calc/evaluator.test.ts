// Policy semantics through the reference evaluator (reference/calico.md §3): every action, tier and
// staged rule, every rule field, profiles and host-endpoint modes, each with the attribution the trace
// prints. The flows run over compiled rule programs, the same ones the dataplane receives.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AnyResource, Labels, PolicySpec, Rule, StagedPolicySpec } from '../model/index.ts';
import { evaluateFlow, PolicyEvaluator } from './evaluator.ts';
import type { FlowSpec } from './evaluator.ts';

function ns(name: string, labels: Labels = {}): AnyResource {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } }, spec: {} };
}

function pod(namespace: string, name: string, ip: string, labels: Labels = {}, sa = 'default'): AnyResource {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels },
    spec: {
      serviceAccountName: sa, nodeName: 'n1',
      containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'dns', containerPort: 5353, protocol: 'UDP' }] }],
    },
    status: { podIP: ip },
  };
}

function gnp(name: string, spec: PolicySpec): AnyResource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name }, spec };
}

function np(namespace: string, name: string, spec: PolicySpec): AnyResource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

function sgnp(name: string, spec: StagedPolicySpec): AnyResource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'StagedGlobalNetworkPolicy', metadata: { name }, spec };
}

function tier(name: string, order?: number, defaultAction?: 'Deny' | 'Pass'): AnyResource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name }, spec: { ...(order !== undefined ? { order } : {}), ...(defaultAction ? { defaultAction } : {}) } };
}

// Two namespaces, three pods: a and b in "dev" (b runs as service account "api"), c in "prod".
const BASE: AnyResource[] = [
  ns('dev', { env: 'dev' }), ns('prod', { env: 'prod' }),
  pod('dev', 'a', '10.0.0.1', { app: 'web' }),
  pod('dev', 'b', '10.0.0.2', { app: 'db', role: 'primary' }, 'api'),
  pod('prod', 'c', '10.0.1.3', { app: 'web' }),
];

function flow(resources: AnyResource[], from: string, to: string, extra: Partial<FlowSpec> = {}) {
  return evaluateFlow([...BASE, ...resources], { from, to, protocol: 'TCP', port: 80, ...extra });
}

function allowed(resources: AnyResource[], from: string, to: string, extra: Partial<FlowSpec> = {}): boolean {
  return flow(resources, from, to, extra).allowed;
}

/** Ingress-only policy on dev/b with the given rules. */
function onB(rules: Rule[]): AnyResource {
  return gnp('on-b', { selector: 'app == "db"', ingress: rules });
}

test('no policy at all: the namespace profile allows', () => {
  const r = flow([], 'dev/a', 'dev/b');
  assert.equal(r.allowed, true);
  assert.deepEqual(r.ingress.enforced.decision, { kind: 'profile-rule', profile: 'kns.dev', ruleIndex: 0, action: 'allow' });
  assert.deepEqual(r.egress.enforced.decision, { kind: 'profile-rule', profile: 'kns.dev', ruleIndex: 0, action: 'allow' });
});

test('Allow decides with tier, policy and rule index', () => {
  const r = flow([onB([{ action: 'Deny', protocol: 'UDP' }, { action: 'Allow' }])], 'dev/a', 'dev/b');
  assert.equal(r.allowed, true);
  assert.deepEqual(r.ingress.enforced.decision, { kind: 'policy-rule', tier: 'default', policy: 'GlobalNetworkPolicy/on-b', ruleIndex: 1, action: 'allow' });
});

test('Deny decides and stops', () => {
  const r = flow([onB([{ action: 'Deny' }, { action: 'Allow' }])], 'dev/a', 'dev/b');
  assert.equal(r.allowed, false);
  assert.deepEqual(r.ingress.enforced.decision, { kind: 'policy-rule', tier: 'default', policy: 'GlobalNetworkPolicy/on-b', ruleIndex: 0, action: 'deny' });
  assert.equal(r.egress.enforced.verdict, 'allow', 'egress of a is not touched by an ingress policy');
});

test('Log records the match and goes on to the next rule', () => {
  const r = flow([onB([{ action: 'Log' }, { action: 'Log', protocol: 'UDP' }, { action: 'Allow' }])], 'dev/a', 'dev/b');
  assert.equal(r.allowed, true);
  assert.deepEqual(r.ingress.enforced.steps[0], { type: 'policy', tier: 'default', policy: 'GlobalNetworkPolicy/on-b', outcome: 'allow', ruleIndex: 2, logged: [0] });
});

test('an applicable policy with no matching rule hits the end-of-tier deny', () => {
  const r = flow([onB([{ action: 'Allow', protocol: 'UDP' }])], 'dev/a', 'dev/b');
  assert.equal(r.allowed, false);
  assert.deepEqual(r.ingress.enforced.decision, { kind: 'end-of-tier', tier: 'default' });
  assert.equal(allowed([onB([])], 'dev/a', 'dev/b'), false, 'a policy with no rules denies its types');
  assert.equal(allowed([onB([])], 'dev/b', 'dev/a'), true, 'and only its types');
});

test('Pass skips the rest of its tier and continues with the next tier', () => {
  const resources = [
    tier('first', 10),
    gnp('first.pass', { tier: 'first', order: 1, selector: 'all()', ingress: [{ action: 'Pass' }] }),
    gnp('first.deny', { tier: 'first', order: 2, selector: 'all()', ingress: [{ action: 'Deny' }] }),
    onB([{ action: 'Allow', source: { selector: 'app == "web"' } }]),
  ];
  const r = flow(resources, 'dev/a', 'dev/b');
  assert.equal(r.allowed, true);
  assert.deepEqual(r.ingress.enforced.steps.map((s) => s.type === 'policy' ? `${s.policy}:${s.outcome}` : s.type), [
    'GlobalNetworkPolicy/first.pass:pass', 'GlobalNetworkPolicy/on-b:allow',
  ]);
});

test('Pass out of the last tier lands on the profiles', () => {
  const r = flow([onB([{ action: 'Pass' }])], 'dev/a', 'dev/b');
  assert.equal(r.allowed, true);
  assert.deepEqual(r.ingress.enforced.decision, { kind: 'profile-rule', profile: 'kns.dev', ruleIndex: 0, action: 'allow' });
});

test('a tier whose defaultAction is Pass does not drop at its end', () => {
  const resources = [tier('soft', 5, 'Pass'), gnp('soft.p', { tier: 'soft', selector: 'all()', ingress: [{ action: 'Allow', protocol: 'UDP' }] })];
  const r = flow(resources, 'dev/a', 'dev/b');
  assert.equal(r.allowed, true);
  assert.deepEqual(r.ingress.enforced.steps.map((s) => s.type), ['policy', 'end-of-tier', 'profile']);
  assert.equal(allowed([tier('hard', 5), gnp('hard.p', { tier: 'hard', selector: 'all()', ingress: [{ action: 'Allow', protocol: 'UDP' }] })], 'dev/a', 'dev/b'), false);
});

test('tiers run in order; the default tier is 1,000,000; a missing tier sorts last', () => {
  const early = [tier('early', 10), gnp('early.deny', { tier: 'early', selector: 'all()', ingress: [{ action: 'Deny' }] }), onB([{ action: 'Allow' }])];
  assert.equal(allowed(early, 'dev/a', 'dev/b'), false);
  const late = [tier('late', 2_000_000), gnp('late.deny', { tier: 'late', selector: 'all()', ingress: [{ action: 'Deny' }] }), onB([{ action: 'Allow' }])];
  assert.equal(allowed(late, 'dev/a', 'dev/b'), true);
  const missing = [gnp('ghost.deny', { tier: 'ghost', selector: 'all()', ingress: [{ action: 'Deny' }] }), onB([{ action: 'Allow' }])];
  const r = flow(missing, 'dev/a', 'dev/b');
  assert.equal(r.allowed, true);
  assert.deepEqual(new PolicyEvaluator([...BASE, ...missing]).state.workloadEndpoints.get('pod:dev/b')!.tiers.map((t) => t.name), ['default', 'ghost']);
});

test('policies in a tier: lower order first, unset order last, ties broken by name', () => {
  const resources = [
    gnp('b-allow', { order: 5, selector: 'app == "db"', ingress: [{ action: 'Allow' }] }),
    gnp('a-deny', { order: 5, selector: 'app == "db"', ingress: [{ action: 'Deny' }] }),
    gnp('unordered-allow', { selector: 'app == "db"', ingress: [{ action: 'Allow' }] }),
    gnp('first-log', { order: 1, selector: 'app == "db"', ingress: [{ action: 'Log' }] }),
  ];
  const ep = new PolicyEvaluator([...BASE, ...resources]).state.workloadEndpoints.get('pod:dev/b')!;
  assert.deepEqual(ep.tiers[0].ingress, [
    'GlobalNetworkPolicy/first-log', 'GlobalNetworkPolicy/a-deny', 'GlobalNetworkPolicy/b-allow', 'GlobalNetworkPolicy/unordered-allow',
  ]);
  assert.equal(allowed(resources, 'dev/a', 'dev/b'), false);
});

test('staged policies are never enforced, show in the pending view, and a staged-only tier has no end-of-tier drop', () => {
  const resources = [tier('preview', 1), sgnp('preview.deny-web', { tier: 'preview', selector: 'app == "db"', ingress: [{ action: 'Deny', source: { selector: 'app == "web"' } }] })];
  const r = flow(resources, 'dev/a', 'dev/b');
  assert.equal(r.allowed, true);
  assert.deepEqual(r.ingress.enforced.decision, { kind: 'profile-rule', profile: 'kns.dev', ruleIndex: 0, action: 'allow' });
  assert.equal(r.pendingAllowed, false);
  assert.deepEqual(r.ingress.pending.decision, { kind: 'policy-rule', tier: 'preview', policy: 'StagedGlobalNetworkPolicy/preview.deny-web', ruleIndex: 0, action: 'deny' });
  const ep = new PolicyEvaluator([...BASE, ...resources]).state.workloadEndpoints.get('pod:dev/b')!;
  assert.deepEqual(ep.tiers, []);
  assert.equal(ep.pendingTiers[0].name, 'preview');
});

test('staged Set replaces its enforced counterpart, Delete removes it, Learn and Ignore change nothing', () => {
  const enforced = gnp('guard', { selector: 'app == "db"', ingress: [{ action: 'Deny' }] });
  const staged = (stagedAction: StagedPolicySpec['stagedAction']) => sgnp('guard', { stagedAction, selector: 'app == "db"', ingress: [{ action: 'Allow', protocol: 'TCP' }] });
  const set = flow([enforced, staged('Set')], 'dev/a', 'dev/b');
  assert.equal(set.allowed, false);
  assert.equal(set.pendingAllowed, true);
  assert.deepEqual(set.ingress.pending.decision, { kind: 'policy-rule', tier: 'default', policy: 'StagedGlobalNetworkPolicy/guard', ruleIndex: 0, action: 'allow' });
  const del = flow([enforced, staged('Delete')], 'dev/a', 'dev/b');
  assert.equal(del.pendingAllowed, true);
  assert.equal(del.ingress.pending.decision.kind, 'profile-rule');
  for (const action of ['Learn', 'Ignore'] as const) {
    const r = flow([enforced, staged(action)], 'dev/a', 'dev/b');
    assert.equal(r.allowed, false);
    assert.equal(r.pendingAllowed, false, action);
  }
});

test('protocol and notProtocol', () => {
  assert.equal(allowed([onB([{ action: 'Allow', protocol: 'TCP' }])], 'dev/a', 'dev/b'), true);
  assert.equal(allowed([onB([{ action: 'Allow', protocol: 'TCP' }])], 'dev/a', 'dev/b', { protocol: 'UDP' }), false);
  assert.equal(allowed([onB([{ action: 'Allow', protocol: 6 }])], 'dev/a', 'dev/b'), true, 'numeric protocol');
  assert.equal(allowed([onB([{ action: 'Allow', notProtocol: 'UDP' }])], 'dev/a', 'dev/b'), true);
  assert.equal(allowed([onB([{ action: 'Allow', notProtocol: 'TCP' }])], 'dev/a', 'dev/b'), false);
  assert.equal(allowed([onB([{ action: 'Allow', protocol: 'SCTP' }])], 'dev/a', 'dev/b', { protocol: 'SCTP' }), true);
});

test('icmp and notICMP by type and code', () => {
  const rules: Rule[] = [{ action: 'Allow', protocol: 'ICMP', icmp: { type: 8, code: 0 } }];
  assert.equal(allowed([onB(rules)], 'dev/a', 'dev/b', { protocol: 'ICMP', port: undefined, icmpType: 8, icmpCode: 0 }), true);
  assert.equal(allowed([onB(rules)], 'dev/a', 'dev/b', { protocol: 'ICMP', port: undefined, icmpType: 0, icmpCode: 0 }), false);
  assert.equal(allowed([onB(rules)], 'dev/a', 'dev/b', { protocol: 'ICMP', port: undefined, icmpType: 8, icmpCode: 1 }), false);
  const typeOnly: Rule[] = [{ action: 'Allow', protocol: 'ICMP', icmp: { type: 3 } }];
  assert.equal(allowed([onB(typeOnly)], 'dev/a', 'dev/b', { protocol: 'ICMP', port: undefined, icmpType: 3, icmpCode: 4 }), true);
  const not: Rule[] = [{ action: 'Allow', protocol: 'ICMP', notICMP: { type: 8 } }];
  assert.equal(allowed([onB(not)], 'dev/a', 'dev/b', { protocol: 'ICMP', port: undefined, icmpType: 8, icmpCode: 0 }), false);
  assert.equal(allowed([onB(not)], 'dev/a', 'dev/b', { protocol: 'ICMP', port: undefined, icmpType: 13, icmpCode: 0 }), true);
});

test('nets and notNets on source and destination', () => {
  assert.equal(allowed([onB([{ action: 'Allow', source: { nets: ['10.0.0.0/30'] } }])], 'dev/a', 'dev/b'), true);
  assert.equal(allowed([onB([{ action: 'Allow', source: { nets: ['10.0.1.0/24'] } }])], 'dev/a', 'dev/b'), false);
  assert.equal(allowed([onB([{ action: 'Allow', source: { nets: ['10.0.0.0/16'], notNets: ['10.0.0.1/32'] } }])], 'dev/a', 'dev/b'), false);
  assert.equal(allowed([onB([{ action: 'Allow', source: { nets: ['10.0.0.0/16'], notNets: ['10.0.0.1/32'] } }])], 'prod/c', 'dev/b'), true);
  assert.equal(allowed([onB([{ action: 'Allow', destination: { nets: ['10.0.0.2/32'] } }])], 'dev/a', 'dev/b'), true);
  assert.equal(allowed([onB([{ action: 'Allow', destination: { notNets: ['10.0.0.2/32'] } }])], 'dev/a', 'dev/b'), false);
  assert.equal(allowed([onB([{ action: 'Allow', source: { nets: ['fd00::/8'] } }])], 'dev/a', 'dev/b'), false, 'other family never matches');
});

test('selector and notSelector; a rule selector only matches known endpoints', () => {
  assert.equal(allowed([onB([{ action: 'Allow', source: { selector: 'app == "web"' } }])], 'dev/a', 'dev/b'), true);
  assert.equal(allowed([onB([{ action: 'Allow', source: { selector: 'app == "web"' } }])], '192.168.9.9', 'dev/b'), false);
  assert.equal(allowed([onB([{ action: 'Allow', source: { selector: 'all()' } }])], '192.168.9.9', 'dev/b'), false, 'all() = known endpoints only');
  assert.equal(allowed([onB([{ action: 'Allow', source: { notSelector: 'app == "web"' } }])], 'dev/a', 'dev/b'), false);
  assert.equal(allowed([onB([{ action: 'Allow', source: { notSelector: 'app == "web"' } }])], '192.168.9.9', 'dev/b'), true, 'notSelector matches outsiders');
  // A namespaced policy's rule selector stays in its namespace: prod/c has app=web too, but is not in dev.
  const scoped = np('dev', 'from-web', { selector: 'app == "db"', ingress: [{ action: 'Allow', source: { selector: 'app == "web"' } }] });
  assert.equal(allowed([scoped], 'dev/a', 'dev/b'), true);
  assert.equal(allowed([scoped], 'prod/c', 'dev/b'), false);
});

test('namespaceSelector: by namespace labels, all(), global()', () => {
  const from = (namespaceSelector: string, selector?: string) => np('dev', 'p', {
    selector: 'app == "db"', ingress: [{ action: 'Allow', source: { namespaceSelector, ...(selector ? { selector } : {}) } }],
  });
  assert.equal(allowed([from('env == "prod"')], 'prod/c', 'dev/b'), true);
  assert.equal(allowed([from('env == "prod"')], 'dev/a', 'dev/b'), false);
  assert.equal(allowed([from('projectcalico.org/name == "prod"')], 'prod/c', 'dev/b'), true);
  assert.equal(allowed([from('all()', 'app == "web"')], 'prod/c', 'dev/b'), true);
  assert.equal(allowed([from('all()')], '192.168.9.9', 'dev/b'), false);
  const gns: AnyResource = { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkSet', metadata: { name: 'ext', labels: { zone: 'ext' } }, spec: { nets: ['192.168.0.0/16'] } };
  assert.equal(allowed([gns, from('global()', 'zone == "ext"')], '192.168.9.9', 'dev/b'), true, 'global() selects global network sets');
  assert.equal(allowed([gns, from('global()')], 'prod/c', 'dev/b'), false, 'and no pods');
  assert.equal(allowed([from('env == "nonexistent"')], 'prod/c', 'dev/b'), false, 'a namespace nobody created matches nothing');
});

test('serviceAccounts by names and by selector over service-account labels', () => {
  const sa: AnyResource = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api', namespace: 'dev', labels: { team: 'data' } }, spec: {} };
  const toWeb = (serviceAccounts: { names?: string[]; selector?: string }) => gnp('sa', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { serviceAccounts } }] });
  assert.equal(allowed([toWeb({ names: ['api'] })], 'dev/b', 'dev/a'), true);
  assert.equal(allowed([toWeb({ names: ['other'] })], 'dev/b', 'dev/a'), false);
  assert.equal(allowed([sa, toWeb({ selector: 'team == "data"' })], 'dev/b', 'dev/a'), true);
  assert.equal(allowed([sa, toWeb({ selector: 'team == "data"' })], 'prod/c', 'dev/a'), false);
  assert.equal(allowed([sa, toWeb({ names: ['api'], selector: 'team == "ops"' })], 'dev/b', 'dev/a'), false, 'names AND selector');
});

test('ports: numbers, ranges, notPorts, source ports', () => {
  const p = (dst: Rule['destination']) => [onB([{ action: 'Allow', protocol: 'TCP', destination: dst }])];
  assert.equal(allowed(p({ ports: [80] }), 'dev/a', 'dev/b'), true);
  assert.equal(allowed(p({ ports: [81] }), 'dev/a', 'dev/b'), false);
  assert.equal(allowed(p({ ports: ['70:90'] }), 'dev/a', 'dev/b'), true);
  assert.equal(allowed(p({ ports: ['81:90'] }), 'dev/a', 'dev/b'), false);
  assert.equal(allowed(p({ notPorts: ['1:79', 81] }), 'dev/a', 'dev/b'), true);
  assert.equal(allowed(p({ notPorts: ['75:85'] }), 'dev/a', 'dev/b'), false);
  const src = [onB([{ action: 'Allow', protocol: 'TCP', source: { ports: ['30000:40000'] } }])];
  assert.equal(allowed(src, 'dev/a', 'dev/b', { srcPort: 33333 }), true);
  assert.equal(allowed(src, 'dev/a', 'dev/b', { srcPort: 1234 }), false);
});

test('named ports resolve against the destination pod, name and protocol both', () => {
  const rules = (protocol: string, port: string): AnyResource[] => [onB([{ action: 'Allow', protocol, destination: { ports: [port] } }])];
  assert.equal(allowed(rules('TCP', 'http'), 'dev/a', 'dev/b', { port: 8080 }), true);
  assert.equal(allowed(rules('TCP', 'http'), 'dev/a', 'dev/b', { port: 80 }), false);
  assert.equal(allowed(rules('UDP', 'http'), 'dev/a', 'dev/b', { port: 8080, protocol: 'UDP' }), false, 'http is served on TCP only');
  assert.equal(allowed(rules('UDP', 'dns'), 'dev/a', 'dev/b', { port: 5353, protocol: 'UDP' }), true);
});

test('ipVersion restricts a rule to one family', () => {
  const v6pods: AnyResource[] = [pod('dev', 'six', 'fd00::6', { app: 'db' }), pod('dev', 'src6', 'fd00::7', { app: 'web' })];
  const rules = [gnp('v6-only', { selector: 'app == "db"', ingress: [{ action: 'Allow', ipVersion: 6 }] })];
  assert.equal(allowed([...v6pods, ...rules], 'dev/src6', 'dev/six'), true);
  assert.equal(allowed(rules, 'dev/a', 'dev/b'), false);
});

test('NetworkSet (namespaced) is matched by selectors in its namespace', () => {
  const set: AnyResource = { apiVersion: 'projectcalico.org/v3', kind: 'NetworkSet', metadata: { name: 'partners', namespace: 'dev', labels: { role: 'partner' } }, spec: { nets: ['198.51.100.0/24'] } };
  const p = np('dev', 'partners-in', { selector: 'app == "db"', ingress: [{ action: 'Allow', source: { selector: 'role == "partner"' } }] });
  assert.equal(allowed([set, p], '198.51.100.7', 'dev/b'), true);
  assert.equal(allowed([set, p], '198.51.101.7', 'dev/b'), false);
  const elsewhere = np('prod', 'partners-in', { selector: 'app == "web"', ingress: [{ action: 'Allow', source: { selector: 'role == "partner"' } }] });
  assert.equal(allowed([set, elsewhere], '198.51.100.7', 'prod/c'), false, 'a NetworkSet is only seen from its own namespace');
});

test('egress policy on the source and ingress on the destination must both allow', () => {
  const egressDeny = gnp('no-out', { selector: 'app == "web"', types: ['Egress'], egress: [{ action: 'Deny', destination: { selector: 'app == "db"' } }] });
  const r = flow([egressDeny, onB([{ action: 'Allow' }])], 'dev/a', 'dev/b');
  assert.equal(r.allowed, false);
  assert.equal(r.egress.enforced.verdict, 'deny');
  assert.equal(r.ingress.enforced.verdict, 'allow');
});

test('profiles: stored Profile rules and labelsToApply; a missing profile denies', () => {
  const prof: AnyResource = { apiVersion: 'projectcalico.org/v3', kind: 'Profile', metadata: { name: 'locked' }, spec: { ingress: [{ action: 'Deny', protocol: 'UDP' }, { action: 'Allow' }], labelsToApply: { locked: 'yes' } } };
  const wep = (name: string, profiles: string[], ip: string): AnyResource => ({
    apiVersion: 'projectcalico.org/v3', kind: 'WorkloadEndpoint', metadata: { name, namespace: 'dev', labels: {} },
    spec: { node: 'n1', orchestrator: 'cni', endpoint: 'eth0', interfaceName: `cali${name}`, ipNetworks: [`${ip}/32`], profiles },
  });
  const resources = [prof, wep('w1', ['locked'], '10.0.2.1'), wep('w2', ['nowhere'], '10.0.2.2')];
  assert.equal(allowed(resources, 'dev/a', 'dev/w1'), true);
  assert.equal(allowed(resources, 'dev/a', 'dev/w1', { protocol: 'UDP' }), false);
  const r = flow(resources, 'dev/a', 'dev/w2');
  assert.equal(r.allowed, false);
  assert.deepEqual(r.ingress.enforced.decision, { kind: 'no-profile-allowed', profiles: ['nowhere'] });
  const byLabel = gnp('by-label', { selector: 'locked == "yes"', ingress: [{ action: 'Deny' }] });
  assert.equal(allowed([...resources, byLabel], 'dev/a', 'dev/w1'), false, 'labels inherited from the profile are selectable');
});

test('a WorkloadEndpoint for a pod takes precedence over the Pod', () => {
  const wep: AnyResource = {
    apiVersion: 'projectcalico.org/v3', kind: 'WorkloadEndpoint', metadata: { name: 'n1-k8s-b-eth0', namespace: 'dev', labels: { app: 'cache' } },
    spec: { node: 'n1', orchestrator: 'k8s', pod: 'b', endpoint: 'eth0', interfaceName: 'calib', ipNetworks: ['10.0.0.22/32'] },
  };
  const ev = new PolicyEvaluator([...BASE, wep]);
  assert.equal(ev.state.workloadEndpoints.has('pod:dev/b'), false);
  assert.equal(ev.resolve('dev/b').ip, '10.0.0.22');
  const cacheOnly = gnp('cache', { selector: 'app == "cache"', ingress: [{ action: 'Deny' }] });
  assert.equal(allowed([wep, cacheOnly], 'dev/a', 'dev/b'), false);
});

test('an address that belongs to no endpoint is not policed on its side', () => {
  const r = flow([onB([{ action: 'Allow', source: { nets: ['192.168.0.0/16'] } }])], '192.168.1.1', 'dev/b');
  assert.equal(r.allowed, true);
  assert.deepEqual(r.egress.enforced.decision, { kind: 'not-policed' });
  assert.equal(flow([], 'dev/b', '10.0.0.1').to.kind, 'workload', 'a pod address resolves to the pod');
});

test('host endpoints: default deny, failsafe ports, preDNAT and doNotTrack stages, default-allow profile', () => {
  const hep = (profiles: string[] = []): AnyResource => ({
    apiVersion: 'projectcalico.org/v3', kind: 'HostEndpoint', metadata: { name: 'n1-eth0', labels: { host: 'n1' } },
    spec: { node: 'n1', interfaceName: 'eth0', expectedIPs: ['172.16.0.1'], profiles },
  });
  assert.equal(allowed([hep()], '172.16.0.9', 'hep:n1-eth0'), false, 'no policy, no profile: deny');
  const ssh = flow([hep()], '172.16.0.9', 'hep:n1-eth0', { port: 22 });
  assert.equal(ssh.allowed, true);
  assert.deepEqual(ssh.ingress.enforced.decision, { kind: 'failsafe', port: 'tcp:22' });
  assert.equal(allowed([hep(['projectcalico-default-allow'])], '172.16.0.9', 'hep:n1-eth0'), true);
  const preDnatDeny = gnp('pre', { selector: 'host == "n1"', preDNAT: true, applyOnForward: true, ingress: [{ action: 'Deny', source: { nets: ['172.16.0.9/32'] } }] });
  assert.equal(allowed([hep(['projectcalico-default-allow']), preDnatDeny], '172.16.0.9', 'hep:n1-eth0'), false);
  assert.equal(allowed([hep(['projectcalico-default-allow']), preDnatDeny], '172.16.0.8', 'hep:n1-eth0'), true, 'preDNAT has no end-of-tier drop');
  const untrackedAllow = gnp('raw', { selector: 'host == "n1"', doNotTrack: true, applyOnForward: true, ingress: [{ action: 'Allow' }] });
  const normalDeny = gnp('normal', { selector: 'host == "n1"', ingress: [{ action: 'Deny' }] });
  const r = flow([hep(), untrackedAllow, normalDeny], '172.16.0.9', 'hep:n1-eth0');
  assert.equal(r.allowed, true, 'an untracked Allow skips normal policy');
  assert.equal(r.ingress.enforced.decision.kind, 'policy-rule');
  assert.equal(allowed([hep(), normalDeny], '172.16.0.9', 'hep:n1-eth0'), false);
  const custom: AnyResource = { apiVersion: 'projectcalico.org/v3', kind: 'AgentConfiguration', metadata: { name: 'default' }, spec: { failsafeInboundHostPorts: [{ protocol: 'TCP', port: 2222 }] } };
  assert.equal(allowed([hep(), custom], '172.16.0.9', 'hep:n1-eth0', { port: 2222 }), true);
  assert.equal(allowed([hep(), custom], '172.16.0.9', 'hep:n1-eth0', { port: 22 }), false, 'configured failsafe ports replace the defaults');
});

test('a policy that cannot be compiled is left out and reported', () => {
  const bad = gnp('bad', { selector: 'app == "db"', ingress: [{ action: 'Deny', source: { selector: 'app ==' } }] });
  const ev = new PolicyEvaluator([...BASE, bad]);
  assert.equal(ev.problems.length, 1);
  assert.match(ev.problems[0].message, /source\.selector/);
  assert.equal(ev.evaluate({ from: 'dev/a', to: 'dev/b', port: 80 }).allowed, true);
});

test('resolve explains what it cannot find', () => {
  const ev = new PolicyEvaluator(BASE);
  assert.throws(() => ev.resolve('dev/zzz'), /workload "dev\/zzz" not found/);
  assert.throws(() => ev.resolve('nonsense'), /neither NAMESPACE\/POD, hep:NAME nor an IP address/);
  assert.throws(() => ev.resolve('hep:nope'), /host endpoint "nope" not found/);
});

test('named notPorts, and a services rule (not modelled) that never matches but says why', () => {
  const notNamed = [onB([{ action: 'Allow', protocol: 'TCP', destination: { notPorts: ['http'] } }])];
  assert.equal(allowed(notNamed, 'dev/a', 'dev/b', { port: 8080 }), false);
  assert.equal(allowed(notNamed, 'dev/a', 'dev/b', { port: 8081 }), true);
  const svc = [onB([{ action: 'Allow', protocol: 'TCP', destination: { services: { name: 'db', namespace: 'dev' } } }])];
  const ev = new PolicyEvaluator([...BASE, ...svc]);
  const rule = ev.state.policies.get('GlobalNetworkPolicy/on-b')!.ingress[0];
  assert.match(rule.neverMatches ?? '', /spec\.ingress\[0\]\.destination\.services: Kubernetes Services are not modelled/);
  assert.equal(ev.evaluate({ from: 'dev/a', to: 'dev/b', port: 80 }).allowed, false);
});
