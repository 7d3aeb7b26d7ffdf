// Synthetic desired states for the dataplane benchmarks, as dataplane-api messages: E local workload
// endpoints in namespaces, P policies spread over two tiers (each endpoint gets a handful, or — for the
// throughput bench — every policy lands on one server endpoint), IP sets of hosts and of networks, and the
// steady-state changes B5 times (one policy's ports, one endpoint's labels → tiers + set deltas).
//
//   scaleMessages(opts) ──► DataplaneMessage[] ──► NftablesDriver / full nft script

import type {
  DataplaneMessage, PolicyProgram, ProfileProgram, RuleProgram, TierPolicies, WorkloadEndpointState,
} from '../../src/dataplane-api/index.ts';

export interface ScaleOptions {
  endpoints: number;
  policies: number;
  ipSets: number;
  membersPerSet: number;
  /** Policies each endpoint gets (B5); ignored when `allOnEndpoint` is set. */
  policiesPerEndpoint: number;
  /** Every policy applies to this endpoint index's ingress (B4: the iperf3 server). */
  allOnEndpoint?: number;
  /** End-of-tier action of the default tier (B5 keeps Deny; the throughput/latency runs need traffic to pass). */
  defaultTierAction?: 'Deny' | 'Pass';
  /** Interface name and address overrides for some endpoints (the real pods of B4). */
  real?: Record<number, { iface: string; v4: string }>;
}

const attribution = (owner: 'policy' | 'profile', id: string, name: string, tier: string | undefined, direction: 'ingress' | 'egress', index: number) =>
  ({ owner, id, kind: owner === 'policy' ? 'NetworkPolicy' : 'Profile', name, ...(tier ? { tier } : {}), direction, index });

export function endpointIface(i: number): string {
  return `brv${i.toString(16).padStart(11, '0')}`;
}

export function endpointV4(i: number): string {
  return `10.${64 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`;
}

function setMember(set: number, m: number): string {
  // Hosts in 172.16.0.0/12; every tenth set also holds a network (a network set), so interval sets are in use too.
  const n = set * 1000 + m;
  return m === 0 && set % 10 === 0 ? `192.168.${(set / 10) % 256}.0/24` : `172.${16 + ((n >> 16) & 15)}.${(n >> 8) & 255}.${n & 255}/32`;
}

export function policyProgram(p: number, opts: ScaleOptions, extraPort = 0): PolicyProgram {
  const id = `np/ns${p % 10}/pol${p}`;
  const tier = p % 4 === 0 ? 'security' : 'default';
  const set = (k: number) => `s${(p * 3 + k) % opts.ipSets}`;
  const ingress: RuleProgram[] = [
    { id: `${id}/ingress/0`, action: 'allow', protocol: 6, src: { ipSets: [set(0)] }, dst: { ports: [{ first: 10000 + (p % 5000), last: 10000 + (p % 5000) }, ...(extraPort ? [{ first: extraPort, last: extraPort }] : [])] }, attribution: attribution('policy', id, `pol${p}`, tier, 'ingress', 0) },
    { id: `${id}/ingress/1`, action: 'deny', protocol: 17, src: { ipSets: [set(1)], notNets: ['10.0.0.0/8'] }, dst: {}, attribution: attribution('policy', id, `pol${p}`, tier, 'ingress', 1) },
    { id: `${id}/ingress/2`, action: 'pass', src: { nets: [`203.0.${p % 256}.0/24`] }, dst: {}, attribution: attribution('policy', id, `pol${p}`, tier, 'ingress', 2) },
  ];
  const egress: RuleProgram[] = [
    { id: `${id}/egress/0`, action: 'allow', protocol: 6, src: {}, dst: { ipSets: [set(2)], ports: [{ first: 443, last: 443 }] }, attribution: attribution('policy', id, `pol${p}`, tier, 'egress', 0) },
  ];
  return {
    id, kind: 'NetworkPolicy', namespace: `ns${p % 10}`, name: `pol${p}`, tier, order: p, staged: false, selector: 'all()',
    types: ['ingress', 'egress'], ingress, egress, doNotTrack: false, preDNAT: false, applyOnForward: false,
  };
}

function profileProgram(ns: number): ProfileProgram {
  const id = `kns.ns${ns}`;
  return {
    id,
    ingress: [{ id: `${id}/ingress/0`, action: 'allow', src: {}, dst: {}, attribution: attribution('profile', id, id, undefined, 'ingress', 0) }],
    egress: [{ id: `${id}/egress/0`, action: 'allow', src: {}, dst: {}, attribution: attribution('profile', id, id, undefined, 'egress', 0) }],
  };
}

function tiersFor(ids: string[], opts: ScaleOptions, direction: 'ingress' | 'both'): TierPolicies[] {
  const sec = ids.filter((id) => Number(id.slice(id.lastIndexOf('pol') + 3)) % 4 === 0);
  const def = ids.filter((id) => !sec.includes(id));
  const out: TierPolicies[] = [];
  // The security tier passes what it does not decide; the default tier ends in a deny as usual.
  if (sec.length) out.push({ name: 'security', order: 10, defaultAction: 'Pass', ingress: sec, egress: direction === 'both' ? sec : [] });
  const action = opts.defaultTierAction ?? (direction === 'both' ? 'Deny' : 'Pass');
  if (def.length) out.push({ name: 'default', order: 100, defaultAction: action, ingress: def, egress: direction === 'both' ? def : [] });
  return out;
}

export function endpointState(i: number, opts: ScaleOptions, shift = 0): WorkloadEndpointState {
  const real = opts.real?.[i];
  let ids: string[] = [];
  if (opts.allOnEndpoint !== undefined) {
    if (i === opts.allOnEndpoint) ids = Array.from({ length: opts.policies }, (_, p) => `np/ns${p % 10}/pol${p}`);
  } else if (opts.policies > 0) {
    ids = Array.from({ length: opts.policiesPerEndpoint }, (_, k) => {
      const p = (i * 7 + k * 13 + shift) % opts.policies;
      return `np/ns${p % 10}/pol${p}`;
    });
    ids = [...new Set(ids)];
  }
  return {
    id: `wep/ns${i % 10}/pod${i}`, source: 'wep', namespace: `ns${i % 10}`, name: `pod${i}`, node: 'host', orchestrator: 'k8s',
    interfaceName: real?.iface ?? endpointIface(i), ipv4Nets: [`${real?.v4 ?? endpointV4(i)}/32`], ipv6Nets: [],
    profileIds: [`kns.ns${i % 10}`],
    // B4's server keeps allowing its iperf3 flow: no policy matches it, every tier passes, the profile allows.
    tiers: tiersFor(ids, opts, opts.allOnEndpoint !== undefined ? 'ingress' : 'both'),
    pendingTiers: [],
  };
}

/** The whole state, in protocol order, ending with InSync. */
export function scaleMessages(opts: ScaleOptions): DataplaneMessage[] {
  const msgs: DataplaneMessage[] = [];
  for (let s = 0; s < opts.ipSets; s++) {
    const members = Array.from({ length: opts.membersPerSet }, (_, m) => setMember(s, m));
    msgs.push({ type: 'IpSetUpdate', id: `s${s}`, spec: { id: `s${s}`, type: 'net', selector: `set == '${s}'` }, members });
  }
  for (let p = 0; p < opts.policies; p++) msgs.push({ type: 'ActivePolicyUpdate', id: `np/ns${p % 10}/pol${p}`, policy: policyProgram(p, opts) });
  for (let n = 0; n < 10; n++) msgs.push({ type: 'ActiveProfileUpdate', id: `kns.ns${n}`, profile: profileProgram(n) });
  for (let i = 0; i < opts.endpoints; i++) {
    const ep = endpointState(i, opts);
    msgs.push({ type: 'WorkloadEndpointUpdate', id: ep.id, endpoint: ep });
  }
  msgs.push({ type: 'InSync' });
  return msgs;
}

/** B5 change kind 1: one policy's ports change (calc sends the recompiled program). */
export function policyChange(k: number, opts: ScaleOptions): DataplaneMessage[] {
  const p = (k * 37) % opts.policies;
  return [{ type: 'ActivePolicyUpdate', id: `np/ns${p % 10}/pol${p}`, policy: policyProgram(p, opts, 20000 + (k % 1000)) }];
}

/**
 * B5 change kind 2: one endpoint's labels change: it leaves one IP set and joins another, and the
 * policies that select it change (a different tier list).
 */
export function endpointChange(k: number, opts: ScaleOptions, state: { shift: Map<number, number> }): DataplaneMessage[] {
  const i = (k * 53) % opts.endpoints;
  const shift = (state.shift.get(i) ?? 0) + 1;
  state.shift.set(i, shift);
  const addr = `${endpointV4(i)}/32`;
  const from = `s${(i + shift - 1) % opts.ipSets}`;
  const to = `s${(i + shift) % opts.ipSets}`;
  const ep = endpointState(i, opts, shift);
  const msgs: DataplaneMessage[] = [];
  if (shift > 1) msgs.push({ type: 'IpSetDeltaUpdate', id: from, added: [], removed: [addr] });
  msgs.push({ type: 'IpSetDeltaUpdate', id: to, added: [addr], removed: [] });
  msgs.push({ type: 'WorkloadEndpointUpdate', id: ep.id, endpoint: ep });
  return msgs;
}
