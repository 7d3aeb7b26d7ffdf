// Compiles Calico rules into dataplane-api rule programs: selectors (with namespace / service-account
// scoping as libcalico-go's update processors do it) become IP-set references, named ports become
// ip-and-port sets, numeric ports become ranges. The IP sets a program needs are returned beside it, so
// the calc graph can reference-count them and the evaluator can resolve them.

import { createHash } from 'node:crypto';
import { InvalidError, normalizeCidr } from '../lib/index.ts';
import { andSelectors, parseSelector, quoteSelectorValue } from '../model/index.ts';
import type { Selector } from '../model/index.ts';
import type { EntityRule, Port, Protocol, Rule, ServiceAccountMatch } from '../model/index.ts';
import { PROTO } from '../dataplane-api/index.ts';
import type { Direction, EndpointMatch, IpSetSpec, PortRange, RuleAction, RuleAttribution, RuleProgram } from '../dataplane-api/index.ts';
import { LABEL_SERVICE_ACCOUNT, namespaceSelectorToEndpointSelector, serviceAccountSelectorToEndpointSelector } from './labels.ts';
import { namespaceScopeSelector } from './policy-model.ts';

const PROTOCOL_NUMBERS: Record<string, number> = {
  tcp: PROTO.TCP, udp: PROTO.UDP, icmp: PROTO.ICMP, icmpv6: PROTO.ICMPv6, sctp: PROTO.SCTP, udplite: PROTO.UDPLite,
};

/** "TCP" / "tcp" / 6 / "6" → 6. Throws InvalidError for anything else. */
export function protocolNumber(p: Protocol): number {
  if (typeof p === 'number') {
    if (Number.isInteger(p) && p >= 0 && p <= 255) return p;
  } else {
    const lower = p.toLowerCase();
    if (lower in PROTOCOL_NUMBERS) return PROTOCOL_NUMBERS[lower];
    if (/^\d+$/.test(p) && Number(p) <= 255) return Number(p);
  }
  throw new InvalidError('protocol', `unknown protocol ${JSON.stringify(p)}`);
}

/** Lower-case protocol name used in named-port set members (`tcp`, `udp`, `sctp`, or the number). */
export function protocolName(n: number): string {
  for (const [name, num] of Object.entries(PROTOCOL_NUMBERS)) if (num === n) return name;
  return String(n);
}

/** A selector's IP set: its id is the selector's unique id, as Felix names them. */
export function selectorIpSet(sel: Selector): IpSetSpec {
  return { id: sel.uniqueId, type: 'net', selector: sel.canonical };
}

export function namedPortIpSet(sel: Selector, portName: string, protocol: string): IpSetSpec {
  const hash = createHash('sha224').update(`n:${sel.canonical}|${protocol}|${portName}`).digest('base64url');
  return { id: `n:${hash}`, type: 'ip-and-port', selector: sel.canonical, namedPort: { name: portName, protocol } };
}

function serviceAccountSelector(sam: ServiceAccountMatch): Selector | undefined {
  const parts: Selector[] = [];
  if (sam.selector && sam.selector.trim() !== '') parts.push(serviceAccountSelectorToEndpointSelector(sam.selector));
  if (sam.names && sam.names.length > 0) {
    parts.push(parseSelector(`${LABEL_SERVICE_ACCOUNT} in {${sam.names.map(quoteSelectorValue).join(', ')}}`, { maxLength: Infinity }));
  }
  return parts.length === 0 ? undefined : andSelectors(...parts);
}

/**
 * The one selector for everything an entity rule's selector fields say (libcalico-go's
 * GetEntityRuleSelector): selector AND service accounts, scoped by namespaceSelector (pcns.-prefixed,
 * all() = any namespace, global() = no namespace) or, in a namespaced policy, by its own namespace —
 * the scoping applies as soon as any selector field, notSelector included, is used.
 */
export function entityRuleSelector(er: EntityRule, scopeNamespace: string | undefined): Selector | undefined {
  let nsSel: Selector | undefined;
  const hasNsSel = er.namespaceSelector !== undefined && er.namespaceSelector.trim() !== '';
  if (hasNsSel) nsSel = namespaceSelectorToEndpointSelector(er.namespaceSelector as string);
  else if (scopeNamespace !== undefined) nsSel = parseSelector(namespaceScopeSelector(scopeNamespace), { maxLength: Infinity });

  const parts: Selector[] = [];
  if (er.serviceAccounts) {
    const sa = serviceAccountSelector(er.serviceAccounts);
    if (sa) parts.push(sa);
  }
  const hasSelector = er.selector !== undefined && er.selector.trim() !== '';
  if (hasSelector) parts.push(parseSelector(er.selector as string, { maxLength: Infinity }));
  const hasNotSelector = er.notSelector !== undefined && er.notSelector.trim() !== '';
  // andSelectors drops all() parts, but an explicit `selector: all()` still counts as "a selector was given".
  const given = parts.length > 0;
  if (nsSel && (given || hasNotSelector || hasNsSel)) return andSelectors(nsSel, ...parts);
  return given ? andSelectors(...parts) : undefined;
}

export function parsePortRange(p: Port): PortRange | undefined {
  if (typeof p === 'number') return { first: p, last: p };
  const m = /^(\d+)(?::(\d+))?$/.exec(p.trim());
  if (!m) return undefined;
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  return { first, last };
}

export interface CompileContext {
  owner: 'policy' | 'profile';
  id: string;
  kind: string;
  namespace?: string;
  name: string;
  tier?: string;
  /** Namespaced policies: rule selectors without namespaceSelector stay in this namespace. */
  scopeNamespace?: string;
}

export interface CompiledRules {
  rules: RuleProgram[];
  /** Every IP set the rules reference, each once. */
  ipSets: IpSetSpec[];
}

function nonEmpty<T>(list: T[] | undefined): T[] | undefined {
  return list && list.length > 0 ? list : undefined;
}

function compact(m: EndpointMatch): EndpointMatch {
  const out: EndpointMatch = {};
  for (const key of ['nets', 'notNets', 'ipSets', 'notIpSets', 'ports', 'namedPortIpSets', 'notPorts', 'notNamedPortIpSets'] as const) {
    const v = nonEmpty(m[key] as unknown[] | undefined);
    if (v) (out as Record<string, unknown>)[key] = v;
  }
  return out;
}

function compileEntity(
  er: EntityRule | undefined, ctx: CompileContext, protocol: number | undefined, sets: Map<string, IpSetSpec>, where: string,
): { match: EndpointMatch; neverMatches?: string } {
  const e = er ?? {};
  const match: EndpointMatch = {};
  let neverMatches: string | undefined;
  let sel: Selector | undefined;
  try {
    sel = entityRuleSelector(e, ctx.scopeNamespace);
  } catch (err) {
    throw new InvalidError(`${where}.selector`, (err as Error).message);
  }
  if (sel) {
    const spec = selectorIpSet(sel);
    sets.set(spec.id, spec);
    match.ipSets = [spec.id];
  }
  if (e.notSelector !== undefined && e.notSelector.trim() !== '') {
    let notSel: Selector;
    try {
      notSel = parseSelector(e.notSelector, { maxLength: Infinity });
    } catch (err) {
      throw new InvalidError(`${where}.notSelector`, (err as Error).message);
    }
    const spec = selectorIpSet(notSel);
    sets.set(spec.id, spec);
    match.notIpSets = [spec.id];
  }
  const cidrs = (list: string[] | undefined, field: string): string[] | undefined => {
    if (!list) return undefined;
    return list.map((c, i) => {
      try {
        return normalizeCidr(c);
      } catch (err) {
        throw new InvalidError(`${where}.${field}[${i}]`, (err as Error).message);
      }
    });
  };
  match.nets = cidrs(e.nets, 'nets');
  match.notNets = cidrs(e.notNets, 'notNets');
  const portSel = sel ?? parseSelector('all()');
  const portProto = protocol === undefined ? 'any' : protocolName(protocol);
  const ports = (list: Port[] | undefined, field: string): { ranges: PortRange[]; named: string[] } => {
    const ranges: PortRange[] = [];
    const named: string[] = [];
    (list ?? []).forEach((p, i) => {
      const r = parsePortRange(p);
      if (r) {
        if (r.first < 0 || r.last > 65535 || r.first > r.last) throw new InvalidError(`${where}.${field}[${i}]`, `bad port range ${JSON.stringify(p)}`);
        ranges.push(r);
        return;
      }
      const spec = namedPortIpSet(portSel, String(p), portProto);
      sets.set(spec.id, spec);
      named.push(spec.id);
    });
    return { ranges, named };
  };
  const pos = ports(e.ports, 'ports');
  match.ports = pos.ranges;
  match.namedPortIpSets = pos.named;
  const neg = ports(e.notPorts, 'notPorts');
  match.notPorts = neg.ranges;
  match.notNamedPortIpSets = neg.named;
  if (e.services) neverMatches = `${where}.services: Kubernetes Services are not modelled by brindle, so this rule never matches`;
  return { match: compact(match), neverMatches };
}

function icmp(f: { type?: number; code?: number } | undefined): { type: number; code?: number } | undefined {
  if (!f || f.type === undefined) return undefined;
  return f.code === undefined ? { type: f.type } : { type: f.type, code: f.code };
}

export function compileRule(rule: Rule, index: number, direction: Direction, ctx: CompileContext, sets: Map<string, IpSetSpec>): RuleProgram {
  const where = `spec.${direction}[${index}]`;
  const protocol = rule.protocol !== undefined ? protocolNumber(rule.protocol) : undefined;
  const notProtocol = rule.notProtocol !== undefined ? protocolNumber(rule.notProtocol) : undefined;
  const src = compileEntity(rule.source, ctx, protocol, sets, `${where}.source`);
  const dst = compileEntity(rule.destination, ctx, protocol, sets, `${where}.destination`);
  const attribution: RuleAttribution = {
    owner: ctx.owner, id: ctx.id, kind: ctx.kind, name: ctx.name, direction, index,
    ...(ctx.namespace !== undefined ? { namespace: ctx.namespace } : {}),
    ...(ctx.tier !== undefined ? { tier: ctx.tier } : {}),
  };
  const prog: RuleProgram = {
    id: `${ctx.id}/${direction}/${index}`,
    action: String(rule.action).toLowerCase() as RuleAction,
    src: src.match,
    dst: dst.match,
    attribution,
  };
  if (!['allow', 'deny', 'log', 'pass'].includes(prog.action)) throw new InvalidError(`${where}.action`, `unknown action ${JSON.stringify(rule.action)}`);
  if (rule.ipVersion !== undefined) prog.ipVersion = rule.ipVersion;
  if (protocol !== undefined) prog.protocol = protocol;
  if (notProtocol !== undefined) prog.notProtocol = notProtocol;
  const ic = icmp(rule.icmp);
  if (ic) prog.icmp = ic;
  const nic = icmp(rule.notICMP);
  if (nic) prog.notIcmp = nic;
  const never = src.neverMatches ?? dst.neverMatches;
  if (never) prog.neverMatches = never;
  return prog;
}

/** Compiles one direction's rules; throws InvalidError naming the field when a rule cannot be compiled. */
export function compileRules(rules: Rule[], direction: Direction, ctx: CompileContext, sets: Map<string, IpSetSpec> = new Map()): CompiledRules {
  const out = rules.map((r, i) => compileRule(r, i, direction, ctx, sets));
  return { rules: out, ipSets: [...sets.values()] };
}
