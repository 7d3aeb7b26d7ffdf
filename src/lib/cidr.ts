// IPv4/IPv6 address and CIDR arithmetic on BigInt, shared by validation (model), IPAM blocks,
// IP-set rendering (calc/dataplane) and BGP config. Pure and dependency-free; parse errors are
// InvalidErrors with an empty path so callers can re-raise them against their own field path.

import { InvalidError } from './errors.ts';

export type IpFamily = 4 | 6;

export interface IpAddress {
  family: IpFamily;
  /** The address as an unsigned integer (32 or 128 bits). */
  value: bigint;
}

export interface Cidr {
  family: IpFamily;
  /** The network address: the parsed address with host bits cleared. */
  network: bigint;
  prefixLength: number;
  /** Canonical text of the masked network, e.g. `10.0.0.0/8`, `fd00::/64`. */
  text: string;
}

export interface ParsedCidr extends Cidr {
  /** The address as written, host bits included (equals `network` when strictly masked). */
  address: bigint;
}

const V4_BITS = 32;
const V6_BITS = 128;

export function familyBits(family: IpFamily): number {
  return family === 4 ? V4_BITS : V6_BITS;
}

const fail = (msg: string): never => {
  throw new InvalidError('', msg);
};

function parseV4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    // Leading zeros are rejected (as Go's net.ParseIP does) because some tools read them as octal.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(text: string): bigint | undefined {
  if (text.length === 0 || text.includes('%')) return undefined;
  let words: number[] = [];
  let tail = text;
  // An embedded dotted IPv4 suffix stands for the last two 16-bit groups.
  const lastColon = tail.lastIndexOf(':');
  if (lastColon >= 0 && tail.slice(lastColon + 1).includes('.')) {
    const v4 = parseV4(tail.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = `${tail.slice(0, lastColon + 1)}${((v4 >> 16n) & 0xffffn).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = tail.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0]);
  if (!head) return undefined;
  if (halves.length === 2) {
    const rest = parseGroups(halves[1]);
    if (!rest) return undefined;
    const missing = 8 - head.length - rest.length;
    if (missing < 1) return undefined;
    words = [...head, ...new Array<number>(missing).fill(0), ...rest];
  } else {
    words = head;
  }
  if (words.length !== 8) return undefined;
  let v = 0n;
  for (const w of words) v = (v << 16n) | BigInt(w);
  return v;
}

/** Parses an address without throwing; undefined when the text is not an IPv4 or IPv6 address. */
export function tryParseIp(text: string): IpAddress | undefined {
  if (typeof text !== 'string') return undefined;
  if (text.includes(':')) {
    const value = parseV6(text);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseV4(text);
  return value === undefined ? undefined : { family: 4, value };
}

export function parseIp(text: string): IpAddress {
  const ip = tryParseIp(text);
  if (!ip) fail(`"${text}" is not a valid IP address`);
  return ip!;
}

export function isIp(text: string): boolean {
  return tryParseIp(text) !== undefined;
}

function v4ToString(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => ((v >> s) & 0xffn).toString()).join('.');
}

/** RFC 5952 text: lower case, longest run (≥2) of zero groups compressed, leftmost on ties. */
function v6ToString(v: bigint): string {
  const words: number[] = [];
  for (let i = 7; i >= 0; i--) words.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  // IPv4-mapped addresses keep their dotted tail, as most tools print them.
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${v4ToString(v & 0xffffffffn)}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function ipToString(ip: IpAddress | bigint, family?: IpFamily): string {
  const { value, fam } = typeof ip === 'bigint' ? { value: ip, fam: family } : { value: ip.value, fam: ip.family };
  if (fam !== 4 && fam !== 6) throw new Error('ipToString: family 4 or 6 required for a bare bigint');
  const max = (1n << BigInt(familyBits(fam))) - 1n;
  if (value < 0n || value > max) throw new RangeError(`address value ${value} out of range for IPv${fam}`);
  return fam === 4 ? v4ToString(value) : v6ToString(value);
}

/** Canonical text of an address (`FD00:0::1` → `fd00::1`). */
export function canonicalIp(text: string): string {
  return ipToString(parseIp(text));
}

export function prefixMask(family: IpFamily, prefixLength: number): bigint {
  const bits = BigInt(familyBits(family));
  const p = BigInt(prefixLength);
  return ((1n << bits) - 1n) ^ ((1n << (bits - p)) - 1n);
}

function cidrText(family: IpFamily, network: bigint, prefixLength: number): string {
  return `${ipToString(network, family)}/${prefixLength}`;
}

export function makeCidr(family: IpFamily, address: bigint, prefixLength: number): Cidr {
  const bits = familyBits(family);
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > bits) {
    throw new RangeError(`prefix length ${prefixLength} out of range 0–${bits} for IPv${family}`);
  }
  const network = address & prefixMask(family, prefixLength);
  return { family, network, prefixLength, text: cidrText(family, network, prefixLength) };
}

function tryParseCidrParts(text: string, allowBareIp: boolean): ParsedCidr | string {
  if (typeof text !== 'string') return `expected a CIDR string, got ${typeof text}`;
  const slash = text.indexOf('/');
  if (slash < 0) {
    if (!allowBareIp) return `"${text}" is not a valid CIDR (expected address/prefix, e.g. 10.0.0.0/16)`;
    const ip = tryParseIp(text);
    if (!ip) return `"${text}" is not a valid IP address or CIDR`;
    const c = makeCidr(ip.family, ip.value, familyBits(ip.family));
    return { ...c, address: ip.value };
  }
  const ip = tryParseIp(text.slice(0, slash));
  if (!ip) return `"${text}" is not a valid CIDR: "${text.slice(0, slash)}" is not an IP address`;
  const p = text.slice(slash + 1);
  const bits = familyBits(ip.family);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > bits) {
    return `"${text}" is not a valid CIDR: prefix length "${p}" must be 0–${bits}`;
  }
  const c = makeCidr(ip.family, ip.value, Number(p));
  return { ...c, address: ip.value };
}

/** Parses `addr/len`; host bits are allowed and cleared in `network` (see isStrictlyMasked). */
export function parseCidr(text: string): ParsedCidr {
  const r = tryParseCidrParts(text, false);
  if (typeof r === 'string') fail(r);
  return r as ParsedCidr;
}

/** Like parseCidr, but a bare address is read as a single-host CIDR (/32 or /128), as Calico's nets do. */
export function parseCidrOrIp(text: string): ParsedCidr {
  const r = tryParseCidrParts(text, true);
  if (typeof r === 'string') fail(r);
  return r as ParsedCidr;
}

export function tryParseCidr(text: string, allowBareIp = false): ParsedCidr | undefined {
  const r = tryParseCidrParts(text, allowBareIp);
  return typeof r === 'string' ? undefined : r;
}

/** True when the text has no host bits set beyond its prefix (`10.0.0.0/8` yes, `10.0.0.1/8` no). */
export function isStrictlyMasked(text: string | ParsedCidr): boolean {
  const c = typeof text === 'string' ? parseCidr(text) : text;
  return c.address === c.network;
}

/** Host bits cleared, canonical text: `10.1.2.3/8` → `10.0.0.0/8`, bare `10.1.2.3` → `10.1.2.3/32`. */
export function normalizeCidr(text: string): string {
  return parseCidrOrIp(text).text;
}

/** Same as normalizeCidr for a parsed value; kept as a separate name for call sites that think in masks. */
export function maskCidr(c: Cidr | string): Cidr {
  const parsed = typeof c === 'string' ? parseCidrOrIp(c) : c;
  return makeCidr(parsed.family, parsed.network, parsed.prefixLength);
}

const asCidr = (c: Cidr | string): Cidr => (typeof c === 'string' ? parseCidrOrIp(c) : c);

/** Number of addresses in the CIDR. */
export function cidrSize(c: Cidr | string): bigint {
  const x = asCidr(c);
  return 1n << BigInt(familyBits(x.family) - x.prefixLength);
}

export function firstAddress(c: Cidr | string): bigint {
  return asCidr(c).network;
}

export function lastAddress(c: Cidr | string): bigint {
  const x = asCidr(c);
  return x.network + cidrSize(x) - 1n;
}

/** True when `inner` lies entirely inside `outer` (equal CIDRs contain each other). */
export function cidrContains(outer: Cidr | string, inner: Cidr | string): boolean {
  const o = asCidr(outer);
  const i = asCidr(inner);
  if (o.family !== i.family || i.prefixLength < o.prefixLength) return false;
  return (i.network & prefixMask(o.family, o.prefixLength)) === o.network;
}

export function cidrsOverlap(a: Cidr | string, b: Cidr | string): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

export function ipInCidr(ip: IpAddress | string, c: Cidr | string): boolean {
  const addr = typeof ip === 'string' ? parseIp(ip) : ip;
  const x = asCidr(c);
  return addr.family === x.family && (addr.value & prefixMask(x.family, x.prefixLength)) === x.network;
}

/** The n-th address of the CIDR (0 = network address); throws when n falls outside it. */
export function nthAddress(c: Cidr | string, n: bigint | number): IpAddress {
  const x = asCidr(c);
  const i = BigInt(n);
  const size = cidrSize(x);
  if (i < 0n || i >= size) throw new RangeError(`index ${i} outside ${x.text} (size ${size})`);
  return { family: x.family, value: x.network + i };
}

/** Offset of an address inside the CIDR, or undefined when it is not inside. */
export function addressIndex(c: Cidr | string, ip: IpAddress | string): bigint | undefined {
  const x = asCidr(c);
  const addr = typeof ip === 'string' ? parseIp(ip) : ip;
  if (!ipInCidr(addr, x)) return undefined;
  return addr.value - x.network;
}

/** How many blocks of prefix `blockPrefix` fit in the CIDR (an IPAM pool split into blocks). */
export function blockCount(c: Cidr | string, blockPrefix: number): bigint {
  const x = asCidr(c);
  const bits = familyBits(x.family);
  if (blockPrefix < x.prefixLength || blockPrefix > bits) {
    throw new RangeError(`block prefix /${blockPrefix} does not fit in ${x.text}`);
  }
  return 1n << BigInt(blockPrefix - x.prefixLength);
}

/** The n-th block of prefix `blockPrefix` inside the CIDR. */
export function nthBlock(c: Cidr | string, blockPrefix: number, n: bigint | number): Cidr {
  const x = asCidr(c);
  const count = blockCount(x, blockPrefix);
  const i = BigInt(n);
  if (i < 0n || i >= count) throw new RangeError(`block index ${i} outside ${x.text} (${count} blocks of /${blockPrefix})`);
  const step = 1n << BigInt(familyBits(x.family) - blockPrefix);
  return makeCidr(x.family, x.network + i * step, blockPrefix);
}

/** The block of prefix `blockPrefix` that contains the address. */
export function blockOf(ip: IpAddress | string, blockPrefix: number): Cidr {
  const addr = typeof ip === 'string' ? parseIp(ip) : ip;
  return makeCidr(addr.family, addr.value, blockPrefix);
}

export function addToIp(ip: IpAddress, delta: bigint | number): IpAddress {
  const value = ip.value + BigInt(delta);
  const max = (1n << BigInt(familyBits(ip.family))) - 1n;
  if (value < 0n || value > max) throw new RangeError(`${ipToString(ip)} + ${delta} leaves the IPv${ip.family} space`);
  return { family: ip.family, value };
}

export function compareIps(a: IpAddress, b: IpAddress): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** Orders CIDRs by family, then network, then prefix length (shorter first). */
export function compareCidrs(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.network !== b.network) return a.network < b.network ? -1 : 1;
  return a.prefixLength - b.prefixLength;
}

/** The CIDR of a single host, `/32` or `/128`. */
export function hostCidr(ip: IpAddress | string): Cidr {
  const addr = typeof ip === 'string' ? parseIp(ip) : ip;
  return makeCidr(addr.family, addr.value, familyBits(addr.family));
}

export const LINK_LOCAL_V4 = '169.254.0.0/16';
export const LINK_LOCAL_V6 = 'fe80::/10';

export function overlapsLinkLocal(c: Cidr | string): boolean {
  const x = asCidr(c);
  return cidrsOverlap(x, x.family === 4 ? LINK_LOCAL_V4 : LINK_LOCAL_V6);
}
