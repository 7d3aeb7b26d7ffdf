// One-line descriptions of compiled rules for the policy trace: IP-set ids are shown as the selectors
// (or named ports) they stand for, so a reader sees `from app == "web"` rather than a hash.

import type { EndpointMatch, IpSetSpec, PortRange, RuleProgram } from '../dataplane-api/index.ts';
import { protocolName } from './rule-compiler.ts';

function ranges(list: PortRange[]): string {
  return list.map((r) => (r.first === r.last ? String(r.first) : `${r.first}-${r.last}`)).join(',');
}

function side(m: EndpointMatch, sets: (id: string) => IpSetSpec | undefined): string[] {
  const out: string[] = [];
  const sel = (id: string) => sets(id)?.selector ?? id;
  const named = (id: string) => sets(id)?.namedPort?.name ?? id;
  if (m.ipSets) out.push(...m.ipSets.map((id) => `selector ${sel(id)}`));
  if (m.notIpSets) out.push(...m.notIpSets.map((id) => `notSelector ${sel(id)}`));
  if (m.nets) out.push(`nets ${m.nets.join(',')}`);
  if (m.notNets) out.push(`notNets ${m.notNets.join(',')}`);
  const ports = [...(m.ports ? [ranges(m.ports)] : []), ...(m.namedPortIpSets ?? []).map(named)];
  if (ports.length > 0) out.push(`ports ${ports.join(',')}`);
  const notPorts = [...(m.notPorts ? [ranges(m.notPorts)] : []), ...(m.notNamedPortIpSets ?? []).map(named)];
  if (notPorts.length > 0) out.push(`notPorts ${notPorts.join(',')}`);
  return out;
}

/** `Allow TCP from [selector app == "web"] to [ports 80]`; `lookup` resolves IP-set ids. */
export function describeRule(rule: RuleProgram, lookup: (id: string) => IpSetSpec | undefined): string {
  const parts: string[] = [rule.action.charAt(0).toUpperCase() + rule.action.slice(1)];
  if (rule.ipVersion) parts.push(`IPv${rule.ipVersion}`);
  if (rule.protocol !== undefined) parts.push(protocolName(rule.protocol).toUpperCase());
  if (rule.notProtocol !== undefined) parts.push(`not ${protocolName(rule.notProtocol).toUpperCase()}`);
  if (rule.icmp) parts.push(`icmp type ${rule.icmp.type}${rule.icmp.code !== undefined ? ` code ${rule.icmp.code}` : ''}`);
  if (rule.notIcmp) parts.push(`not icmp type ${rule.notIcmp.type}${rule.notIcmp.code !== undefined ? ` code ${rule.notIcmp.code}` : ''}`);
  const src = side(rule.src, lookup);
  const dst = side(rule.dst, lookup);
  if (src.length > 0) parts.push(`from [${src.join('; ')}]`);
  if (dst.length > 0) parts.push(`to [${dst.join('; ')}]`);
  if (src.length === 0 && dst.length === 0 && rule.protocol === undefined) parts.push('everything');
  if (rule.neverMatches) parts.push(`(never matches: ${rule.neverMatches})`);
  return parts.join(' ');
}
