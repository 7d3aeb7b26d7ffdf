// The messages the calc graph sends to the dataplane (Felix's felixbackend.proto, reshaped for brindle):
// one host's desired state as IP sets, compiled policy/profile rule programs, endpoints with their
// ordered tiers, routes and VXLAN tunnel endpoints. calc produces them; the dataplane managers consume
// them, and the reference evaluator (policy trace) walks the very same rule programs.

/** Protocol numbers the rule programs carry (IANA). */
export const PROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPv6: 58, SCTP: 132, UDPLite: 136 } as const;

export type RuleAction = 'allow' | 'deny' | 'log' | 'pass';
export type Direction = 'ingress' | 'egress';

/** Inclusive port range; a single port has first === last. */
export interface PortRange {
  first: number;
  last: number;
}

/**
 * Match criteria for one side (source or destination) of a packet. Every present field must hold:
 * - `nets`: the address lies in at least one; `notNets`: in none.
 * - `ipSets`: the address is a member of every set; `notIpSets`: of none.
 * - `ports` / `namedPortIpSets`: when either is present, the port lies in a range OR (address, protocol,
 *   port) is in one of the named-port sets; `notPorts` / `notNamedPortIpSets`: neither holds.
 * Empty lists are omitted, so two equal matches serialise identically.
 */
export interface EndpointMatch {
  nets?: string[];
  notNets?: string[];
  ipSets?: string[];
  notIpSets?: string[];
  ports?: PortRange[];
  namedPortIpSets?: string[];
  notPorts?: PortRange[];
  notNamedPortIpSets?: string[];
}

/** Where a rule came from, for counters, flow logs and the trace. */
export interface RuleAttribution {
  /** `policy` rules belong to a tier; `profile` rules run after all tiers. */
  owner: 'policy' | 'profile';
  /** Policy or profile id (see policyId in calc). */
  id: string;
  kind: string;
  namespace?: string;
  name: string;
  tier?: string;
  direction: Direction;
  index: number;
}

export interface IcmpMatch {
  type: number;
  code?: number;
}

export interface RuleProgram {
  /** Stable across recompiles of an unchanged rule: `<owner id>/<direction>/<index>`. */
  id: string;
  action: RuleAction;
  ipVersion?: 4 | 6;
  protocol?: number;
  notProtocol?: number;
  icmp?: IcmpMatch;
  notIcmp?: IcmpMatch;
  src: EndpointMatch;
  dst: EndpointMatch;
  /**
   * Set when the rule refers to something brindle cannot resolve (a Kubernetes Service): the rule then
   * never matches, and the reason is kept for the trace.
   */
  neverMatches?: string;
  attribution: RuleAttribution;
}

export interface PolicyProgram {
  id: string;
  kind: string;
  namespace?: string;
  name: string;
  tier: string;
  /** null = unordered (after every ordered policy). */
  order: number | null;
  staged: boolean;
  /** Canonical, scoped selector of the endpoints it applies to (informational). */
  selector: string;
  types: Direction[];
  ingress: RuleProgram[];
  egress: RuleProgram[];
  doNotTrack: boolean;
  preDNAT: boolean;
  applyOnForward: boolean;
}

export interface ProfileProgram {
  id: string;
  ingress: RuleProgram[];
  egress: RuleProgram[];
}

/** `net`: CIDR members (endpoint addresses as /32 or /128, network-set nets). `ip-and-port`: `ip,proto:port`. */
export type IpSetType = 'net' | 'ip-and-port';

export interface IpSetSpec {
  id: string;
  type: IpSetType;
  /** Canonical selector whose matches make up the set. */
  selector: string;
  /** For `ip-and-port`: the named port and the protocol it must be served on ('any' when the rule had none). */
  namedPort?: { name: string; protocol: string };
}

/** Policies of one tier that apply to an endpoint, in evaluation order, per direction. */
export interface TierPolicies {
  name: string;
  order: number | null;
  defaultAction: 'Deny' | 'Pass';
  ingress: string[];
  egress: string[];
}

export interface WorkloadEndpointState {
  id: string;
  /** `wep` for a stored WorkloadEndpoint; `pod` for a Pod seen without one (simulation only, no interface). */
  source: 'wep' | 'pod';
  namespace: string;
  name: string;
  /** The Kubernetes pod this endpoint belongs to, when it is one. */
  pod?: string;
  node: string;
  orchestrator: string;
  interfaceName?: string;
  mac?: string;
  ipv4Nets: string[];
  ipv6Nets: string[];
  profileIds: string[];
  /** Enforced policies (staged ones never appear here). */
  tiers: TierPolicies[];
  /** The what-if view: enforced policies with staged ones applied over them (for flow logs and trace). */
  pendingTiers: TierPolicies[];
  allowSpoofedSourcePrefixes?: string[];
}

export interface HostEndpointState {
  id: string;
  name: string;
  node: string;
  /** `*` = every interface of the host; absent = matched by expectedIPs only. */
  interfaceName?: string;
  expectedIPs: string[];
  profileIds: string[];
  /** Normal policies for traffic to and from host processes. */
  tiers: TierPolicies[];
  /** doNotTrack policies (raw table, before conntrack). */
  untrackedTiers: TierPolicies[];
  /** preDNAT policies (ingress only). */
  preDnatTiers: TierPolicies[];
  /** applyOnForward policies for forwarded traffic. */
  forwardTiers: TierPolicies[];
  pendingTiers: TierPolicies[];
}

export type RouteType = 'local-workload' | 'remote-workload' | 'remote-block';

export interface Route {
  /** Destination CIDR; the route's identity. */
  dst: string;
  type: RouteType;
  /** The node hosting the destination. */
  node: string;
  /** Local workloads: the interface to send to. */
  interfaceName?: string;
  /** Remote destinations: the next hop (the node's address, or its VXLAN tunnel address when encapsulated). */
  nextHop?: string;
  encap: 'none' | 'vxlan';
  /** Workload endpoint ids behind a local route (more than one = duplicate addresses; the first is used). */
  endpoints?: string[];
}

export interface VxlanTunnelEndpoint {
  node: string;
  /** The node's underlay address the tunnel is sent to. */
  parentDeviceIp: string;
  tunnelAddress?: string;
  mac?: string;
  tunnelAddressV6?: string;
  macV6?: string;
}

export type DataplaneMessage =
  | { type: 'InSync' }
  | { type: 'IpSetUpdate'; id: string; spec: IpSetSpec; members: string[] }
  | { type: 'IpSetDeltaUpdate'; id: string; added: string[]; removed: string[] }
  | { type: 'IpSetRemove'; id: string }
  | { type: 'ActiveProfileUpdate'; id: string; profile: ProfileProgram }
  | { type: 'ActiveProfileRemove'; id: string }
  | { type: 'ActivePolicyUpdate'; id: string; policy: PolicyProgram }
  | { type: 'ActivePolicyRemove'; id: string }
  | { type: 'WorkloadEndpointUpdate'; id: string; endpoint: WorkloadEndpointState }
  | { type: 'WorkloadEndpointRemove'; id: string }
  | { type: 'HostEndpointUpdate'; id: string; endpoint: HostEndpointState }
  | { type: 'HostEndpointRemove'; id: string }
  | { type: 'RouteUpdate'; route: Route }
  | { type: 'RouteRemove'; dst: string }
  | { type: 'VxlanTunnelEndpointUpdate'; vtep: VxlanTunnelEndpoint }
  | { type: 'VxlanTunnelEndpointRemove'; node: string };

export type DataplaneMessageType = DataplaneMessage['type'];
