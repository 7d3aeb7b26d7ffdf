// Unit tests of the nftables manager (no root): incremental transactions applied to a simulated kernel
// end where a fresh render of the final state starts; chains and sets that appear or go when policies,
// profiles and IP sets gain or lose members; interface ownership; host endpoints; pools; no-op updates.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NFT_MAPS, NFT_SETS, nftHostEndpointChain, nftIpSetName, nftPolicyChain, nftWorkloadChain } from '../lib/index.ts';
import type { DataplaneMessage, HostEndpointState } from '../dataplane-api/index.ts';
import type { NftChange, ObservedTable } from './nft-model.ts';
import { NftTableManager } from './nft-table.ts';
import { SCENARIO_PODS, endpoint, policy, scenarioEndpoints, scenarioMessages, webPolicy } from './policy-scenario.ts';
import type { DriverMessage } from './host-messages.ts';

/** A kernel that only keeps what transactions leave behind (rules by hash), for checking the journal. */
function applyToKernel(k: ObservedTable, c: NftChange): void {
  assert.equal(c.fullReplace, false);
  for (const d of c.declsAdded) {
    assert.ok(!k.decls.has(d.name), `set "${d.name}" added twice`);
    k.decls.set(d.name, d);
    k.elements.set(d.name, new Map());
  }
  for (const ch of [...c.chainsAdded, ...c.chainsRecreated]) k.chains.set(ch.name, { ...(ch.base ? { base: ch.base } : {}), hashes: ch.rules.map((r) => r.hash) });
  for (const [set, keys] of c.elementsRemoved) for (const key of keys) assert.ok(k.elements.get(set)?.delete(key), `delete of "${key}" missing from "${set}"`);
  for (const [set, elems] of c.elementsAdded) {
    const m = k.elements.get(set);
    assert.ok(m, `elements added to missing set "${set}"`);
    for (const [key, v] of elems) {
      assert.ok(!m.has(key), `"${key}" added twice to "${set}"`);
      m.set(key, v);
    }
  }
  for (const ch of c.chainsRefilled) {
    assert.ok(k.chains.has(ch.name), `refill of missing chain "${ch.name}"`);
    k.chains.set(ch.name, { ...(ch.base ? { base: ch.base } : {}), hashes: ch.rules.map((r) => r.hash) });
  }
  for (const name of c.chainsRemoved) assert.ok(k.chains.delete(name), `delete of missing chain "${name}"`);
  for (const name of c.declsRemoved) {
    assert.ok(k.decls.delete(name), `delete of missing set "${name}"`);
    k.elements.delete(name);
  }
}

function freshKernelView(messages: DriverMessage[]): ObservedTable {
  const m = new NftTableManager();
  m.applyAll(messages);
  m.render();
  return {
    chains: new Map([...m.model.chains].map(([n, c]) => [n, { ...(c.base ? { base: c.base } : {}), hashes: c.rules.map((r) => r.hash) }])),
    decls: new Map(m.model.decls),
    elements: new Map([...m.model.elements].map(([n, e]) => [n, new Map(e)])),
  };
}

function sortedView(t: ObservedTable): unknown {
  return {
    chains: [...t.chains].sort(([a], [b]) => (a < b ? -1 : 1)),
    decls: [...t.decls.keys()].sort(),
    elements: [...t.elements].filter(([, e]) => e.size > 0).map(([n, e]) => [n, [...e].sort()]).sort(),
  };
}

test('incremental transactions on a simulated kernel end where a fresh render of the final state is', () => {
  const [a, b, c] = SCENARIO_PODS;
  const all = scenarioMessages();
  const steps: DriverMessage[][] = [
    all,
    [{ type: 'ActivePolicyUpdate', id: 'web', policy: webPolicy([443, 8443]) }],
    [{ type: 'IpSetDeltaUpdate', id: 's-client', added: [`${c.v4}/32`, 'fd00:65::77/128'], removed: [`${a.v6}/128`] }],
    [{ type: 'IpSetDeltaUpdate', id: 's-nets', added: ['fd00:66::/64'], removed: ['10.65.0.2/31', 'fd00:65::2/127'] }],
    [{ type: 'IpSetUpdate', id: 's-nets', spec: { id: 's-nets', type: 'net', selector: "kind == 'net'" }, members: ['10.0.0.0/8', '10.65.0.3/32'] }],
    [{ type: 'WorkloadEndpointUpdate', id: 'wep/b', endpoint: { ...scenarioEndpoints()[1], interfaceName: 'brvrenamed' } }],
    [{ type: 'WorkloadEndpointRemove', id: 'wep/c' }, { type: 'ActiveProfileRemove', id: 'p1' }],
    [{ type: 'IpPoolUpdate', id: 'pool', pool: { cidr: '10.65.0.0/16', natOutgoing: true, vxlanMode: 'Never' } }],
    [{ type: 'VxlanTunnelEndpointUpdate', vtep: { node: 'n2', parentDeviceIp: '192.168.77.12', tunnelAddress: '10.65.2.0' } }],
    [{ type: 'ActivePolicyRemove', id: 'egress-tp' }, { type: 'WorkloadEndpointUpdate', id: 'wep/a', endpoint: endpoint(a, [], ['kns']) }],
    [{ type: 'IpSetRemove', id: 'np-http' }, { type: 'ActivePolicyUpdate', id: 'web', policy: policy('web', 'default', [{ action: 'allow' }]) }],
  ];
  const m = new NftTableManager();
  const kernel: ObservedTable = { chains: new Map(), decls: new Map(), elements: new Map() };
  const applied: DriverMessage[] = [];
  for (const [i, batch] of steps.entries()) {
    m.applyAll(batch);
    applied.push(...batch);
    m.render();
    applyToKernel(kernel, m.model.takeChange());
    m.model.commit();
    assert.deepEqual(sortedView(kernel), sortedView(freshKernelView(applied)), `after step ${i}`);
  }
  void b;
});

test('chains and sets exist only while they have content; their users follow', () => {
  const [a] = SCENARIO_PODS;
  const m = new NftTableManager();
  const ingressOnly = policy('p', 'default', [{ action: 'allow', src: { ipSets: ['s'] } }]);
  m.applyAll([
    { type: 'IpSetUpdate', id: 's', spec: { id: 's', type: 'net', selector: 'all()' }, members: ['10.0.0.1/32'] },
    { type: 'ActivePolicyUpdate', id: 'p', policy: ingressOnly },
    { type: 'WorkloadEndpointUpdate', id: 'wep/a', endpoint: endpoint(a, [{ name: 'default', order: null, defaultAction: 'Deny', ingress: ['p'], egress: ['p'] }], []) },
    { type: 'InSync' },
  ]);
  m.render();
  m.model.takeChange();
  m.model.commit();
  const egressChain = () => m.model.chains.get(nftWorkloadChain(a.iface, 'egress'))!.rules.map((r) => r.body).join('\n');
  assert.ok(!m.model.chains.has(nftPolicyChain('p', 'egress')), 'no egress rules, no egress chain');
  assert.ok(!egressChain().includes('jump'), 'and the endpoint does not jump to it');
  assert.ok(!m.model.decls.has(nftIpSetName('s', 'hosts', 6)) && !m.model.decls.has(nftIpSetName('s', 'nets', 4)), 'empty parts do not exist');

  // The policy gains an egress rule: its chain appears and the endpoint now jumps to it.
  m.apply({ type: 'ActivePolicyUpdate', id: 'p', policy: policy('p', 'default', [{ action: 'allow', src: { ipSets: ['s'] } }], [{ action: 'deny' }]) });
  m.render();
  let c = m.model.takeChange();
  m.model.commit();
  assert.deepEqual(c.chainsAdded.map((x) => x.name), [nftPolicyChain('p', 'egress')]);
  assert.deepEqual(c.chainsRefilled.map((x) => x.name), [nftWorkloadChain(a.iface, 'egress')]);

  // The set's first IPv6 member: its h6 set appears and the policy consults it.
  m.apply({ type: 'IpSetDeltaUpdate', id: 's', added: ['fd00::1/128'], removed: [] });
  m.render();
  c = m.model.takeChange();
  m.model.commit();
  assert.deepEqual(c.declsAdded.map((d) => d.name), [nftIpSetName('s', 'hosts', 6)]);
  assert.deepEqual(c.chainsRefilled.map((x) => x.name), [nftPolicyChain('p', 'ingress')]);
  assert.deepEqual([...c.elementsAdded], [[nftIpSetName('s', 'hosts', 6), [['fd00::1', '']]]]);

  // ...and its last one: the set goes after the policy stopped using it (same transaction).
  m.apply({ type: 'IpSetDeltaUpdate', id: 's', added: [], removed: ['fd00::1/128'] });
  m.render();
  c = m.model.takeChange();
  m.model.commit();
  assert.deepEqual(c.declsRemoved, [nftIpSetName('s', 'hosts', 6)]);
  assert.deepEqual(c.chainsRefilled.map((x) => x.name), [nftPolicyChain('p', 'ingress')]);

  // Re-sending the same state changes nothing.
  m.applyAll([{ type: 'ActivePolicyUpdate', id: 'p', policy: policy('p', 'default', [{ action: 'allow', src: { ipSets: ['s'] } }], [{ action: 'deny' }]) }]);
  m.render();
  c = m.model.takeChange();
  assert.equal(c.chainsRefilled.length + c.chainsAdded.length + c.elementsAdded.size + c.elementsRemoved.size, 0);
});

test('a policy named before it is known drops, and is jumped to once it arrives', () => {
  const [a] = SCENARIO_PODS;
  const m = new NftTableManager();
  m.applyAll([
    { type: 'WorkloadEndpointUpdate', id: 'wep/a', endpoint: endpoint(a, [{ name: 'default', order: null, defaultAction: 'Deny', ingress: ['late'], egress: [] }], []) },
  ]);
  m.render();
  const ingress = () => m.model.chains.get(nftWorkloadChain(a.iface, 'ingress'))!.rules.map((r) => `${r.body} # ${r.comment}`);
  assert.deepEqual(ingress(), ['counter drop # wl ns/a ingress: tier default: missing policy late']);
  m.apply({ type: 'ActivePolicyUpdate', id: 'late', policy: policy('late', 'default', [{ action: 'allow' }]) });
  m.render();
  assert.ok(ingress()[0].startsWith(`counter jump ${nftPolicyChain('late', 'ingress')}`));
});

test('two endpoints claiming one interface: the smaller id owns it, the other takes over when it goes', () => {
  const [a, b] = SCENARIO_PODS;
  const m = new NftTableManager();
  const shared = { ...b, iface: a.iface };
  m.applyAll([
    { type: 'WorkloadEndpointUpdate', id: 'wep/b', endpoint: endpoint(shared, [], []) },
    { type: 'WorkloadEndpointUpdate', id: 'wep/a', endpoint: endpoint(a, [], []) },
  ]);
  m.render();
  const spoof = () => m.model.chains.get(nftWorkloadChain(a.iface, 'egress'))!.rules[0].body;
  assert.equal(spoof(), `ip saddr != ${a.v4} counter drop`);
  m.apply({ type: 'WorkloadEndpointRemove', id: 'wep/a' });
  m.render();
  assert.equal(spoof(), `ip saddr != ${b.v4} counter drop`);
  assert.equal(m.model.elements.get(NFT_MAPS.workloadFrom)?.get(a.iface), `jump ${nftWorkloadChain(a.iface, 'egress')}`);
});

function hep(name: string, iface: string | undefined): HostEndpointState {
  const t = [{ name: 'default', order: null, defaultAction: 'Deny' as const, ingress: ['hp'], egress: [] }];
  return {
    id: `hep:${name}`, name, node: 'host', ...(iface ? { interfaceName: iface } : {}), expectedIPs: ['192.168.77.11'], profileIds: [],
    tiers: t, untrackedTiers: [], preDnatTiers: [], forwardTiers: [], pendingTiers: t,
  };
}

test('host endpoints: failsafe first, named interfaces through the maps, "*" from the base chains', () => {
  const m = new NftTableManager();
  const msgs: DataplaneMessage[] = [
    { type: 'ActivePolicyUpdate', id: 'hp', policy: policy('hp', 'default', [{ action: 'allow', protocol: 6, dst: { ports: [{ first: 443, last: 443 }] } }]) },
    { type: 'HostEndpointUpdate', id: 'hep:eth0', endpoint: hep('eth0', 'eth0') },
    { type: 'HostEndpointUpdate', id: 'hep:all', endpoint: hep('all', '*') },
    { type: 'HostEndpointUpdate', id: 'hep:ips', endpoint: hep('ips', undefined) },
  ];
  m.applyAll(msgs);
  m.render();
  const inChain = m.model.chains.get(nftHostEndpointChain('eth0', 'ingress'))!.rules.map((r) => r.body);
  assert.deepEqual(inChain.slice(0, 3), [
    'meta l4proto tcp th dport { 22, 179, 2379, 2380, 5473, 6443, 6666, 6667 } counter return',
    'meta l4proto udp th dport 68 counter return',
    'counter meta mark set meta mark & 0xfffcffff',
  ]);
  assert.equal(inChain[inChain.length - 1], 'counter drop', 'no profile: host traffic is denied once a host endpoint exists');
  assert.equal(m.model.elements.get(NFT_MAPS.hostFrom)?.get('eth0'), `goto ${nftHostEndpointChain('eth0', 'ingress')}`);
  const input = m.model.chains.get('input')!.rules.map((r) => r.body);
  assert.equal(input[input.length - 1], `counter goto ${nftHostEndpointChain('*', 'ingress')}`);
  assert.ok(![...m.model.chains.keys()].some((n) => n.includes('ips')), 'a host endpoint without an interface gets no chains');
  m.apply({ type: 'HostEndpointRemove', id: 'hep:all' });
  m.render();
  assert.ok(!m.model.chains.get('input')!.rules.some((r) => r.body.includes('goto hep-')), 'the wildcard jump goes with its endpoint');
});

test('pools fill the NAT sets; disabled pools stay inside but do not masquerade', () => {
  const m = new NftTableManager();
  m.applyAll([
    { type: 'IpPoolUpdate', id: 'a', pool: { cidr: '10.65.0.0/16', natOutgoing: true, vxlanMode: 'Never' } },
    { type: 'IpPoolUpdate', id: 'b', pool: { cidr: '10.66.0.0/16', natOutgoing: true, vxlanMode: 'Never', disabled: true } },
    { type: 'IpPoolUpdate', id: 'c', pool: { cidr: 'fd00:65::/48', natOutgoing: false, vxlanMode: 'Always' } },
  ]);
  m.render();
  const keys = (set: string) => [...(m.model.elements.get(set)?.keys() ?? [])].sort();
  assert.deepEqual(keys(NFT_SETS.allPools(4)), ['10.65.0.0/16', '10.66.0.0/16']);
  assert.deepEqual(keys(NFT_SETS.natPools(4)), ['10.65.0.0/16']);
  assert.deepEqual(keys(NFT_SETS.allPools(6)), ['fd00:65::/48']);
  assert.deepEqual(keys(NFT_SETS.natPools(6)), []);
});
