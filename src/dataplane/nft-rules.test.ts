// Golden-string tests of the nftables rendering (no root): rule programs to nft matches (family split,
// exclusive alternatives for Log, port guards, ICMP, missing sets), action statements, the endpoint tier
// walk, base chains, element helpers, the journal's minimal transactions, and parsing a real readback.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nftIpSetName } from '../lib/index.ts';
import type { RuleProgram } from '../dataplane-api/index.ts';
import { coverNets, hostElement, partitionMembers, portElement } from './nft-elements.ts';
import { NftModel, nftRule, observedChange, scriptFor } from './nft-model.ts';
import { parseCounters, parseTable } from './nft-readback.ts';
import { baseChains, defaultRenderOptions, tierWalkRules } from './nft-render.ts';
import { renderRuleProgram, ruleMatchVariants } from './nft-rules.ts';
import type { RuleRenderContext } from './nft-rules.ts';

const ctx: RuleRenderContext = {
  ipSetType: (id) => (id === 'np' ? 'ip-and-port' : id === 'missing' ? undefined : 'net'),
  ipSetHasMembers: (id, part, f) => (part === 'hosts' && (id !== 'v4only' || f === 4)) || (part === 'nets' && id === 'withnets' && f === 4) || (part === 'ports' && id === 'np'),
};
const attribution = { owner: 'policy' as const, id: 'p', kind: 'GlobalNetworkPolicy', name: 'web', namespace: 'prod', tier: 'default', direction: 'ingress' as const, index: 3 };
const rule = (r: Partial<RuleProgram>): RuleProgram => ({ id: 'p/ingress/3', action: 'allow', src: {}, dst: {}, attribution, ...r });
const H4 = (id: string) => nftIpSetName(id, 'hosts', 4);
const H6 = (id: string) => nftIpSetName(id, 'hosts', 6);
const N4 = (id: string) => nftIpSetName(id, 'nets', 4);
const P4 = (id: string) => nftIpSetName(id, 'ports', 4);
const P6 = (id: string) => nftIpSetName(id, 'ports', 6);

test('rule programs render to the nft matches the reference walk means', () => {
  const cases: Array<[string, Partial<RuleProgram>, string[]]> = [
    ['no criteria matches everything', {}, ['']],
    ['port ranges are merged', { protocol: 6, dst: { ports: [{ first: 80, last: 80 }, { first: 8000, last: 8100 }, { first: 8050, last: 8200 }] } },
      ['meta l4proto tcp th dport { 80, 8000-8200 }']],
    ['ipVersion alone', { ipVersion: 6 }, ['meta nfproto ipv6']],
    ['nets split by family, notNets only where it has members', { src: { nets: ['10.0.0.0/8', '10.1.0.0/16', 'fd00::/8'] }, dst: { notNets: ['10.2.0.0/16'] } },
      ['ip saddr 10.0.0.0/8 ip daddr != 10.2.0.0/16', 'ip6 saddr fd00::/8']],
    ['a set with networks is consulted as hosts OR nets', { src: { ipSets: ['withnets'], notIpSets: ['other'] } }, [
      `ip saddr @${H4('withnets')} ip saddr != @${H4('other')}`,
      `ip saddr @${N4('withnets')} ip saddr != @${H4('other')}`,
      `ip6 saddr @${H6('withnets')} ip6 saddr != @${H6('other')}`]],
    ['Log alternatives exclude each other (one log line per packet)', { action: 'log', src: { ipSets: ['withnets'] } }, [
      `ip saddr @${H4('withnets')}`,
      `ip saddr != @${H4('withnets')} ip saddr @${N4('withnets')}`,
      `ip6 saddr @${H6('withnets')}`]],
    ['numeric ports OR a named-port set', { protocol: 6, dst: { ports: [{ first: 80, last: 80 }], namedPortIpSets: ['np'] } }, [
      'meta nfproto ipv4 meta l4proto tcp th dport 80',
      `meta l4proto tcp ip daddr . meta l4proto . th dport @${P4('np')}`,
      'meta nfproto ipv6 meta l4proto tcp th dport 80',
      `meta l4proto tcp ip6 daddr . meta l4proto . th dport @${P6('np')}`]],
    ['...and exclusive for Log', { action: 'log', protocol: 6, dst: { ports: [{ first: 80, last: 80 }], namedPortIpSets: ['np'] } }, [
      'meta nfproto ipv4 meta l4proto tcp th dport 80',
      `meta l4proto tcp th dport != 80 ip daddr . meta l4proto . th dport @${P4('np')}`,
      'meta nfproto ipv6 meta l4proto tcp th dport 80',
      `meta l4proto tcp th dport != 80 ip6 daddr . meta l4proto . th dport @${P6('np')}`]],
    ['ports without a protocol need one that has ports', { dst: { ports: [{ first: 53, last: 53 }] } },
      ['meta l4proto { tcp, udp, sctp, udplite } th dport 53']],
    ['notPorts without a protocol: a packet without ports passes', { action: 'deny', dst: { notPorts: [{ first: 22, last: 22 }] } },
      ['meta l4proto != { tcp, udp, sctp, udplite }', 'meta l4proto { tcp, udp, sctp, udplite } th dport != 22']],
    ['source ports and notPorts with a protocol', { action: 'pass', protocol: 17, src: { ports: [{ first: 1000, last: 2000 }] }, dst: { notPorts: [{ first: 53, last: 53 }] } },
      ['meta l4proto udp th sport 1000-2000 th dport != 53']],
    ['ICMP type and code', { protocol: 1, icmp: { type: 8, code: 0 } }, ['meta l4proto icmp icmp type 8 icmp code 0']],
    ['notICMP without a protocol: non-ICMP, other type, or same type other code', { notIcmp: { type: 8, code: 1 } }, [
      'meta nfproto ipv4 meta l4proto != icmp', 'icmp type != 8', 'icmp type 8 icmp code != 1',
      'meta nfproto ipv6 meta l4proto != ipv6-icmp', 'icmpv6 type != 8', 'icmpv6 type 8 icmpv6 code != 1']],
    ['notProtocol', { action: 'deny', notProtocol: 17 }, ['meta l4proto != udp']],
    ['an unknown set contains nothing: the rule cannot match', { src: { ipSets: ['missing'] } }, []],
    ['...and not being in it always holds', { src: { notIpSets: ['missing'] } }, ['meta nfproto ipv4', 'meta nfproto ipv6']],
    ['a set without IPv6 members: only the IPv4 variant can match', { src: { ipSets: ['v4only'] } }, [`ip saddr @${H4('v4only')}`]],
    ['...and the IPv6 variant of its negation needs no lookup', { action: 'deny', src: { notIpSets: ['v4only'] } }, [`ip saddr != @${H4('v4only')}`, 'meta nfproto ipv6']],
    ['ports on a protocol without ports cannot match', { protocol: 1, dst: { ports: [{ first: 1, last: 1 }] } }, []],
    ['a rule that never matches renders nothing', { neverMatches: 'service "x" is not resolvable' }, []],
  ];
  for (const [what, r, want] of cases) assert.deepEqual(ruleMatchVariants(rule(r), ctx), want, what);
});

test('actions, counters and comments', () => {
  const text = (r: Partial<RuleProgram>, owner: 'policy' | 'profile' = 'policy') =>
    renderRuleProgram(rule({ ...r, attribution: { ...attribution, owner, ...(owner === 'profile' ? { name: 'kns.prod', tier: undefined, namespace: undefined } : {}) } }), ctx)
      .map((x) => `${x.body} comment "${x.hash} ${x.comment}"`);
  assert.deepEqual(text({ action: 'allow', protocol: 6 }), [
    'meta l4proto tcp counter meta mark set meta mark | 0x00010000 return comment "' + nftRule('meta l4proto tcp counter meta mark set meta mark | 0x00010000 return', 'default/prod/web ingress#3 allow').hash + ' default/prod/web ingress#3 allow"']);
  assert.deepEqual(text({ action: 'deny' }).map((x) => x.replace(/"[0-9a-f]{8} /, '"H ')), ['counter drop comment "H default/prod/web ingress#3 deny"']);
  assert.deepEqual(text({ action: 'pass' }).map((x) => x.replace(/"[0-9a-f]{8} /, '"H ')), ['counter meta mark set meta mark | 0x00020000 return comment "H default/prod/web ingress#3 pass"']);
  assert.deepEqual(text({ action: 'pass' }, 'profile').map((x) => x.replace(/"[0-9a-f]{8} /, '"H ')), ['counter return comment "H profile kns.prod ingress#3 pass"']);
  assert.deepEqual(text({ action: 'log' }).map((x) => x.replace(/"[0-9a-f]{8} /, '"H ')),
    ['counter log prefix "brindle in default/prod/web#3: " group 17 comment "H default/prod/web ingress#3 log"']);
});

test('long or quoted names keep comments within nft limits', () => {
  const r = nftRule('counter drop', `x"${'n'.repeat(300)}`);
  assert.ok(Buffer.byteLength(`${r.hash} ${r.comment}`) <= 127);
  assert.ok(!r.comment.includes('"'));
  assert.ok(r.comment.endsWith('...'));
});

test('the endpoint tier walk: pass skips the tier, end-of-tier deny, missing policy drops, missing profile skipped', () => {
  const have = new Set(['p1', 'p2', 'p3', 'prof']);
  const c = {
    hasPolicy: (id: string) => have.has(id), hasProfile: (id: string) => have.has(id),
    hasPolicyRules: (id: string) => id !== 'p2', hasProfileRules: () => true,
  };
  const tiers = [
    // p2 has no ingress rules: no jump at all.
    { name: 't1', order: 1, defaultAction: 'Deny' as const, ingress: ['p1', 'p2', 'p3'], egress: [] },
    { name: 't2', order: 2, defaultAction: 'Pass' as const, ingress: ['p3'], egress: [] },
  ];
  const lines = tierWalkRules('wl ns/a', 'ingress', [{ tiers, endOfTierDrop: true }], ['ghost', 'prof'], c).map((r) => `${r.body}  # ${r.comment}`);
  assert.deepEqual(lines.map((l) => l.replace(/(pol|pro)-([ie])-[0-9a-f]{16}/g, '$1-$2-H')), [
    'counter meta mark set meta mark & 0xfffcffff  # wl ns/a ingress: clear marks',
    'counter jump pol-i-H  # wl ns/a ingress: tier t1: policy p1',
    'meta mark & 0x00010000 != 0 counter return  # wl ns/a ingress: allowed by policy p1',
    'meta mark & 0x00020000 == 0 counter jump pol-i-H  # wl ns/a ingress: tier t1: policy p3',
    'meta mark & 0x00010000 != 0 counter return  # wl ns/a ingress: allowed by policy p3',
    'meta mark & 0x00020000 == 0 counter drop  # wl ns/a ingress: end of tier t1',
    'counter meta mark set meta mark & 0xfffdffff  # wl ns/a ingress: after tier t1',
    'counter jump pol-i-H  # wl ns/a ingress: tier t2: policy p3',
    'meta mark & 0x00010000 != 0 counter return  # wl ns/a ingress: allowed by policy p3',
    'counter meta mark set meta mark & 0xfffdffff  # wl ns/a ingress: after tier t2',
    'counter jump pro-i-H  # wl ns/a ingress: profile prof',
    'meta mark & 0x00010000 != 0 counter return  # wl ns/a ingress: allowed by profile prof',
    'counter drop  # wl ns/a ingress: no profile allowed',
  ]);
  // A missing policy drops what reaches it (a Pass before it skips it); first in its tier it ends the chain.
  const missing = tierWalkRules('wl ns/a', 'ingress', [{ tiers: [{ ...tiers[0], ingress: ['p1', 'gone', 'p3'] }], endOfTierDrop: true }], [], c);
  assert.deepEqual(missing.slice(3, 4).map((r) => `${r.body}  # ${r.comment}`), ['meta mark & 0x00020000 == 0 counter drop  # wl ns/a ingress: tier t1: missing policy gone']);
  const first = tierWalkRules('wl ns/a', 'ingress', [{ tiers: [{ ...tiers[0], ingress: ['gone', 'p1'] }], endOfTierDrop: true }], ['prof'], c);
  assert.deepEqual(first.map((r) => r.body), ['counter meta mark set meta mark & 0xfffcffff', 'counter drop']);
});

test('base chains dispatch through verdict maps and fail closed for unknown workload interfaces', () => {
  const [pre, fwd] = baseChains(defaultRenderOptions());
  assert.deepEqual(pre.base, { type: 'filter', hook: 'prerouting', priority: -90, policy: 'accept' });
  assert.deepEqual(pre.rules.map((r) => r.body), [
    'ct state established,related counter accept',
    'ct state invalid counter drop',
    'iifname != "brv*" counter accept',
    'icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } counter accept',
    'ip daddr @vxlan-peers-v4 udp dport 4789 counter drop',
    'ip6 daddr @vxlan-peers-v6 udp dport 4789 counter drop',
    'counter meta mark set meta mark & 0xfffcffff',
    'counter iifname vmap @wl-from',
    'meta mark & 0x00010000 == 0 counter drop',
    'counter meta mark set meta mark & 0xfffcffff',
  ]);
  assert.deepEqual(fwd.base, { type: 'filter', hook: 'forward', priority: 0, policy: 'accept' });
  assert.deepEqual(fwd.rules.map((r) => r.body), [
    'ct state established,related counter accept',
    'ct state invalid counter drop',
    'counter meta mark set meta mark & 0xfffcffff',
    'counter oifname vmap @wl-to',
    'oifname "brv*" meta mark & 0x00010000 == 0 counter drop',
    'counter iifname vmap @hepfw-from',
    'counter oifname vmap @hepfw-to',
  ]);
});

test('element helpers: hosts, covering nets, named-port members', () => {
  assert.deepEqual(hostElement('10.0.0.1/32'), { family: 4, element: '10.0.0.1' });
  assert.deepEqual(hostElement('FD00:0::1/128'), { family: 6, element: 'fd00::1' });
  assert.equal(hostElement('10.0.0.0/24'), undefined);
  assert.deepEqual(coverNets(['10.1.0.0/16', '10.0.0.0/8', '11.0.0.0/25', '11.0.0.128/25', '10.0.0.5', 'fd00::/8'], 4), ['10.0.0.0/8', '11.0.0.0/25', '11.0.0.128/25']);
  assert.deepEqual(partitionMembers(['10.0.0.1/32', '192.168.0.0/16', '192.168.1.0/24', 'fd00::1/128', 'fd00::/64']), {
    hosts: { 4: ['10.0.0.1'], 6: ['fd00::1'] }, nets: { 4: ['192.168.0.0/16'], 6: ['fd00::/64'] },
  });
  assert.deepEqual(portElement('10.0.0.1,tcp:80'), { family: 4, element: '10.0.0.1 . 6 . 80' });
  assert.deepEqual(portElement('fd00::1,sctp:9'), { family: 6, element: 'fd00::1 . 132 . 9' });
  assert.equal(portElement('10.0.0.1,tcp:99999'), undefined);
});

test('the journal yields the minimal transaction, ordered so references resolve', () => {
  const m = new NftModel();
  m.setDecl('s', { name: 's', kind: 'set', type: 'ipv4_addr', flags: [] });
  m.setDecl('wl-from', { name: 'wl-from', kind: 'map', type: 'ifname : verdict', flags: [] });
  m.setChain('c1', { name: 'c1', rules: [nftRule('counter drop', 'one')] });
  m.setElement('s', '10.0.0.1', '');
  m.setElement('wl-from', 'brv1', 'jump c1');
  m.takeChange();
  m.commit();
  // A steady-state batch: one element swapped, one chain refilled, one map element re-pointed to a new chain.
  m.setElement('s', '10.0.0.1', undefined);
  m.setElement('s', '10.0.0.2', '');
  m.setElement('s', '10.0.0.3', '');
  m.setElement('s', '10.0.0.3', undefined); // added and removed in the same batch: nothing to do
  m.setChain('c1', { name: 'c1', rules: [nftRule('counter accept', 'one')] });
  m.setChain('c2', { name: 'c2', rules: [nftRule('counter return', 'two')] });
  m.setElement('wl-from', 'brv1', 'jump c2');
  const script = scriptFor(m.takeChange(), m).replace(/"[0-9a-f]{8} /g, '"H ');
  assert.equal(script, [
    'add chain inet brindle c2',
    'delete element inet brindle s { 10.0.0.1 }',
    'delete element inet brindle wl-from { "brv1" }',
    'add element inet brindle s { 10.0.0.2 }',
    'add element inet brindle wl-from { "brv1" : jump c2 }',
    'flush chain inet brindle c1',
    'add rule inet brindle c1 counter accept comment "H one"',
    'add rule inet brindle c2 counter return comment "H two"',
    '',
  ].join('\n'));
  m.commit();
  // Removal: map element first, chains flushed before they are deleted, the set last.
  m.setElement('wl-from', 'brv1', undefined);
  m.setChain('c1', undefined);
  m.setChain('c2', undefined);
  m.setDecl('s', undefined);
  assert.equal(scriptFor(m.takeChange(), m), [
    'delete element inet brindle wl-from { "brv1" }',
    'flush chain inet brindle c1', 'flush chain inet brindle c2',
    'delete chain inet brindle c1', 'delete chain inet brindle c2',
    'delete set inet brindle s',
    '',
  ].join('\n'));
  m.commit();
  assert.equal(scriptFor(m.takeChange(), m), '', 'nothing after a commit');
});

// `nft -j list table inet brindle` of a small hand-made table (nft 1.0.6).
const READBACK = {"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "brindle", "handle": 7}}, {"map": {"family": "inet", "name": "wl-from", "table": "brindle", "type": "ifname", "handle": 4, "map": "verdict", "elem": [["brv1", {"jump": {"target": "wl-e-brv1"}}]]}}, {"set": {"family": "inet", "name": "h4-x", "table": "brindle", "type": "ipv4_addr", "handle": 5, "elem": ["10.0.0.1"]}}, {"set": {"family": "inet", "name": "n6-x", "table": "brindle", "type": "ipv6_addr", "handle": 6, "flags": ["interval"], "elem": [{"prefix": {"addr": "fd00::", "len": 64}}, "fd01::1"]}}, {"set": {"family": "inet", "name": "p4-x", "table": "brindle", "type": ["ipv4_addr", "inet_proto", "inet_service"], "handle": 7, "elem": [{"concat": ["10.0.0.2", "sctp", 9]}, {"concat": ["10.0.0.1", "tcp", 80]}]}}, {"chain": {"family": "inet", "table": "brindle", "name": "wl-e-brv1", "handle": 1}}, {"chain": {"family": "inet", "table": "brindle", "name": "forward", "handle": 2, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}}, {"chain": {"family": "inet", "table": "brindle", "name": "nat-postrouting", "handle": 3, "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}}, {"rule": {"family": "inet", "table": "brindle", "chain": "wl-e-brv1", "handle": 8, "comment": "0a1b2c3d wl ns/a egress: anti-spoofing", "expr": [{"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.0.0.1"}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "brindle", "chain": "wl-e-brv1", "handle": 9, "expr": [{"counter": {"packets": 0, "bytes": 0}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "brindle", "chain": "forward", "handle": 10, "comment": "deadbeef forward", "expr": [{"counter": {"packets": 0, "bytes": 0}}, {"vmap": {"key": {"meta": {"key": "iifname"}}, "data": "@wl-from"}}]}}]};

test('a kernel readback parses into what the renderer writes, and diffs against the model', () => {
  const t = parseTable(READBACK);
  assert.deepEqual([...t.chains].map(([n, c]) => [n, c.base ?? null, c.hashes]), [
    ['wl-e-brv1', null, ['0a1b2c3d', undefined]],
    ['forward', { type: 'filter', hook: 'forward', priority: 0, policy: 'accept' }, ['deadbeef']],
    ['nat-postrouting', { type: 'nat', hook: 'postrouting', priority: 100, policy: 'accept' }, []],
  ]);
  assert.deepEqual(Object.fromEntries([...t.elements].map(([n, e]) => [n, [...e]])), {
    'wl-from': [['brv1', 'jump wl-e-brv1']],
    'h4-x': [['10.0.0.1', '']],
    'n6-x': [['fd00::/64', ''], ['fd01::1', '']],
    'p4-x': [['10.0.0.2 . 132 . 9', ''], ['10.0.0.1 . 6 . 80', '']],
  });
  assert.deepEqual(t.decls.get('p4-x'), { name: 'p4-x', kind: 'set', type: 'ipv4_addr . inet_proto . inet_service', flags: [] });
  assert.deepEqual(t.decls.get('wl-from'), { name: 'wl-from', kind: 'map', type: 'ifname : verdict', flags: [] });
  assert.deepEqual(parseCounters(READBACK).map((c) => [c.chain, c.comment, c.packets]), [
    ['wl-e-brv1', 'wl ns/a egress: anti-spoofing', 0], ['wl-e-brv1', '', 0], ['forward', 'forward', 0],
  ]);
  // Against a model that wants a different map target, one more host and no p4-x set:
  const m = new NftModel();
  for (const d of t.decls.values()) if (d.name !== 'p4-x') m.setDecl(d.name, d);
  m.setElement('wl-from', 'brv1', 'jump wl-e-brv2');
  m.setElement('h4-x', '10.0.0.1', '');
  m.setElement('h4-x', '10.0.0.9', '');
  m.setElement('n6-x', 'fd00::/64', '');
  m.setElement('n6-x', 'fd01::1', '');
  m.setChain('wl-e-brv2', { name: 'wl-e-brv2', rules: [] });
  const c = observedChange(m, t);
  assert.deepEqual(c.declsRemoved, ['p4-x']);
  assert.deepEqual(c.chainsAdded.map((x) => x.name), ['wl-e-brv2']);
  assert.deepEqual(c.chainsRemoved, ['wl-e-brv1', 'forward', 'nat-postrouting']);
  assert.deepEqual([...c.elementsRemoved], [['wl-from', ['brv1']]]);
  assert.deepEqual([...c.elementsAdded], [['wl-from', [['brv1', 'jump wl-e-brv2']]], ['h4-x', [['10.0.0.9', '']]]]);
  // A set whose type drifted cannot be swapped under the rules that use it: the table is replaced.
  const m2 = new NftModel();
  m2.setDecl('h4-x', { name: 'h4-x', kind: 'set', type: 'ipv6_addr', flags: [] });
  assert.equal(observedChange(m2, t).fullReplace, true);
  assert.match(scriptFor(observedChange(m2, t), m2), /^add table inet brindle\ndelete table inet brindle\nadd table inet brindle\nadd set inet brindle h4-x \{ type ipv6_addr; \}\n$/);
});
