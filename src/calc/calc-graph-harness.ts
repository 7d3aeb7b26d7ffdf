// Test support for the calc graph: resource builders, a compact rendering of a desired state for
// hand-written expectations, and the state-sequence runner that replays each sequence forward, reversed,
// split (one update per flush, shuffled) and squashed (each state from scratch), checking after every
// state the expectation, the from-scratch snapshot (oracle), the dataplane protocol, and that re-putting
// the same resources emits nothing. Imported by tests only.

import assert from 'node:assert/strict';
import type { AnyResource, Labels, PolicySpec, StagedPolicySpec } from '../model/index.ts';
import { DesiredState } from '../dataplane-api/index.ts';
import type { DataplaneMessage, DesiredStateSnapshot, TierPolicies } from '../dataplane-api/index.ts';
import { CalcGraph, diffResources } from './calc-graph.ts';
import type { DatastoreUpdate } from './calc-graph.ts';
import { computeSnapshot } from './snapshot-state.ts';

// ---------------------------------------------------------------------------------------------------
// Builders

export function ns(name: string, labels: Labels = {}): AnyResource {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels }, spec: {} };
}

export function sa(namespace: string, name: string, labels: Labels = {}): AnyResource {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace, labels }, spec: {} };
}

export interface PodOptions {
  sa?: string;
  ports?: Array<{ name: string; port: number; protocol?: 'TCP' | 'UDP' | 'SCTP' }>;
  ips?: string[];
}

export function pod(namespace: string, name: string, node: string, ip: string | undefined, labels?: Labels, opts: PodOptions = {}): AnyResource {
  const ips = opts.ips ?? (ip ? [ip] : []);
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, ...(labels ? { labels } : {}) },
    spec: {
      nodeName: node, serviceAccountName: opts.sa ?? 'default',
      containers: [{ name: 'c', ports: (opts.ports ?? []).map((p) => ({ name: p.name, containerPort: p.port, protocol: p.protocol ?? 'TCP' })) }],
    },
    status: ips.length > 0 ? { podIP: ips[0], podIPs: ips.map((x) => ({ ip: x })) } : {},
  };
}

export interface WepOptions {
  pod?: string;
  labels?: Labels;
  iface?: string;
  profiles?: string[];
  orchestrator?: string;
  ports?: Array<{ name: string; port: number; protocol?: string }>;
}

export function wep(namespace: string, name: string, node: string, ips: string[], opts: WepOptions = {}): AnyResource {
  return {
    apiVersion: 'projectcalico.org/v3', kind: 'WorkloadEndpoint', metadata: { name, namespace, labels: opts.labels ?? {} },
    spec: {
      node, orchestrator: opts.orchestrator ?? (opts.pod ? 'k8s' : 'cni'), endpoint: 'eth0',
      ...(opts.pod ? { pod: opts.pod } : {}),
      ...(opts.iface ? { interfaceName: opts.iface } : {}),
      ipNetworks: ips, profiles: opts.profiles ?? [],
      ports: (opts.ports ?? []).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP' })),
    },
  };
}

export function hep(name: string, node: string, ips: string[], labels: Labels = {}, profiles: string[] = []): AnyResource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'HostEndpoint', metadata: { name, labels }, spec: { node, interfaceName: 'eth0', expectedIPs: ips, profiles } };
}

export function gnp(name: string, spec: PolicySpec): AnyResource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name }, spec };
}

export function np(namespace: string, name: string, spec: PolicySpec): AnyResource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

export function snp(namespace: string, name: string, spec: StagedPolicySpec): AnyResource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'StagedNetworkPolicy', metadata: { name, namespace }, spec };
}

export function knp(namespace: string, name: string, spec: Extract<AnyResource, { kind: 'KubernetesNetworkPolicy' }>['spec']): AnyResource {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'KubernetesNetworkPolicy', metadata: { name, namespace }, spec };
}

export function tier(name: string, order?: number, defaultAction?: 'Deny' | 'Pass'): AnyResource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name }, spec: { ...(order !== undefined ? { order } : {}), ...(defaultAction ? { defaultAction } : {}) } };
}

export function profile(name: string, spec: Extract<AnyResource, { kind: 'Profile' }>['spec']): AnyResource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'Profile', metadata: { name }, spec };
}

export function netset(namespace: string, name: string, nets: string[], labels: Labels = {}): AnyResource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'NetworkSet', metadata: { name, namespace, labels }, spec: { nets } };
}

export function gnetset(name: string, nets: string[], labels: Labels = {}): AnyResource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkSet', metadata: { name, labels }, spec: { nets } };
}

export interface NodeOptions {
  vxlan?: string;
  mac?: string;
  /** Address with prefix length, for CrossSubnet decisions. */
  cidr?: string;
}

export function node(name: string, address: string | undefined, opts: NodeOptions = {}): AnyResource {
  return {
    apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name },
    spec: {
      ...(address ? { bgp: { ipv4Address: opts.cidr ?? `${address}/24` } } : {}),
      ...(opts.vxlan ? { ipv4VXLANTunnelAddr: opts.vxlan } : {}),
      ...(opts.mac ? { vxlanTunnelMACAddr: opts.mac } : {}),
    },
  };
}

export function pool(name: string, cidr: string, opts: { blockSize?: number; vxlanMode?: 'Never' | 'Always' | 'CrossSubnet' } = {}): AnyResource {
  return { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name }, spec: { cidr, blockSize: opts.blockSize ?? 26, vxlanMode: opts.vxlanMode ?? 'Never' } };
}

// ---------------------------------------------------------------------------------------------------
// Compact rendering

export interface Rendered {
  endpoints: Record<string, string>;
  ipSets: Record<string, string[]>;
  policies: string[];
  profiles: string[];
  routes: string[];
  vteps: string[];
}

export type Expectation = Partial<Rendered>;

function tiersText(tiers: TierPolicies[]): string {
  return tiers.map((t) => `${t.name}: in[${t.ingress.join(',')}] eg[${t.egress.join(',')}]`).join(' ; ');
}

/** Renders a desired state for hand-written expectations (see Expectation). */
export function render(s: DesiredStateSnapshot): Rendered {
  const endpoints: Record<string, string> = {};
  for (const [id, ep] of Object.entries(s.workloadEndpoints)) {
    const text = tiersText(ep.tiers);
    const pending = tiersText(ep.pendingTiers);
    endpoints[id] = pending === text ? text : `${text} || pending ${pending}`;
  }
  for (const [id, ep] of Object.entries(s.hostEndpoints)) {
    const parts = [tiersText(ep.tiers)];
    if (ep.untrackedTiers.length) parts.push(`untracked ${tiersText(ep.untrackedTiers)}`);
    if (ep.preDnatTiers.length) parts.push(`preDNAT ${tiersText(ep.preDnatTiers)}`);
    if (ep.forwardTiers.length) parts.push(`forward ${tiersText(ep.forwardTiers)}`);
    const pending = tiersText(ep.pendingTiers);
    if (pending !== parts[0]) parts.push(`pending ${pending}`);
    endpoints[id] = parts.join(' || ');
  }
  const ipSets: Record<string, string[]> = {};
  for (const set of Object.values(s.ipSets)) {
    const key = set.spec.namedPort ? `${set.spec.selector} @${set.spec.namedPort.name}/${set.spec.namedPort.protocol}` : set.spec.selector;
    ipSets[key] = set.members;
  }
  const routes = Object.values(s.routes).map((r) => `${r.dst} ${r.type} ${r.node} ${r.type === 'local-workload' ? r.interfaceName : r.nextHop} ${r.encap}`);
  const vteps = Object.values(s.vteps).map((v) => `${v.node} ${v.parentDeviceIp} ${v.tunnelAddress ?? '-'} ${v.mac ?? '-'}`);
  return { endpoints, ipSets, policies: Object.keys(s.policies), profiles: Object.keys(s.profiles), routes, vteps };
}

// ---------------------------------------------------------------------------------------------------
// State sequences

export interface StateDef {
  name: string;
  resources: AnyResource[];
  /** Every field given is compared in full; fields left out must be empty. */
  expect: Expectation;
}

export type ReplayMode = 'forward' | 'reversed' | 'split' | 'squashed';
export const REPLAY_MODES: readonly ReplayMode[] = ['forward', 'reversed', 'split', 'squashed'];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

function shuffled<T>(list: T[], seed: number): T[] {
  const rand = rng(seed);
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function withoutInSync(s: DesiredStateSnapshot): Omit<DesiredStateSnapshot, 'inSync'> {
  const { inSync: _ignored, ...rest } = s;
  return rest;
}

function check(graph: CalcGraph, mirror: DesiredState, state: StateDef, hostname: string, where: string): void {
  const snap = mirror.snapshot();
  const oracle = new DesiredState();
  oracle.applyAll(computeSnapshot(state.resources, { hostname }).messages);
  assert.deepEqual(withoutInSync(snap), withoutInSync(oracle.snapshot()), `${where}: incremental state differs from the from-scratch snapshot`);
  const got = render(snap);
  const want: Rendered = { endpoints: {}, ipSets: {}, policies: [], profiles: [], routes: [], vteps: [], ...state.expect };
  assert.deepEqual(got, want, `${where}: rendered state`);
  const again = graph.apply(state.resources.map((resource) => ({ type: 'put', resource }) as DatastoreUpdate));
  assert.deepEqual(again, [], `${where}: re-putting the same resources emitted messages`);
}

/** Runs one replay of a sequence; throws an AssertionError naming the state and mode on the first mismatch. */
export function replay(states: StateDef[], mode: ReplayMode, hostname = 'n1'): void {
  if (mode === 'squashed') {
    for (const state of states) {
      const graph = new CalcGraph({ hostname });
      const mirror = new DesiredState();
      mirror.applyAll(graph.apply([...diffResources([], state.resources), { type: 'in-sync' }]));
      assert.equal(mirror.inSync, true);
      check(graph, mirror, state, hostname, `squashed "${state.name}"`);
    }
    return;
  }
  const order = mode === 'reversed' ? [...states].reverse() : states;
  const graph = new CalcGraph({ hostname });
  const mirror = new DesiredState();
  let prev: AnyResource[] = [];
  order.forEach((state, i) => {
    const updates = diffResources(prev, state.resources);
    if (mode === 'split') {
      for (const u of shuffled(updates, i + 1)) mirror.applyAll(graph.apply([u]));
    } else {
      mirror.applyAll(graph.apply(updates));
    }
    check(graph, mirror, state, hostname, `${mode} "${state.name}"`);
    prev = state.resources;
  });
  // Everything deleted: the dataplane ends up empty, through valid removes only.
  mirror.applyAll(graph.apply(diffResources(prev, [])));
  assert.deepEqual(render(mirror.snapshot()), { endpoints: {}, ipSets: {}, policies: [], profiles: [], routes: [], vteps: [] }, `${mode}: after deleting everything`);
}

/** Messages of one graph step, as compact strings, for tests that pin exactly what an update emits. */
export function messageSummary(msgs: DataplaneMessage[]): string[] {
  return msgs.map((m) => {
    switch (m.type) {
      case 'IpSetUpdate': return `IpSetUpdate ${m.spec.selector}${m.spec.namedPort ? ` @${m.spec.namedPort.name}` : ''} [${m.members.join(' ')}]`;
      case 'IpSetDeltaUpdate': return `IpSetDeltaUpdate +[${m.added.join(' ')}] -[${m.removed.join(' ')}]`;
      case 'IpSetRemove': return 'IpSetRemove';
      case 'ActivePolicyUpdate': case 'ActivePolicyRemove': case 'ActiveProfileUpdate': case 'ActiveProfileRemove':
      case 'WorkloadEndpointUpdate': case 'WorkloadEndpointRemove': case 'HostEndpointUpdate': case 'HostEndpointRemove':
        return `${m.type} ${m.id}`;
      case 'RouteUpdate': return `RouteUpdate ${m.route.dst}`;
      case 'RouteRemove': return `RouteRemove ${m.dst}`;
      case 'VxlanTunnelEndpointUpdate': return `VxlanTunnelEndpointUpdate ${m.vtep.node}`;
      case 'VxlanTunnelEndpointRemove': return `VxlanTunnelEndpointRemove ${m.node}`;
      case 'InSync': return 'InSync';
    }
  });
}
