// The reference evaluator behind `brindlectl policy trace` and the simulated connectivity test: from the
// stored resources and one flow it gives the verdict of the source's egress and the destination's ingress,
// each with its attribution (tier, policy, rule, or end-of-tier / profile / default), for the enforced
// policies and for the pending (staged) view. It walks the same compiled programs the dataplane gets.

import { canonicalIp, InvalidError, ipInCidr, tryParseCidr, tryParseIp } from '../lib/index.ts';
import type { AgentConfiguration, AnyResource } from '../model/index.ts';
import { DesiredState, PROTO, walkEndpoint, walkTiers } from '../dataplane-api/index.ts';
import type {
  Direction, HostEndpointState, Packet, TierPolicies, WalkDecision, WalkResult, WalkStep, WorkloadEndpointState,
} from '../dataplane-api/index.ts';
import { protocolNumber } from './rule-compiler.ts';
import { computeSnapshot } from './snapshot-state.ts';
import type { SnapshotProblem } from './snapshot-state.ts';

/** `NS/POD` (a workload), `hep:NAME` (a host endpoint) or an IP address. */
export type FlowEndpointRef = string;

export interface FlowSpec {
  from: FlowEndpointRef;
  to: FlowEndpointRef;
  /** Protocol name or number; default TCP. */
  protocol?: string | number;
  port?: number;
  srcPort?: number;
  icmpType?: number;
  icmpCode?: number;
}

export interface ResolvedEndpoint {
  kind: 'workload' | 'host' | 'address';
  /** Endpoint id in the desired state (absent for a bare address). */
  id?: string;
  namespace?: string;
  name?: string;
  node?: string;
  ip: string;
}

export type SideDecision = WalkDecision | { kind: 'not-policed' } | { kind: 'failsafe'; port: string };

export interface SideVerdict {
  verdict: 'allow' | 'deny';
  decision: SideDecision;
  steps: WalkStep[];
}

export interface SideResult {
  direction: Direction;
  endpoint: ResolvedEndpoint;
  enforced: SideVerdict;
  pending: SideVerdict;
}

export interface FlowVerdict {
  packet: Packet;
  from: ResolvedEndpoint;
  to: ResolvedEndpoint;
  egress: SideResult;
  ingress: SideResult;
  /** Both sides allow under enforced policy. */
  allowed: boolean;
  /** Both sides would allow with staged policies applied. */
  pendingAllowed: boolean;
}

interface FailsafePort {
  protocol: string;
  port: number;
  net?: string;
}

/** Calico's default failsafe ports (FelixConfiguration failsafeInbound/OutboundHostPorts). */
export const DEFAULT_FAILSAFE_INBOUND: FailsafePort[] = [
  { protocol: 'tcp', port: 22 }, { protocol: 'udp', port: 68 }, { protocol: 'tcp', port: 179 },
  { protocol: 'tcp', port: 2379 }, { protocol: 'tcp', port: 2380 }, { protocol: 'tcp', port: 5473 },
  { protocol: 'tcp', port: 6443 }, { protocol: 'tcp', port: 6666 }, { protocol: 'tcp', port: 6667 },
];
export const DEFAULT_FAILSAFE_OUTBOUND: FailsafePort[] = [
  { protocol: 'udp', port: 53 }, { protocol: 'udp', port: 67 }, { protocol: 'tcp', port: 179 },
  { protocol: 'tcp', port: 2379 }, { protocol: 'tcp', port: 2380 }, { protocol: 'tcp', port: 5473 },
  { protocol: 'tcp', port: 6443 }, { protocol: 'tcp', port: 6666 }, { protocol: 'tcp', port: 6667 },
];

const NOT_POLICED: SideVerdict = { verdict: 'allow', decision: { kind: 'not-policed' }, steps: [] };

function firstIp(nets: string[]): string | undefined {
  const n = nets[0];
  return n ? n.slice(0, n.indexOf('/')) : undefined;
}

export interface EvaluatorOptions {
  /** Problems the state was computed with (ignored resources), reported by the trace. */
  problems?: SnapshotProblem[];
  /** AgentConfiguration `default`, for failsafe ports. */
  config?: AgentConfiguration;
}

export class PolicyEvaluator {
  readonly state: DesiredState;
  readonly problems: SnapshotProblem[];
  private readonly failsafeIn: FailsafePort[];
  private readonly failsafeOut: FailsafePort[];

  /**
   * From resources (computes a whole-cluster snapshot), or from a desired state someone already has, such
   * as the mirror of a calc graph run with hostname '*'.
   */
  constructor(source: readonly AnyResource[] | DesiredState, options: EvaluatorOptions = {}) {
    let cfg = options.config;
    if (source instanceof DesiredState) {
      this.state = source;
      this.problems = options.problems ?? [];
    } else {
      const snap = computeSnapshot(source, { hostname: '*' });
      this.state = new DesiredState();
      this.state.applyAll(snap.messages);
      this.problems = snap.problems;
      cfg = cfg ?? source.find((r): r is AgentConfiguration => r.kind === 'AgentConfiguration' && r.metadata?.name === 'default');
    }
    const norm = (l: Array<{ protocol: string; port: number; net?: string }>) => l.map((p) => ({ ...p, protocol: p.protocol.toLowerCase() }));
    this.failsafeIn = cfg?.spec?.failsafeInboundHostPorts ? norm(cfg.spec.failsafeInboundHostPorts) : DEFAULT_FAILSAFE_INBOUND;
    this.failsafeOut = cfg?.spec?.failsafeOutboundHostPorts ? norm(cfg.spec.failsafeOutboundHostPorts) : DEFAULT_FAILSAFE_OUTBOUND;
  }

  private sortedWorkloads(): WorkloadEndpointState[] {
    return [...this.state.workloadEndpoints.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private sortedHosts(): HostEndpointState[] {
    return [...this.state.hostEndpoints.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private workloadByIp(ip: string): WorkloadEndpointState | undefined {
    const canon = canonicalIp(ip);
    return this.sortedWorkloads().find((w) => [...w.ipv4Nets, ...w.ipv6Nets].some((n) => n.slice(0, n.indexOf('/')) === canon));
  }

  private hostByIp(ip: string): HostEndpointState | undefined {
    const canon = canonicalIp(ip);
    return this.sortedHosts().find((h) => h.expectedIPs.some((e) => canonicalIp(e) === canon));
  }

  /** Resolves `NS/POD`, `hep:NAME` or an address; throws InvalidError naming what was not found. */
  resolve(ref: FlowEndpointRef, family?: 4 | 6): ResolvedEndpoint {
    const text = ref.trim();
    if (tryParseIp(text)) {
      const ip = canonicalIp(text);
      const w = this.workloadByIp(ip);
      if (w) return { kind: 'workload', id: w.id, namespace: w.namespace, name: w.pod ?? w.name, node: w.node, ip };
      const h = this.hostByIp(ip);
      if (h) return { kind: 'host', id: h.id, name: h.name, node: h.node, ip };
      return { kind: 'address', ip };
    }
    if (text.startsWith('hep:')) {
      const name = text.slice(4);
      const h = this.state.hostEndpoints.get(`hep:${name}`);
      if (!h) throw new InvalidError('', `host endpoint "${name}" not found`);
      const ip = this.pickIp(h.expectedIPs.map((e) => `${e}/${e.includes(':') ? 128 : 32}`), family, `host endpoint "${name}"`);
      return { kind: 'host', id: h.id, name, node: h.node, ip };
    }
    const slash = text.indexOf('/');
    if (slash <= 0 || slash === text.length - 1 || text.indexOf('/', slash + 1) >= 0) {
      throw new InvalidError('', `"${ref}" is neither NAMESPACE/POD, hep:NAME nor an IP address`);
    }
    const ns = text.slice(0, slash);
    const name = text.slice(slash + 1);
    // A WorkloadEndpoint by its own name first, then the endpoint of a pod by that name.
    const all = this.sortedWorkloads().filter((w) => w.namespace === ns);
    const w = all.find((x) => x.name === name) ?? all.find((x) => x.pod === name);
    if (!w) throw new InvalidError('', `workload "${ns}/${name}" not found (no WorkloadEndpoint or Pod by that name)`);
    const ip = this.pickIp([...w.ipv4Nets, ...w.ipv6Nets], family, `workload "${ns}/${name}"`);
    return { kind: 'workload', id: w.id, namespace: ns, name: w.pod ?? w.name, node: w.node, ip };
  }

  private pickIp(nets: string[], family: 4 | 6 | undefined, what: string): string {
    const fam = nets.filter((n) => family === undefined || (family === 6) === n.includes(':'));
    const ip = firstIp(fam);
    if (!ip) throw new InvalidError('', `${what} has no ${family ? `IPv${family} ` : ''}address`);
    return ip;
  }

  evaluate(flow: FlowSpec): FlowVerdict {
    // Pick the family from whichever side is a literal address, else IPv4 when both have one.
    const literal = [flow.from, flow.to].map((r) => tryParseIp(r.trim())).find((x) => x !== undefined);
    let family: 4 | 6 | undefined = literal?.family;
    if (!family) {
      try {
        this.resolve(flow.from, 4);
        this.resolve(flow.to, 4);
        family = 4;
      } catch {
        family = 6;
      }
    }
    const from = this.resolve(flow.from, family);
    const to = this.resolve(flow.to, family);
    const protocol = protocolNumber(flow.protocol ?? 'TCP');
    const packet: Packet = {
      ipVersion: family,
      srcIp: from.ip,
      dstIp: to.ip,
      protocol,
      ...(flow.srcPort !== undefined ? { srcPort: flow.srcPort } : {}),
      ...(flow.port !== undefined ? { dstPort: flow.port } : {}),
      ...(flow.icmpType !== undefined ? { icmpType: flow.icmpType } : {}),
      ...(flow.icmpCode !== undefined ? { icmpCode: flow.icmpCode } : {}),
    };
    const egress = this.side(from, 'egress', packet);
    const ingress = this.side(to, 'ingress', packet);
    return {
      packet, from, to, egress, ingress,
      allowed: egress.enforced.verdict === 'allow' && ingress.enforced.verdict === 'allow',
      pendingAllowed: egress.pending.verdict === 'allow' && ingress.pending.verdict === 'allow',
    };
  }

  private side(ep: ResolvedEndpoint, direction: Direction, pkt: Packet): SideResult {
    if (ep.kind === 'workload') {
      const st = this.state.workloadEndpoints.get(ep.id as string) as WorkloadEndpointState;
      return {
        direction, endpoint: ep,
        enforced: walkEndpoint(st.tiers, st.profileIds, direction, this.state, pkt, this.state),
        pending: walkEndpoint(st.pendingTiers, st.profileIds, direction, this.state, pkt, this.state),
      };
    }
    if (ep.kind === 'host') {
      const st = this.state.hostEndpoints.get(ep.id as string) as HostEndpointState;
      return {
        direction, endpoint: ep,
        enforced: this.hostSide(st, st.tiers, direction, pkt),
        pending: this.hostSide(st, st.pendingTiers, direction, pkt),
      };
    }
    return { direction, endpoint: ep, enforced: NOT_POLICED, pending: NOT_POLICED };
  }

  /** Host-process traffic: failsafe ports, then untracked, preDNAT (ingress), then normal policy and profiles. */
  private hostSide(st: HostEndpointState, normal: TierPolicies[], direction: Direction, pkt: Packet): SideVerdict {
    const failsafe = direction === 'ingress' ? this.failsafeIn : this.failsafeOut;
    const protoName = pkt.protocol === PROTO.TCP ? 'tcp' : pkt.protocol === PROTO.UDP ? 'udp' : '';
    const hit = failsafe.find((f) => f.protocol === protoName && f.port === pkt.dstPort
      && (f.net === undefined || netHolds(f.net, direction === 'ingress' ? pkt.srcIp : pkt.dstIp)));
    if (hit) return { verdict: 'allow', decision: { kind: 'failsafe', port: `${hit.protocol}:${hit.port}` }, steps: [] };
    const steps: WalkStep[] = [];
    const stages: TierPolicies[][] = direction === 'ingress' ? [st.untrackedTiers, st.preDnatTiers] : [st.untrackedTiers];
    for (const tiers of stages) {
      const r: WalkResult = walkTiers(tiers, direction, this.state, pkt, this.state, { endOfTierDrop: false });
      steps.push(...r.steps);
      if (r.verdict !== 'continue') return { verdict: r.verdict, decision: r.decision, steps };
    }
    const r = walkEndpoint(normal, st.profileIds, direction, this.state, pkt, this.state);
    return { verdict: r.verdict, decision: r.decision, steps: [...steps, ...r.steps] };
  }
}

function netHolds(net: string, ip: string): boolean {
  const c = tryParseCidr(net, true);
  const a = tryParseIp(ip);
  return c !== undefined && a !== undefined && c.family === a.family && ipInCidr(a, c);
}

/** One-shot convenience: evaluate a single flow over a resource list. */
export function evaluateFlow(resources: readonly AnyResource[], flow: FlowSpec): FlowVerdict {
  return new PolicyEvaluator(resources).evaluate(flow);
}
