// A hand-built policy scenario for the dataplane's packet tests: four workloads, three tiers (one with
// defaultAction Pass), Pass/Log/Deny/Allow rules, IP sets of hosts and of networks, a named-port set,
// profiles with Pass and a missing profile, a missing policy, notNets/notPorts, ICMP. The expected verdict
// of every flow comes from dataplane-api's walkEndpoint over the same messages (the trace's semantics),
// so the kernel is held against the reference walk rather than hand-written answers.
//
//   scenarioMessages() ──► NftablesDriver (kernel)      expectedVerdict(state, flow) ◄── DesiredState

import type {
  DataplaneMessage, Direction, PolicyProgram, ProfileProgram, RuleAction, RuleProgram, TierPolicies, WorkloadEndpointState,
} from '../dataplane-api/index.ts';
import { DesiredState, PROTO, walkEndpoint } from '../dataplane-api/index.ts';
import type { EndpointMatch, IcmpMatch, Packet } from '../dataplane-api/index.ts';

export interface ScenarioPod {
  name: string;
  v4: string;
  v6: string;
  iface: string;
}

export const SCENARIO_PODS: ScenarioPod[] = [
  { name: 'a', v4: '10.65.0.1', v6: 'fd00:65::1', iface: 'brvscena' },
  { name: 'b', v4: '10.65.0.2', v6: 'fd00:65::2', iface: 'brvscenb' },
  { name: 'c', v4: '10.65.0.3', v6: 'fd00:65::3', iface: 'brvscenc' },
  { name: 'd', v4: '10.65.0.4', v6: 'fd00:65::4', iface: 'brvscend' },
];

interface RuleSpec {
  action: RuleAction;
  protocol?: number;
  icmp?: IcmpMatch;
  ipVersion?: 4 | 6;
  src?: EndpointMatch;
  dst?: EndpointMatch;
}

function program(owner: 'policy' | 'profile', id: string, name: string, tier: string | undefined, direction: Direction, rules: RuleSpec[]): RuleProgram[] {
  return rules.map((r, index) => ({
    id: `${id}/${direction}/${index}`,
    action: r.action,
    ...(r.protocol !== undefined ? { protocol: r.protocol } : {}),
    ...(r.icmp ? { icmp: r.icmp } : {}),
    ...(r.ipVersion ? { ipVersion: r.ipVersion } : {}),
    src: r.src ?? {},
    dst: r.dst ?? {},
    attribution: { owner, id, kind: owner === 'policy' ? 'GlobalNetworkPolicy' : 'Profile', name, ...(tier ? { tier } : {}), direction, index },
  }));
}

export function policy(id: string, tier: string, ingress: RuleSpec[], egress: RuleSpec[] = []): PolicyProgram {
  return {
    id, kind: 'GlobalNetworkPolicy', name: id, tier, order: null, staged: false, selector: 'all()',
    types: [...(ingress.length ? ['ingress' as const] : []), ...(egress.length ? ['egress' as const] : [])],
    ingress: program('policy', id, id, tier, 'ingress', ingress),
    egress: program('policy', id, id, tier, 'egress', egress),
    doNotTrack: false, preDNAT: false, applyOnForward: false,
  };
}

export function profile(id: string, ingress: RuleSpec[], egress: RuleSpec[] = []): ProfileProgram {
  return { id, ingress: program('profile', id, id, undefined, 'ingress', ingress), egress: program('profile', id, id, undefined, 'egress', egress) };
}

function tier(name: string, defaultAction: 'Deny' | 'Pass', ingress: string[], egress: string[]): TierPolicies {
  return { name, order: null, defaultAction, ingress, egress };
}

export function endpoint(pod: ScenarioPod, tiers: TierPolicies[], profileIds: string[], extra: Partial<WorkloadEndpointState> = {}): WorkloadEndpointState {
  return {
    id: `wep/${pod.name}`, source: 'wep', namespace: 'ns', name: pod.name, node: 'host', orchestrator: 'k8s',
    interfaceName: pod.iface, ipv4Nets: [`${pod.v4}/32`], ipv6Nets: [`${pod.v6}/128`], profileIds, tiers, pendingTiers: tiers, ...extra,
  };
}

const TCP = PROTO.TCP;
const UDP = PROTO.UDP;
const port = (p: number) => ({ first: p, last: p });

/** The web policy on b; `extraPorts` widens it (the steady-state change of the tests). */
export function webPolicy(extraPorts: number[] = []): PolicyProgram {
  return policy('web', 'default', [
    { action: 'allow', protocol: TCP, dst: { ports: [port(80), ...extraPorts.map(port)] } },
    { action: 'allow', protocol: TCP, dst: { namedPortIpSets: ['np-http'] } },
    { action: 'allow', protocol: UDP, src: { nets: ['10.65.0.0/24'] }, dst: { ports: [port(53)] } },
  ]);
}

export function scenarioEndpoints(): WorkloadEndpointState[] {
  const [a, b, c, d] = SCENARIO_PODS;
  return [
    endpoint(a, [
      tier('tp', 'Pass', [], ['egress-tp']),
      tier('default', 'Deny', [], ['egress-a']),
    ], ['kns']),
    endpoint(b, [
      tier('security', 'Deny', ['sec-pass', 'sec-deny'], []),
      tier('default', 'Deny', ['web'], []),
    ], ['kns']),
    endpoint(c, [], ['p1', 'ghost-profile', 'p2']),
    endpoint(d, [tier('default', 'Deny', ['ghost-policy'], [])], ['kns']),
  ];
}

/** Every message of the scenario, in protocol order, ending with InSync. */
export function scenarioMessages(): DataplaneMessage[] {
  const [a, b] = SCENARIO_PODS;
  const msgs: DataplaneMessage[] = [
    { type: 'IpSetUpdate', id: 's-client', spec: { id: 's-client', type: 'net', selector: "role == 'client'" }, members: [`${a.v4}/32`, `${a.v6}/128`] },
    { type: 'IpSetUpdate', id: 's-nets', spec: { id: 's-nets', type: 'net', selector: "kind == 'net'" }, members: ['10.65.0.2/31', 'fd00:65::2/127', '10.65.0.3/32'] },
    {
      type: 'IpSetUpdate', id: 'np-http', spec: { id: 'np-http', type: 'ip-and-port', selector: 'all()', namedPort: { name: 'http-alt', protocol: 'tcp' } },
      members: [`${b.v4},tcp:8080`, `${b.v6},tcp:8080`],
    },
    { type: 'ActivePolicyUpdate', id: 'sec-pass', policy: policy('sec-pass', 'security', [{ action: 'log' }, { action: 'pass', src: { ipSets: ['s-client'] } }]) },
    { type: 'ActivePolicyUpdate', id: 'sec-deny', policy: policy('sec-deny', 'security', [{ action: 'deny' }]) },
    { type: 'ActivePolicyUpdate', id: 'web', policy: webPolicy() },
    { type: 'ActivePolicyUpdate', id: 'egress-tp', policy: policy('egress-tp', 'tp', [], [{ action: 'deny', protocol: UDP, dst: { ports: [port(5353)] } }]) },
    {
      type: 'ActivePolicyUpdate', id: 'egress-a', policy: policy('egress-a', 'default', [], [
        { action: 'allow', protocol: TCP, dst: { notPorts: [port(9090)] } },
        { action: 'allow', protocol: UDP, dst: { notIpSets: ['s-nets'] } },
        { action: 'allow', protocol: UDP, dst: { ipSets: ['s-nets'], ports: [port(53), port(8080)] } },
        { action: 'allow', protocol: PROTO.ICMP },
        { action: 'allow', protocol: PROTO.ICMPv6 },
      ]),
    },
    { type: 'ActiveProfileUpdate', id: 'kns', profile: profile('kns', [{ action: 'allow' }], [{ action: 'allow' }]) },
    {
      type: 'ActiveProfileUpdate', id: 'p1', profile: profile('p1', [
        { action: 'pass', protocol: TCP, dst: { ports: [port(443)] } },
        { action: 'allow', protocol: TCP, dst: { ports: [port(80)] } },
        { action: 'deny', protocol: UDP, dst: { ports: [port(53)] } },
      ]),
    },
    {
      type: 'ActiveProfileUpdate', id: 'p2', profile: profile('p2', [
        { action: 'allow', protocol: TCP, dst: { ports: [port(443)] } },
        { action: 'allow', protocol: PROTO.ICMP, icmp: { type: 8 } },
        { action: 'allow', protocol: PROTO.ICMPv6, icmp: { type: 128 } },
      ], [{ action: 'allow' }]),
    },
  ];
  for (const ep of scenarioEndpoints()) msgs.push({ type: 'WorkloadEndpointUpdate', id: ep.id, endpoint: ep });
  msgs.push({ type: 'InSync' });
  return msgs;
}

export interface Flow {
  from: ScenarioPod;
  to: ScenarioPod;
  family: 4 | 6;
  proto: 'tcp' | 'udp';
  port: number;
}

/** Allowed by the source's egress and the destination's ingress, per the reference walk. */
export function expectedVerdict(state: DesiredState, flow: Flow): boolean {
  const src = state.workloadEndpoints.get(`wep/${flow.from.name}`);
  const dst = state.workloadEndpoints.get(`wep/${flow.to.name}`);
  const pkt: Packet = {
    ipVersion: flow.family,
    srcIp: flow.family === 4 ? flow.from.v4 : flow.from.v6,
    dstIp: flow.family === 4 ? flow.to.v4 : flow.to.v6,
    protocol: flow.proto === 'tcp' ? TCP : UDP,
    dstPort: flow.port,
  };
  // A workload the dataplane does not know is dropped (fail closed), in both directions.
  if (!src || !dst) return false;
  const out = walkEndpoint(src.tiers, src.profileIds, 'egress', state, pkt, state);
  const inn = walkEndpoint(dst.tiers, dst.profileIds, 'ingress', state, pkt, state);
  return out.verdict === 'allow' && inn.verdict === 'allow';
}

/** The scenario's desired state (the oracle's input). */
export function stateOf(messages: DataplaneMessage[]): DesiredState {
  // Not strict: the scenario names a missing policy and a missing profile on purpose.
  const s = new DesiredState({ strict: false });
  s.applyAll(messages);
  return s;
}
