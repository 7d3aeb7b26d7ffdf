// CNI spec versions and result shapes: which versions brindle speaks (0.3.1 to 1.1.0), the result
// a plugin prints for each of them, and reading a prevResult written in any of them. Results are
// built once in the 1.x form and converted on the way out.
//
//   plugin result (1.x form) ──formatResult(version)──► stdout JSON for the requested cniVersion
//   config.prevResult (any)  ──parseResult──────────► 1.x form

import { tryParseCidr } from '../lib/index.ts';
import { CNI_ERROR, CniError } from './cni-errors.ts';

export const SUPPORTED_VERSIONS = ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const LATEST_VERSION = '1.1.0';
/** What `install` writes into the conflist: the newest version the runtimes in Debian 12 understand. */
export const INSTALL_VERSION = '1.0.0';

function versionParts(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** Negative when a < b, 0 when equal, positive when a > b; both must be x.y.z. */
export function compareVersions(a: string, b: string): number {
  const pa = versionParts(a);
  const pb = versionParts(b);
  if (!pa || !pb) throw new Error(`cannot compare versions "${a}" and "${b}"`);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

export function isSupportedVersion(v: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

export function requireSupportedVersion(v: string): void {
  if (!isSupportedVersion(v)) {
    throw new CniError(
      CNI_ERROR.INCOMPATIBLE_VERSION,
      `CNI version "${v}" is not supported: this plugin speaks ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
}

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  /** Namespace path for interfaces inside the container; absent for host-side interfaces. */
  sandbox?: string;
}

export interface CniIpConfig {
  /** CIDR notation: address and prefix, e.g. "10.65.0.5/32". */
  address: string;
  gateway?: string;
  /** Index into interfaces. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** A result in the 1.x form. */
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
}

function familyOf(address: string): '4' | '6' {
  return address.includes(':') ? '6' : '4';
}

/** The result as JSON for `version`: 0.3.x/0.4.0 carry ips[].version, 1.0.0 drops 1.1-only fields. */
export function formatResult(result: CniResult, version: string): Record<string, unknown> {
  const old = compareVersions(version, '1.0.0') < 0;
  const out: Record<string, unknown> = { cniVersion: version };
  if (result.interfaces) {
    out.interfaces = result.interfaces.map((i) => {
      const o: Record<string, unknown> = { name: i.name };
      if (i.mac !== undefined) o.mac = i.mac;
      if (i.mtu !== undefined && compareVersions(version, '1.1.0') >= 0) o.mtu = i.mtu;
      if (i.sandbox !== undefined) o.sandbox = i.sandbox;
      return o;
    });
  }
  out.ips = (result.ips ?? []).map((ip) => {
    const o: Record<string, unknown> = {};
    if (old) o.version = familyOf(ip.address);
    o.address = ip.address;
    if (ip.gateway !== undefined) o.gateway = ip.gateway;
    if (ip.interface !== undefined) o.interface = ip.interface;
    return o;
  });
  if (result.routes) out.routes = result.routes.map((r) => (r.gw !== undefined ? { dst: r.dst, gw: r.gw } : { dst: r.dst }));
  out.dns = result.dns ?? {};
  return out;
}

/** Reads a prevResult (or a delegated IPAM result) of any supported version; CniError 7 when malformed. */
export function parseResult(raw: unknown, what = 'prevResult'): CniResult {
  const bad = (msg: string) => new CniError(CNI_ERROR.INVALID_NETWORK_CONFIG, `${what} is malformed: ${msg}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('not a JSON object');
  const r = raw as Record<string, unknown>;
  const result: CniResult = { cniVersion: typeof r.cniVersion === 'string' ? r.cniVersion : '' };
  if (r.interfaces !== undefined) {
    if (!Array.isArray(r.interfaces)) throw bad('"interfaces" is not a list');
    result.interfaces = r.interfaces.map((i, n) => {
      if (typeof i !== 'object' || i === null || typeof (i as { name?: unknown }).name !== 'string') throw bad(`interfaces[${n}] has no "name"`);
      const x = i as Record<string, unknown>;
      return {
        name: x.name as string,
        ...(typeof x.mac === 'string' ? { mac: x.mac } : {}),
        ...(typeof x.mtu === 'number' ? { mtu: x.mtu } : {}),
        ...(typeof x.sandbox === 'string' && x.sandbox !== '' ? { sandbox: x.sandbox } : {}),
      };
    });
  }
  if (r.ips !== undefined) {
    if (!Array.isArray(r.ips)) throw bad('"ips" is not a list');
    result.ips = r.ips.map((ip, n) => {
      const x = ip as Record<string, unknown>;
      if (typeof x !== 'object' || x === null || typeof x.address !== 'string' || !tryParseCidr(x.address)) {
        throw bad(`ips[${n}].address is not an address in CIDR form`);
      }
      return {
        address: x.address,
        ...(typeof x.gateway === 'string' ? { gateway: x.gateway } : {}),
        ...(typeof x.interface === 'number' ? { interface: x.interface } : {}),
      };
    });
  }
  if (r.routes !== undefined) {
    if (!Array.isArray(r.routes)) throw bad('"routes" is not a list');
    result.routes = r.routes.map((rt, n) => {
      const x = rt as Record<string, unknown>;
      if (typeof x !== 'object' || x === null || typeof x.dst !== 'string') throw bad(`routes[${n}] has no "dst"`);
      return { dst: x.dst, ...(typeof x.gw === 'string' ? { gw: x.gw } : {}) };
    });
  }
  if (typeof r.dns === 'object' && r.dns !== null) result.dns = r.dns as CniDns;
  return result;
}
