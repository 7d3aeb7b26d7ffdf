// Validation of one decoded manifest object into a typed resource, with Calico's (and Kubernetes')
// field rules. Sits between the manifest codec (manifest.ts) and defaulting (defaults.ts): everything a
// user writes passes here before anything is stored, and a failure names the file, document, resource
// and field path in one line. Unknown fields are rejected (typo protection, like kubectl --validate=strict).

import {
  cidrContains,
  familyBits,
  InvalidError,
  ipInCidr,
  isStrictlyMasked,
  LINK_LOCAL_V4,
  LINK_LOCAL_V6,
  overlapsLinkLocal,
  tryParseCidr,
  tryParseIp,
} from '../lib/index.ts';
import type { IpFamily, ParsedCidr } from '../lib/index.ts';
import { KINDS, kindForManifest } from './kinds.ts';
import type { KindInfo } from './kinds.ts';
import { parseSelector, selectorUsesGlobal } from './selector.ts';
import type { Selector } from './selector.ts';
import type { AnyResource, KindName } from './types.ts';

// ---------------------------------------------------------------------------------------------------------
// Errors

export interface ManifestLocation {
  source: string;
  /** 1-based document number in the source. */
  index: number;
  /** 1-based position inside a `kind: List` document. */
  item?: number;
}

/** A manifest that cannot be accepted; `message` is one line naming source, document, resource and field. */
export class ManifestError extends InvalidError {
  readonly source: string;
  readonly index: number;
  readonly item?: number;
  /** The kind as written in the document, when it was readable. */
  readonly kind?: string;
  /** The resource's metadata.name when it was readable (not `name`, which Error reserves for the class name). */
  readonly resourceName?: string;
  readonly detail: string;
  readonly column?: number;
  readonly line?: number;
  constructor(
    at: ManifestLocation & { kind?: string; name?: string; path: string; detail: string; column?: number; line?: number },
    options?: { cause?: unknown },
  ) {
    super(at.path, at.detail, options);
    this.source = at.source;
    this.index = at.index;
    this.item = at.item;
    this.kind = at.kind;
    this.name = 'ManifestError';
    this.detail = at.detail;
    this.column = at.column;
    this.line = at.line;
    this.resourceName = at.name;
    this.message = formatManifestError(at);
  }
}

export function formatManifestError(at: ManifestLocation & { kind?: string; name?: string; path: string; detail: string; column?: number }): string {
  let where = `${at.source}: document ${at.index}`;
  if (at.item !== undefined) where += ` item ${at.item}`;
  const parts = [where];
  if (at.kind) parts.push(at.name ? `${at.kind} "${at.name}"` : at.kind);
  if (at.path) parts.push(at.path);
  const detail = at.column !== undefined ? `${at.detail} at column ${at.column}` : at.detail;
  return `${parts.join(': ')}: ${detail}`;
}

/** Thrown inside the validators; turned into a ManifestError by validateResource. */
class FieldError extends Error {
  readonly path: string;
  readonly detail: string;
  readonly column?: number;
  constructor(path: string, detail: string, column?: number) {
    super(`${path}: ${detail}`);
    this.path = path;
    this.detail = detail;
    this.column = column;
  }
}

const fail = (path: string, detail: string, column?: number): never => {
  throw new FieldError(path, detail, column);
};

// ---------------------------------------------------------------------------------------------------------
// Small validator toolkit: each check takes (value, path) and returns the accepted (possibly normalised) value.

type Check<T> = (v: unknown, path: string) => T;
type Obj = Record<string, unknown>;

const at = (path: string, key: string): string => (path ? `${path}.${key}` : key);
const idx = (path: string, i: number): string => `${path}[${i}]`;

export function isMapping(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (isMapping(v)) return 'a mapping';
  if (typeof v === 'string') return `string "${v}"`;
  return `${typeof v} ${String(v)}`;
}

function orList(xs: readonly string[]): string {
  if (xs.length <= 1) return xs.join('');
  return `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`;
}

function editDistance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length];
}

/** Candidates close to `word` (case-insensitive equality, prefix, or a small edit distance). */
export function closeMatches(word: string, candidates: readonly string[]): string[] {
  const w = word.toLowerCase();
  const scored = candidates
    .map((c) => {
      const l = c.toLowerCase();
      const dist = editDistance(w, l);
      const near = l === w || dist <= Math.max(1, Math.floor(Math.max(w.length, l.length) / 4)) || (w.length >= 3 && (l.startsWith(w) || w.startsWith(l)));
      return { c, dist, near };
    })
    .filter((x) => x.near)
    .sort((a, b) => a.dist - b.dist || a.c.localeCompare(b.c));
  return [...new Set(scored.map((x) => x.c))].slice(0, 3);
}

const str = (what = 'a string'): Check<string> => (v, path) => (typeof v === 'string' ? v : fail(path, `expected ${what}, got ${describe(v)}`));

const nonEmptyStr: Check<string> = (v, path) => {
  const s = str()(v, path);
  return s === '' ? fail(path, 'must not be empty') : s;
};

const bool: Check<boolean> = (v, path) => (typeof v === 'boolean' ? v : fail(path, `expected true or false, got ${describe(v)}`));

const int = (min: number, max: number, what = 'an integer'): Check<number> => (v, path) => {
  if (typeof v !== 'number' || !Number.isInteger(v)) return fail(path, `expected ${what} ${min}–${max}, got ${describe(v)}`);
  if (v < min || v > max) return fail(path, `${v} is out of range (${what} ${min}–${max})`);
  return v;
};

const finiteNumber: Check<number> = (v, path) =>
  typeof v === 'number' && Number.isFinite(v) ? v : fail(path, `expected a finite number, got ${describe(v)}`);

const oneOf = <T extends string>(noun: string, values: readonly T[]): Check<T> => (v, path) => {
  if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
  if (typeof v !== 'string') return fail(path, `expected ${noun} ${orList(values)}, got ${describe(v)}`);
  return fail(path, `unknown ${noun} "${v}" (expected ${orList(values)})`);
};

const list = <T>(item: Check<T>, opts: { max?: number; min?: number; unique?: boolean; noun?: string } = {}): Check<T[]> => (v, path) => {
  if (!Array.isArray(v)) return fail(path, `expected a list, got ${describe(v)}`);
  if (opts.min !== undefined && v.length < opts.min) return fail(path, opts.min === 1 ? 'must not be empty' : `needs at least ${opts.min} entries`);
  if (opts.max !== undefined && v.length > opts.max) return fail(path, `too many ${opts.noun ?? 'entries'}: ${v.length} (at most ${opts.max})`);
  const out = v.map((x, i) => item(x, idx(path, i)));
  if (opts.unique) {
    const seen = new Map<string, number>();
    out.forEach((x, i) => {
      const k = JSON.stringify(x);
      const j = seen.get(k);
      if (j !== undefined) fail(idx(path, i), `duplicate of ${idx(path, j)} (${JSON.stringify(x)})`);
      seen.set(k, i);
    });
  }
  return out;
};

interface ObjOptions {
  required?: string[];
  /** Known fields that are not allowed here, with the reason. */
  forbidden?: Record<string, string>;
}

/**
 * Checks a mapping against a field table: unknown keys fail (with a "did you mean"), null values count as
 * absent (as Kubernetes treats them), required keys must be present, and the result lists fields in table order.
 */
function obj<T = Obj>(fields: Record<string, Check<unknown>>, opts: ObjOptions = {}): Check<T> {
  return (v, path) => {
    if (!isMapping(v)) return fail(path, `expected a mapping, got ${describe(v)}`);
    for (const key of Object.keys(v)) {
      if (opts.forbidden && Object.hasOwn(opts.forbidden, key) && v[key] !== null && v[key] !== undefined) fail(at(path, key), opts.forbidden[key]);
      if (Object.hasOwn(fields, key)) continue;
      const near = closeMatches(key, Object.keys(fields));
      fail(at(path, key), `unknown field "${key}"${near.length ? ` (did you mean "${near[0]}"?)` : ''}`);
    }
    const out: Obj = {};
    for (const [key, check] of Object.entries(fields)) {
      const value = v[key];
      if (value === undefined || value === null) {
        if (opts.required?.includes(key)) fail(at(path, key), 'required');
        continue;
      }
      out[key] = check(value, at(path, key));
    }
    return out as T;
  };
}

const stringMap = (keyCheck: (k: string, path: string) => void, valueCheck: Check<string>): Check<Record<string, string>> => (v, path) => {
  if (!isMapping(v)) return fail(path, `expected a mapping, got ${describe(v)}`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    keyCheck(k, path);
    out[k] = valueCheck(val === null ? '' : val, `${path}[${JSON.stringify(k)}]`);
  }
  return out;
};

// ---------------------------------------------------------------------------------------------------------
// Names, labels, addresses

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkDnsLabel(s: string, path: string, what: string): string {
  if (s.length > 63) fail(path, `${what} "${s}" is longer than 63 characters`);
  if (!DNS_LABEL.test(s)) fail(path, `${what} "${s}" is invalid: use lower-case letters, digits and "-", starting and ending with a letter or digit`);
  return s;
}

function checkDnsSubdomain(s: string, path: string, what: string): string {
  if (s.length > 253) fail(path, `${what} "${s}" is longer than 253 characters`);
  if (!DNS_SUBDOMAIN.test(s)) {
    fail(path, `${what} "${s}" is invalid: use lower-case letters, digits, "-" and ".", each part starting and ending with a letter or digit`);
  }
  return s;
}

const dnsLabel = (what: string): Check<string> => (v, path) => checkDnsLabel(nonEmptyStr(v, path), path, what);
const dnsSubdomain = (what: string): Check<string> => (v, path) => checkDnsSubdomain(nonEmptyStr(v, path), path, what);

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Kubernetes qualified name: optional DNS-subdomain prefix and "/", then a name of ≤63 characters. */
function checkQualifiedName(key: string, path: string, what: string): void {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined) {
    if (prefix === '' || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) {
      fail(path, `${what} "${key}" has an invalid prefix "${prefix}" (must be a DNS subdomain such as example.com)`);
    }
  }
  if (name === '' || name.length > 63 || !LABEL_NAME.test(name)) {
    fail(path, `${what} "${key}" is invalid: the name part must be 1–63 characters of letters, digits, "-", "_" and ".", starting and ending with a letter or digit`);
  }
}

const labelValue: Check<string> = (v, path) => {
  const s = typeof v === 'number' || typeof v === 'boolean' ? fail(path, `label value must be a string, got ${describe(v)} (quote it)`) : str()(v, path);
  if (s.length > 63 || (s !== '' && !LABEL_NAME.test(s))) {
    fail(path, `label value "${s}" is invalid: at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit`);
  }
  return s;
};

const labels: Check<Record<string, string>> = stringMap((k, path) => checkQualifiedName(k, `${path}[${JSON.stringify(k)}]`, 'label key'), labelValue);
const MAX_ANNOTATIONS_BYTES = 256 * 1024;
const annotations: Check<Record<string, string>> = (v, path) => {
  const out = stringMap(
    (k, p) => checkQualifiedName(k.toLowerCase(), `${p}[${JSON.stringify(k)}]`, 'annotation key'),
    (x, p) => str('a string value (quote numbers and booleans)')(x, p),
  )(v, path);
  const size = Object.entries(out).reduce((n, [k, val]) => n + Buffer.byteLength(k) + Buffer.byteLength(val), 0);
  if (size > MAX_ANNOTATIONS_BYTES) fail(path, `annotations total ${size} bytes (at most ${MAX_ANNOTATIONS_BYTES})`);
  return out;
};

const ip = (family?: IpFamily): Check<string> => (v, path) => {
  const s = str('an IP address')(v, path);
  const parsed = tryParseIp(s);
  if (!parsed) return fail(path, `"${s}" is not a valid IP address`);
  if (family && parsed.family !== family) return fail(path, `"${s}" is not an IPv${family} address`);
  return s;
};

function parseCidrField(s: string, path: string, allowBareIp: boolean): ParsedCidr {
  const c = tryParseCidr(s, allowBareIp);
  if (!c) {
    if (!allowBareIp && tryParseIp(s)) fail(path, `"${s}" is not a CIDR: add the prefix length (e.g. "${s}/${s.includes(':') ? 128 : 32}")`);
    fail(path, `"${s}" is not a valid ${allowBareIp ? 'IP address or CIDR' : 'CIDR'}`);
  }
  return c!;
}

/** A CIDR in a list of networks: host bits are allowed and a bare address means one host (Calico normalises
 *  these when it converts policy; brindle keeps the text as written and consumers use normalizeCidr). */
const netCidr: Check<string> = (v, path) => {
  const s = str('a CIDR')(v, path);
  parseCidrField(s, path, true);
  return s;
};

/** A CIDR that must carry a prefix length (host bits allowed), kept as written. */
const strictCidrText: Check<string> = (v, path) => {
  const s = str('a CIDR')(v, path);
  parseCidrField(s, path, false);
  return s;
};

/** A network in a policy rule: strictly masked (Calico's `net` rule), a bare address meaning one host. */
const ruleNet: Check<string> = (v, path) => {
  const s = str('a CIDR')(v, path);
  const c = parseCidrField(s, path, true);
  if (!isStrictlyMasked(c)) fail(path, `"${s}" has host bits set (did you mean "${c.text}"?)`);
  return s;
};

/** An address with or without a prefix length, as Calico accepts for Node BGP addresses. */
const ipOrCidr = (family: IpFamily): Check<string> => (v, path) => {
  const s = str('an IP address')(v, path);
  const c = parseCidrField(s, path, true);
  if (c.family !== family) fail(path, `"${s}" is not an IPv${family} address`);
  return s;
};

const MAC = /^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$/;
const mac: Check<string> = (v, path) => {
  const s = str('a MAC address')(v, path);
  return MAC.test(s) ? s : fail(path, `"${s}" is not a valid MAC address`);
};

const IFACE = /^[a-zA-Z0-9_.-]{1,15}$/;
const interfaceName = (allowStar: boolean): Check<string> => (v, path) => {
  const s = str('an interface name')(v, path);
  if (allowStar && s === '*') return s;
  if (!IFACE.test(s) || s === '.' || s === '..') fail(path, `"${s}" is not a valid interface name (1–15 of letters, digits, "_", "." and "-")`);
  return s;
};

const DURATION = /^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$/;
const duration: Check<string> = (v, path) => {
  const s = str('a duration such as "90s"')(v, path);
  return DURATION.test(s) ? s : fail(path, `"${s}" is not a valid duration (e.g. "90s", "5m", "1h30m")`);
};

/** AS number: integer 1–4294967295, or a string in plain or asdot form ("65000", "1.10"). Stored as a number. */
const asNumber: Check<number> = (v, path) => {
  if (typeof v === 'number') return int(1, 4294967295, 'an AS number')(v, path);
  const s = str('an AS number')(v, path);
  let n: number | undefined;
  if (/^[0-9]+$/.test(s)) n = Number(s);
  else {
    const m = /^([0-9]+)\.([0-9]+)$/.exec(s);
    if (m && Number(m[1]) <= 65535 && Number(m[2]) <= 65535) n = Number(m[1]) * 65536 + Number(m[2]);
  }
  if (n === undefined || n < 1 || n > 4294967295) return fail(path, `"${s}" is not a valid AS number (1–4294967295 or asdot "A.B")`);
  return n;
};

const LOG_LEVELS = ['Trace', 'Debug', 'Info', 'Warning', 'Error', 'Fatal'] as const;
const port16 = int(1, 65535, 'a port');

// ---------------------------------------------------------------------------------------------------------
// Selectors

interface SelectorOpts {
  allowGlobal?: boolean;
}

function parseSelectorAt(text: string, path: string): Selector {
  try {
    return parseSelector(text);
  } catch (err) {
    const e = err as { column?: unknown; detail?: unknown };
    if (typeof e.column === 'number' && typeof e.detail === 'string') {
      return fail(path, `invalid selector "${text}": ${e.detail}`, e.column);
    }
    throw err;
  }
}

const selector = (opts: SelectorOpts = {}): Check<string> => (v, path) => {
  const s = str('a selector string')(v, path);
  const sel = parseSelectorAt(s, path);
  if (!opts.allowGlobal && selectorUsesGlobal(sel.node)) {
    fail(path, `global() is only allowed in a rule's namespaceSelector (selector "${s}")`);
  }
  return s;
};

function isAllSelector(text: string | undefined): boolean {
  return text === undefined || parseSelector(text).node.op === 'all';
}

// ---------------------------------------------------------------------------------------------------------
// Protocols, ports, ICMP

const PROTOCOL_NAMES = ['TCP', 'UDP', 'ICMP', 'ICMPv6', 'SCTP', 'UDPLite'] as const;
const PROTOCOL_NUMBERS: Record<string, number> = { TCP: 6, UDP: 17, ICMP: 1, ICMPv6: 58, SCTP: 132, UDPLite: 136 };

/** Protocol name (canonical case; Calico's lower-case v1 spellings accepted) or number 1–255. */
const protocol: Check<string | number> = (v, path) => {
  if (typeof v === 'number') return int(1, 255, 'a protocol number')(v, path);
  const s = str('a protocol name or number')(v, path);
  if (/^[0-9]+$/.test(s)) return int(1, 255, 'a protocol number')(Number(s), path);
  const named = PROTOCOL_NAMES.find((p) => p === s || p.toLowerCase() === s);
  return named ?? fail(path, `unknown protocol "${s}" (expected ${orList(PROTOCOL_NAMES)}, or a number 1–255)`);
};

function protocolNumber(p: string | number | undefined): number | undefined {
  if (p === undefined) return undefined;
  return typeof p === 'number' ? p : PROTOCOL_NUMBERS[p];
}

const PORT_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** Port number 1–65535, "min:max" range, or a named port. Numeric strings become numbers (as Calico does). */
const port: Check<number | string> = (v, path) => {
  if (typeof v === 'number') return port16(v, path);
  const s = str('a port number, "min:max" range or port name')(v, path);
  if (/^[0-9]+$/.test(s)) return port16(Number(s), path);
  const range = /^([0-9]+):([0-9]+)$/.exec(s);
  if (range) {
    const lo = Number(range[1]);
    const hi = Number(range[2]);
    if (lo < 1 || lo > 65535 || hi < 1 || hi > 65535) fail(path, `port range "${s}" is out of range (ports are 1–65535)`);
    if (lo > hi) fail(path, `port range "${s}" is reversed (start ${lo} is greater than end ${hi})`);
    return s;
  }
  if (s.includes(':')) return fail(path, `"${s}" is not a valid port range (expected "min:max" with numbers 1–65535)`);
  if (!PORT_NAME.test(s) || !/[A-Za-z]/.test(s)) return fail(path, `"${s}" is not a valid port name`);
  return s;
};

const MAX_PORTS = 50;
const MAX_NETS = 256;
const MAX_RULES = 1024;

const icmpFields: Check<{ type?: number; code?: number }> = (v, path) => {
  const out = obj<{ type?: number; code?: number }>({ type: int(0, 254, 'an ICMP type'), code: int(0, 255, 'an ICMP code') })(v, path);
  if (out.code !== undefined && out.type === undefined) fail(at(path, 'code'), 'an ICMP code needs an ICMP type');
  return out;
};

// ---------------------------------------------------------------------------------------------------------
// Calico policy rules

type RuleDirection = 'ingress' | 'egress';
interface RuleContext {
  direction: RuleDirection;
}

const serviceAccountMatch = obj({
  names: list(dnsSubdomain('service account name'), { min: 1 }),
  selector: selector(),
});

const serviceMatch = obj({ name: dnsSubdomain('service name'), namespace: dnsLabel('namespace') }, { required: ['name'] });

const entityRule = obj({
  nets: list(ruleNet, { max: MAX_NETS, noun: 'nets' }),
  notNets: list(ruleNet, { max: MAX_NETS, noun: 'nets' }),
  selector: selector(),
  notSelector: selector(),
  namespaceSelector: (v: unknown, path: string) => {
    const s = selector({ allowGlobal: true })(v, path);
    const sel = parseSelector(s);
    if (selectorUsesGlobal(sel.node) && sel.node.op !== 'global') fail(path, `global() cannot be combined with other selectors (namespaceSelector "${s}")`);
    return s;
  },
  ports: list(port, { max: MAX_PORTS, noun: 'ports' }),
  notPorts: list(port, { max: MAX_PORTS, noun: 'ports' }),
  serviceAccounts: serviceAccountMatch,
  services: serviceMatch,
});

const httpMatch = obj({
  methods: list(nonEmptyStr, { min: 1, unique: true }),
  paths: list(
    (v, path) => {
      const p = obj<{ exact?: string; prefix?: string }>({ exact: nonEmptyStr, prefix: nonEmptyStr })(v, path);
      if ((p.exact === undefined) === (p.prefix === undefined)) fail(path, 'give exactly one of exact or prefix');
      const text = (p.exact ?? p.prefix)!;
      if (!text.startsWith('/') || /[? #]/.test(text)) fail(at(path, p.exact !== undefined ? 'exact' : 'prefix'), `"${text}" is not a valid path (must start with "/" and contain no "?", "#" or space)`);
      return p;
    },
    { min: 1 },
  ),
});

const ACTIONS = ['Allow', 'Deny', 'Log', 'Pass'] as const;

const ruleFields = {
  action: oneOf('action', ACTIONS),
  ipVersion: (v: unknown, path: string) => (v === 4 || v === 6 ? v : fail(path, `ipVersion must be 4 or 6, got ${describe(v)}`)),
  protocol,
  notProtocol: protocol,
  icmp: icmpFields,
  notICMP: icmpFields,
  source: entityRule,
  destination: entityRule,
  http: httpMatch,
  metadata: obj({ annotations: (v: unknown, path: string) => annotations(v, path) }),
};

const rule = (ctx: RuleContext): Check<Obj> => (v, path) => {
  const r = obj(ruleFields, { required: ['action'] })(v, path);
  const proto = r.protocol as string | number | undefined;
  const protoNum = protocolNumber(proto);
  const ipVersion = r.ipVersion as 4 | 6 | undefined;
  let netFamily: { family: IpFamily; path: string } | undefined;

  for (const f of ['protocol', 'notProtocol'] as const) {
    const p = r[f] as string | number | undefined;
    if (ipVersion === undefined || p === undefined) continue;
    const n = protocolNumber(p);
    if (n === 1 && ipVersion === 6) fail(at(path, f), `${f} ${JSON.stringify(p)} is IPv4-only but ipVersion is 6 (use ICMPv6)`);
    if (n === 58 && ipVersion === 4) fail(at(path, f), `${f} ${JSON.stringify(p)} is IPv6-only but ipVersion is 4 (use ICMP)`);
  }
  for (const f of ['icmp', 'notICMP'] as const) {
    if (r[f] === undefined) continue;
    if (protoNum !== 1 && protoNum !== 58) {
      fail(at(path, f), `${f} needs protocol ICMP or ICMPv6 (protocol is ${proto === undefined ? 'not set' : JSON.stringify(proto)})`);
    }
  }
  for (const side of ['source', 'destination'] as const) {
    const e = r[side] as Obj | undefined;
    if (!e) continue;
    const sp = at(path, side);
    for (const f of ['ports', 'notPorts'] as const) {
      if (e[f] === undefined) continue;
      if (protoNum !== 6 && protoNum !== 17 && protoNum !== 132) {
        fail(at(sp, f), `ports need protocol TCP, UDP or SCTP (protocol is ${proto === undefined ? 'not set' : JSON.stringify(proto)})`);
      }
    }
    for (const f of ['nets', 'notNets'] as const) {
      const nets = e[f] as string[] | undefined;
      nets?.forEach((n, i) => {
        const fam = tryParseCidr(n, true)!.family;
        if (ipVersion !== undefined && fam !== ipVersion) fail(idx(at(sp, f), i), `"${n}" is an IPv${fam} network but the rule has ipVersion ${ipVersion}`);
        // Calico rejects a rule whose nets mix families: it could never match both.
        if (netFamily && fam !== netFamily.family) fail(idx(at(sp, f), i), `"${n}" is an IPv${fam} network but ${netFamily.path} is IPv${netFamily.family} (a rule cannot mix IPv4 and IPv6 networks)`);
        netFamily ??= { family: fam, path: idx(at(sp, f), i) };
      });
    }
    if (e.services !== undefined) {
      const clash = ['nets', 'notNets', 'selector', 'notSelector', 'namespaceSelector', 'serviceAccounts'].filter((k) => e[k] !== undefined);
      if (clash.length) fail(at(sp, 'services'), `services cannot be combined with ${clash.join(', ')}`);
      if (side === 'destination' && ctx.direction === 'ingress') fail(at(sp, 'services'), 'destination services are only allowed in egress rules');
      if (side === 'source' && ctx.direction === 'egress') fail(at(sp, 'services'), 'source services are only allowed in ingress rules');
      if (side === 'destination' && (e.ports !== undefined || e.notPorts !== undefined)) {
        fail(at(sp, e.ports !== undefined ? 'ports' : 'notPorts'), 'ports come from the service and cannot be given with destination services');
      }
    }
  }
  if (r.http !== undefined) {
    if (ctx.direction === 'egress') fail(at(path, 'http'), 'http matches are not allowed in egress rules');
    if (r.action !== 'Allow') fail(at(path, 'http'), `http matches are only allowed on Allow rules (action is "${String(r.action)}")`);
    if (proto !== undefined && protoNum !== 6) fail(at(path, 'http'), `http matches need protocol TCP (protocol is ${JSON.stringify(proto)})`);
  }
  return r;
};

const rules = (direction: RuleDirection): Check<Obj[]> => list(rule({ direction }), { max: MAX_RULES, noun: 'rules' });

// ---------------------------------------------------------------------------------------------------------
// Per-kind spec validators

type SpecCheck = (v: unknown, path: string, r: { name: string; namespace?: string }) => Obj;

const POLICY_TYPES = ['Ingress', 'Egress'] as const;
const STAGED_ACTIONS = ['Set', 'Delete', 'Learn', 'Ignore'] as const;
const GNP_ONLY = 'only GlobalNetworkPolicy has this field';

function policySpec(opts: { global: boolean; staged: boolean }): SpecCheck {
  const fields: Record<string, Check<unknown>> = {
    tier: dnsLabel('tier name'),
    order: finiteNumber,
    selector: selector(),
    types: list(oneOf('policy type', POLICY_TYPES), { unique: true, min: 1, max: 2 }),
    ingress: rules('ingress'),
    egress: rules('egress'),
    serviceAccountSelector: selector(),
    performanceHints: list(oneOf('performance hint', ['AssumeNeededOnEveryNode'] as const), { unique: true }),
  };
  if (opts.global) {
    fields.namespaceSelector = selector();
    fields.doNotTrack = bool;
    fields.preDNAT = bool;
    fields.applyOnForward = bool;
  }
  if (opts.staged) fields.stagedAction = oneOf('staged action', STAGED_ACTIONS);
  const forbidden: Record<string, string> = {};
  if (!opts.global) for (const k of ['namespaceSelector', 'doNotTrack', 'preDNAT', 'applyOnForward']) forbidden[k] = GNP_ONLY;
  if (!opts.staged) forbidden.stagedAction = 'only staged policy kinds have stagedAction';
  const check = obj(fields, { forbidden });
  return (v, path) => {
    const s = check(v, path);
    if (s.doNotTrack === true && s.preDNAT === true) fail(at(path, 'preDNAT'), 'preDNAT and doNotTrack cannot both be true');
    for (const f of ['doNotTrack', 'preDNAT'] as const) {
      if (s[f] === true && s.applyOnForward !== true) fail(at(path, 'applyOnForward'), `must be true when ${f} is true`);
    }
    if (s.preDNAT === true) {
      if (s.egress !== undefined && (s.egress as unknown[]).length > 0) fail(at(path, 'egress'), 'a preDNAT policy cannot have egress rules');
      if ((s.types as string[] | undefined)?.includes('Egress')) fail(at(path, 'types'), 'a preDNAT policy cannot have type Egress');
    }
    if (opts.global) {
      // Service names are namespaced; a cluster-wide policy has no namespace to default to.
      for (const [dir, side] of [['ingress', 'source'], ['egress', 'destination']] as const) {
        ((s[dir] as Obj[] | undefined) ?? []).forEach((r, i) => {
          const svc = (r[side] as Obj | undefined)?.services as Obj | undefined;
          if (svc && svc.namespace === undefined) fail(at(at(idx(at(path, dir), i), side), 'services.namespace'), 'required in a global policy');
        });
      }
    }
    if (s.stagedAction === 'Delete') {
      const extra = Object.keys(s).filter((k) => k !== 'stagedAction' && k !== 'tier');
      if (extra.length) fail(at(path, extra[0]), 'a staged Delete names the policy to remove; only tier may be set besides stagedAction');
    }
    return s;
  };
}

const TIER_BUILTINS: Record<string, { order: number; defaultAction: 'Deny' | 'Pass' }> = {
  'kube-admin': { order: 1_000, defaultAction: 'Pass' },
  default: { order: 1_000_000, defaultAction: 'Deny' },
  'kube-baseline': { order: 10_000_000, defaultAction: 'Pass' },
};

export function builtinTier(name: string): { order: number; defaultAction: 'Deny' | 'Pass' } | undefined {
  return Object.hasOwn(TIER_BUILTINS, name) ? TIER_BUILTINS[name] : undefined;
}

const tierSpec: SpecCheck = (v, path, r) => {
  const s = obj({ order: finiteNumber, defaultAction: oneOf('default action', ['Deny', 'Pass'] as const) })(v, path);
  const builtin = builtinTier(r.name);
  if (builtin) {
    if (s.order !== undefined && s.order !== builtin.order) fail(at(path, 'order'), `the built-in tier "${r.name}" has fixed order ${builtin.order} (got ${String(s.order)})`);
    if (s.defaultAction !== undefined && s.defaultAction !== builtin.defaultAction) {
      fail(at(path, 'defaultAction'), `the built-in tier "${r.name}" has fixed defaultAction ${builtin.defaultAction} (got "${String(s.defaultAction)}")`);
    }
  }
  return s;
};

const profileSpec: SpecCheck = (v, path) => obj({ ingress: rules('ingress'), egress: rules('egress'), labelsToApply: labels })(v, path);

const networkSetSpec: SpecCheck = (v, path) => obj({ nets: list(netCidr) })(v, path);

/** Labels Calico reserves for what it derives itself; a user may not set them on these kinds. */
const RESERVED_LABELS: Partial<Record<KindName, string[]>> = {
  NetworkSet: ['projectcalico.org/namespace'],
  GlobalNetworkSet: ['projectcalico.org/namespace'],
};

const ENCAP_MODES = ['Never', 'Always', 'CrossSubnet'] as const;
const ALLOWED_USES = ['Workload', 'Tunnel', 'LoadBalancer'] as const;

export const DEFAULT_BLOCK_SIZE: Record<IpFamily, number> = { 4: 26, 6: 122 };
const BLOCK_SIZE_RANGE: Record<IpFamily, [number, number]> = { 4: [20, 32], 6: [116, 128] };

const ipPoolSpec: SpecCheck = (v, path) => {
  const s = obj(
    {
      cidr: str('a CIDR'),
      blockSize: int(0, 128, 'a block size'),
      ipipMode: oneOf('ipipMode', ENCAP_MODES),
      vxlanMode: oneOf('vxlanMode', ENCAP_MODES),
      natOutgoing: bool,
      disabled: bool,
      disableBGPExport: bool,
      nodeSelector: selector(),
      namespaceSelector: selector(),
      allowedUses: list(oneOf('allowed use', ALLOWED_USES), { unique: true, min: 1 }),
      assignmentMode: oneOf('assignment mode', ['Automatic', 'Manual'] as const),
    },
    { required: ['cidr'] },
  )(v, path);
  const cidrText = s.cidr as string;
  const cp = at(path, 'cidr');
  const c = parseCidrField(cidrText, cp, false);
  if (!isStrictlyMasked(c)) fail(cp, `"${cidrText}" has host bits set (did you mean "${c.text}"?)`);
  if (overlapsLinkLocal(c)) fail(cp, `"${cidrText}" overlaps the link-local range ${c.family === 4 ? LINK_LOCAL_V4 : LINK_LOCAL_V6}`);
  const [lo, hi] = BLOCK_SIZE_RANGE[c.family];
  const bs = s.blockSize as number | undefined;
  if (bs !== undefined && (bs < lo || bs > hi)) fail(at(path, 'blockSize'), `${bs} is out of range for an IPv${c.family} pool (${lo}–${hi})`);
  const effectiveBlock = bs ?? DEFAULT_BLOCK_SIZE[c.family];
  // Calico skips the size check for a disabled pool: nothing is ever allocated from it.
  if (c.prefixLength > effectiveBlock && s.disabled !== true) {
    if (bs !== undefined) fail(at(path, 'blockSize'), `block size /${bs} is larger than the pool "${cidrText}"`);
    fail(cp, `pool "${cidrText}" is smaller than the default block size /${effectiveBlock}; set spec.blockSize to ${c.prefixLength} or more`);
  }
  const ipip = (s.ipipMode as string | undefined) ?? 'Never';
  const vxlan = (s.vxlanMode as string | undefined) ?? 'Never';
  if (ipip !== 'Never' && c.family === 6) fail(at(path, 'ipipMode'), `IPIP is IPv4-only (pool "${cidrText}" is IPv6)`);
  if (ipip !== 'Never' && vxlan !== 'Never') fail(at(path, 'vxlanMode'), `IPIP and VXLAN cannot both be enabled (ipipMode is "${ipip}", vxlanMode is "${vxlan}")`);
  const uses = s.allowedUses as string[] | undefined;
  if (uses?.includes('LoadBalancer')) {
    const up = at(path, 'allowedUses');
    if (uses.length > 1) fail(up, 'LoadBalancer cannot be combined with Workload or Tunnel');
    if (ipip !== 'Never' || vxlan !== 'Never') fail(up, 'a LoadBalancer pool cannot use IPIP or VXLAN');
    if (!isAllSelector(s.nodeSelector as string | undefined)) fail(at(path, 'nodeSelector'), 'a LoadBalancer pool must have nodeSelector all()');
  }
  return s;
};

const ipReservationSpec: SpecCheck = (v, path) => obj({ reservedCIDRs: list(netCidr, { min: 1 }) }, { required: ['reservedCIDRs'] })(v, path);

const L4_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
const l4Protocol: Check<string> = (v, path) => {
  const s = str('a protocol')(v, path);
  const named = L4_PROTOCOLS.find((p) => p === s || p.toLowerCase() === s);
  return named ?? fail(path, `unknown protocol "${s}" (expected ${orList(L4_PROTOCOLS)})`);
};

const endpointPort = (withHost: boolean): Check<Obj> => {
  const fields: Record<string, Check<unknown>> = { name: nonEmptyStr, protocol: l4Protocol, port: port16 };
  if (withHost) {
    fields.hostPort = int(0, 65535, 'a port');
    fields.hostIP = ip();
  }
  return (v, path) => {
    // A workload port may go unnamed when it only exists to publish a host port.
    const p = obj(fields, { required: ['protocol', 'port'] })(v, path);
    const n = p.name as string | undefined;
    if (n === undefined && !(withHost && typeof p.hostPort === 'number' && p.hostPort > 0)) fail(at(path, 'name'), withHost ? 'required unless hostPort is set' : 'required');
    if (n !== undefined) checkIanaPortName(n, at(path, 'name'));
    return p;
  };
};

const profileName = dnsSubdomain('profile name');

const workloadEndpointSpec: SpecCheck = (v, path) => {
  const s = obj(
    {
      orchestrator: nonEmptyStr,
      workload: nonEmptyStr,
      node: dnsSubdomain('node name'),
      containerID: (x, p) => {
        const id = nonEmptyStr(x, p);
        if (!/^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/.test(id)) fail(p, `"${id}" is not a valid container ID (letters, digits and "-")`);
        return id;
      },
      pod: dnsSubdomain('pod name'),
      endpoint: nonEmptyStr,
      serviceAccountName: dnsSubdomain('service account name'),
      ipNetworks: list((x, p) => {
        const n = netCidr(x, p);
        const c = tryParseCidr(n, true)!;
        if (c.prefixLength !== familyBits(c.family)) fail(p, `"${n}" holds several addresses; endpoint networks are single addresses (/32 or /128)`);
        return n;
      }),
      ipNATs: list((x, p) => {
        const nat = obj<{ internalIP: string; externalIP: string }>({ internalIP: ip(), externalIP: ip() }, { required: ['internalIP', 'externalIP'] })(x, p);
        if (tryParseIp(nat.internalIP)!.family !== tryParseIp(nat.externalIP)!.family) fail(at(p, 'externalIP'), `"${nat.externalIP}" is not of the same IP family as internalIP "${nat.internalIP}"`);
        return nat;
      }),
      ipv4Gateway: ip(4),
      ipv6Gateway: ip(6),
      profiles: list(profileName),
      interfaceName: interfaceName(false),
      mac,
      ports: list(endpointPort(true)),
      allowSpoofedSourcePrefixes: list(netCidr),
    },
    { required: ['node'] },
  )(v, path);
  const nets = (s.ipNetworks as string[] | undefined) ?? [];
  (s.ipNATs as Array<{ internalIP: string }> | undefined)?.forEach((n, i) => {
    if (!nets.some((cidr) => ipInCidr(n.internalIP, tryParseCidr(cidr, true)!))) {
      fail(at(idx(at(path, 'ipNATs'), i), 'internalIP'), `"${n.internalIP}" is not one of the endpoint's ipNetworks`);
    }
  });
  return s;
};

const hostEndpointSpec: SpecCheck = (v, path) => {
  const s = obj(
    {
      node: dnsSubdomain('node name'),
      interfaceName: interfaceName(true),
      expectedIPs: list(ip()),
      profiles: list(profileName),
      ports: list(endpointPort(false)),
    },
    { required: ['node'] },
  )(v, path);
  if (s.interfaceName === undefined && ((s.expectedIPs as string[] | undefined) ?? []).length === 0) {
    fail(path, 'give interfaceName or expectedIPs (a host endpoint needs one of them)');
  }
  return s;
};

const nonEmptyObj = (check: Check<Obj>): Check<Obj> => (v, path) => {
  const o = check(v, path);
  return Object.keys(o).length === 0 ? fail(path, 'must not be empty (omit it instead)') : o;
};

const nodeSpec: SpecCheck = (v, path) =>
  obj({
    bgp: nonEmptyObj(obj({
      asNumber,
      ipv4Address: ipOrCidr(4),
      ipv6Address: ipOrCidr(6),
      ipv4IPIPTunnelAddr: ip(4),
      routeReflectorClusterID: ip(4),
    })),
    ipv4VXLANTunnelAddr: ip(4),
    vxlanTunnelMACAddr: mac,
    ipv6VXLANTunnelAddr: ip(6),
    vxlanTunnelMACAddrV6: mac,
    addresses: list(
      obj(
        {
          address: (x, p) => {
            const s = str('an IP address')(x, p);
            parseCidrField(s, p, true);
            return s;
          },
          type: oneOf('address type', ['InternalIP', 'ExternalIP', 'CalicoNodeIP'] as const),
        },
        { required: ['address'] },
      ),
    ),
    interfaces: list(obj({ name: interfaceName(false), addresses: list(ip()) }, { required: ['name'] })),
    orchRefs: list(obj({ orchestrator: nonEmptyStr, nodeName: nonEmptyStr }, { required: ['orchestrator'] })),
  })(v, path);

const COMMUNITY = /^([0-9]+):([0-9]+)(?::([0-9]+))?$/;
function checkCommunityValue(s: string, path: string): void {
  const m = COMMUNITY.exec(s);
  const ok = m && (m[3] === undefined ? Number(m[1]) <= 65535 && Number(m[2]) <= 65535 : [m[1], m[2], m[3]].every((x) => Number(x) <= 4294967295));
  if (!ok) fail(path, `"${s}" is not a valid BGP community (standard "AA:NN" with 16-bit parts, or large "AA:NN:MM" with 32-bit parts)`);
}

const BGP_NODE_FIELDS = ['logSeverityScreen', 'listenPort', 'prefixAdvertisements'];

const bgpConfigurationSpec: SpecCheck = (v, path, r) => {
  const cidrList = list(obj({ cidr: strictCidrText }, { required: ['cidr'] }));
  const s = obj({
    logSeverityScreen: oneOf('log level', LOG_LEVELS),
    nodeToNodeMeshEnabled: bool,
    asNumber,
    serviceClusterIPs: cidrList,
    serviceExternalIPs: cidrList,
    serviceLoadBalancerIPs: cidrList,
    communities: list(
      obj(
        {
          name: (x, p) => {
            const n = nonEmptyStr(x, p);
            if (!/^[a-zA-Z0-9_.-]+$/.test(n)) fail(p, `"${n}" is not a valid community name`);
            return n;
          },
          value: (x, p) => {
            const val = str('a community value')(x, p);
            checkCommunityValue(val, p);
            return val;
          },
        },
        { required: ['name', 'value'] },
      ),
    ),
    prefixAdvertisements: list(obj({ cidr: strictCidrText, communities: list(nonEmptyStr) }, { required: ['cidr'] })),
    listenPort: port16,
    bindMode: oneOf('bind mode', ['None', 'NodeIP'] as const),
    ignoredInterfaces: list(nonEmptyStr),
  })(v, path);
  const defined = new Set(((s.communities as Array<{ name: string }> | undefined) ?? []).map((c) => c.name));
  if (defined.size > 0 && ((s.prefixAdvertisements as unknown[] | undefined) ?? []).length === 0) {
    fail(at(path, 'communities'), 'communities are defined but no prefixAdvertisements use them');
  }
  (s.prefixAdvertisements as Array<{ communities?: string[] }> | undefined)?.forEach((pa, i) => {
    pa.communities?.forEach((c, j) => {
      if (defined.has(c)) return;
      const p = idx(at(idx(at(path, 'prefixAdvertisements'), i), 'communities'), j);
      if (!COMMUNITY.test(c)) fail(p, `"${c}" is neither a community defined in spec.communities nor a community value`);
      checkCommunityValue(c, p);
    });
  });
  if (r.name !== 'default') {
    for (const k of Object.keys(s)) {
      if (!BGP_NODE_FIELDS.includes(k)) fail(at(path, k), `only the "default" BGPConfiguration may set ${k} (per-node configurations may set ${orList(BGP_NODE_FIELDS)})`);
    }
  }
  return s;
};

/** peerIP: `ip`, `ip:port` (IPv4) or `[ipv6]:port`. */
const peerIP: Check<string> = (v, path) => {
  const s = str('an IP address')(v, path);
  const bad = (): never => fail(path, `"${s}" is not a valid peer address (expected IP, IPv4:port or [IPv6]:port)`);
  const checkPort = (p: string): void => {
    if (!/^[0-9]+$/.test(p) || Number(p) < 1 || Number(p) > 65535) fail(path, `"${s}" has an invalid port "${p}" (1–65535)`);
  };
  if (s.startsWith('[')) {
    const m = /^\[([^\]]+)\]:([^:]*)$/.exec(s);
    if (!m) return bad();
    if (tryParseIp(m[1])?.family !== 6) return bad();
    checkPort(m[2]);
    return s;
  }
  if (tryParseIp(s)) return s;
  const m = /^([0-9.]+):([^:]*)$/.exec(s);
  if (!m || tryParseIp(m[1])?.family !== 4) return bad();
  checkPort(m[2]);
  return s;
};

const bgpPeerSpec: SpecCheck = (v, path) => {
  const s = obj({
    node: dnsSubdomain('node name'),
    nodeSelector: selector(),
    peerIP,
    peerSelector: selector(),
    asNumber,
    localASNumber: asNumber,
    nextHopMode: oneOf('next hop mode', ['Auto', 'Self', 'Keep'] as const),
    keepOriginalNextHop: bool,
    password: (x, p) => {
      const pw = obj({
        secretKeyRef: obj({ name: dnsSubdomain('secret name'), key: nonEmptyStr }, { required: ['name', 'key'] }),
        value: nonEmptyStr,
      })(x, p);
      if ((pw.secretKeyRef === undefined) === (pw.value === undefined)) fail(p, 'give exactly one of secretKeyRef or value');
      return pw;
    },
    sourceAddress: oneOf('source address mode', ['UseNodeIP', 'None'] as const),
    maxRestartTime: duration,
    keepaliveTime: duration,
    holdTime: duration,
    ttlSecurity: int(0, 255, 'a hop count'),
    reachableBy: ip(),
    filters: list(dnsSubdomain('BGP filter name')),
    numAllowedLocalASNumbers: int(0, 10, 'a count'),
  })(v, path);
  if (s.node !== undefined && s.nodeSelector !== undefined) fail(at(path, 'nodeSelector'), 'node and nodeSelector cannot both be set');
  if (s.peerIP !== undefined && s.peerSelector !== undefined) fail(at(path, 'peerSelector'), 'peerIP and peerSelector cannot both be set');
  if (s.peerIP === undefined && s.peerSelector === undefined) fail(path, 'give peerIP or peerSelector');
  if (s.peerSelector !== undefined && s.asNumber !== undefined) fail(at(path, 'asNumber'), 'asNumber must not be set with peerSelector (the peers\' own AS numbers are used)');
  if (s.peerIP !== undefined && s.asNumber === undefined) fail(at(path, 'asNumber'), 'required when peerIP is set');
  if (s.keepOriginalNextHop !== undefined && s.nextHopMode !== undefined) fail(at(path, 'keepOriginalNextHop'), 'keepOriginalNextHop and nextHopMode cannot both be set (use nextHopMode: Keep)');
  if (s.reachableBy !== undefined && s.peerIP === undefined) fail(at(path, 'reachableBy'), 'may only be set together with peerIP');
  if (s.reachableBy !== undefined && s.peerIP !== undefined) {
    const peerHost = (s.peerIP as string).replace(/^\[|\](:[0-9]+)?$/g, '').replace(/^([0-9.]+):[0-9]+$/, '$1');
    if (tryParseIp(peerHost)?.family !== tryParseIp(s.reachableBy as string)?.family) fail(at(path, 'reachableBy'), 'must be of the same IP family as peerIP');
  }
  return s;
};

const failsafePort: Check<Obj> = (v, path) =>
  obj({ protocol: l4Protocol, port: port16, net: strictCidrText }, { required: ['port'] })(v, path);

const agentConfigurationSpec: SpecCheck = (v, path) =>
  obj({
    logSeverityScreen: oneOf('log level', LOG_LEVELS),
    ipv6Support: bool,
    interfacePrefix: (x, p) => {
      const s = str('interface prefixes')(x, p);
      for (const part of s.split(',')) {
        if (!/^[a-zA-Z0-9_-]{1,14}$/.test(part)) fail(p, `"${part}" is not a valid interface prefix (1–14 letters, digits, "_" or "-"; separate several with ",")`);
      }
      return s;
    },
    defaultEndpointToHostAction: oneOf('action', ['Drop', 'Return', 'Accept'] as const),
    failsafeInboundHostPorts: list(failsafePort),
    failsafeOutboundHostPorts: list(failsafePort),
    logPrefix: (x, p) => {
      const s = str('a log prefix')(x, p);
      if (s.length > 64) fail(p, `log prefix is ${s.length} characters long (at most 64)`);
      return s;
    },
    vxlanEnabled: bool,
    vxlanVNI: int(1, 16777215, 'a VNI'),
    vxlanPort: port16,
    vxlanMTU: int(0, 65535, 'an MTU'),
    vxlanMTUV6: int(0, 65535, 'an MTU'),
    routeRefreshInterval: duration,
    nftablesRefreshInterval: duration,
    healthEnabled: bool,
    healthPort: port16,
    prometheusMetricsEnabled: bool,
    prometheusMetricsPort: port16,
    natOutgoingAddress: ip(4),
    workloadSourceSpoofing: oneOf('workloadSourceSpoofing mode', ['Disabled', 'Any'] as const),
  })(v, path);

const clusterInformationSpec: SpecCheck = (v, path) =>
  obj({
    clusterGUID: nonEmptyStr,
    clusterType: str(),
    calicoVersion: str(),
    brindleVersion: str(),
    datastoreReady: bool,
    variant: str(),
  })(v, path);

// ---------- Kubernetes kinds ----------

/** IANA service name, as Kubernetes requires for named ports. */
function checkIanaPortName(s: string, path: string): string {
  if (s.length > 15 || !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(s) || s.includes('--') || !/[a-z]/.test(s)) {
    fail(path, `"${s}" is not a valid port name (at most 15 lower-case letters, digits and "-", with at least one letter, no "--")`);
  }
  return s;
}

const K8S_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

const k8sLabelSelector: Check<Obj> = (v, path) => {
  const s = obj({
    matchLabels: labels,
    matchExpressions: list((x, p) => {
      const e = obj(
        {
          key: (y, q) => {
            const k = nonEmptyStr(y, q);
            checkQualifiedName(k, q, 'label key');
            return k;
          },
          operator: oneOf('operator', SELECTOR_OPERATORS),
          values: list(labelValue),
        },
        { required: ['key', 'operator'] },
      )(x, p);
      const vals = e.values as string[] | undefined;
      if ((e.operator === 'In' || e.operator === 'NotIn') && (!vals || vals.length === 0)) fail(at(p, 'values'), `must not be empty for operator ${String(e.operator)}`);
      if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && vals && vals.length > 0) fail(at(p, 'values'), `must be empty for operator ${String(e.operator)}`);
      return e;
    }),
  })(v, path);
  return s;
};

const k8sPolicyPort: Check<Obj> = (v, path) => {
  const p = obj({
    protocol: oneOf('protocol', K8S_PROTOCOLS),
    port: (x, q) => (typeof x === 'number' ? port16(x, q) : checkIanaPortName(str('a port number or name')(x, q), q)),
    endPort: port16,
  })(v, path);
  if (p.endPort !== undefined) {
    if (p.port === undefined) fail(at(path, 'endPort'), 'may not be set without port');
    if (typeof p.port !== 'number') fail(at(path, 'endPort'), `may not be set when port is a named port ("${String(p.port)}")`);
    if ((p.endPort as number) < (p.port as number)) fail(at(path, 'endPort'), `${String(p.endPort)} is less than port ${String(p.port)}`);
  }
  return p;
};

const ipBlock: Check<Obj> = (v, path) => {
  const b = obj({ cidr: str('a CIDR'), except: list(str('a CIDR')) }, { required: ['cidr'] })(v, path);
  const cidr = parseCidrField(b.cidr as string, at(path, 'cidr'), false);
  (b.except as string[] | undefined)?.forEach((e, i) => {
    const p = idx(at(path, 'except'), i);
    const ex = parseCidrField(e, p, false);
    if (ex.family !== cidr.family) fail(p, `"${e}" is an IPv${ex.family} network but cidr "${String(b.cidr)}" is IPv${cidr.family}`);
    if (!cidrContains(cidr, ex) || ex.prefixLength <= cidr.prefixLength) fail(p, `"${e}" is not a strict subset of cidr "${String(b.cidr)}"`);
  });
  return b;
};

const k8sPeer: Check<Obj> = (v, path) => {
  const p = obj({ podSelector: k8sLabelSelector, namespaceSelector: k8sLabelSelector, ipBlock })(v, path);
  if (p.ipBlock !== undefined && (p.podSelector !== undefined || p.namespaceSelector !== undefined)) {
    fail(path, 'ipBlock cannot be combined with podSelector or namespaceSelector');
  }
  if (Object.keys(p).length === 0) fail(path, 'give podSelector, namespaceSelector or ipBlock');
  return p;
};

const k8sNetworkPolicySpec: SpecCheck = (v, path) =>
  obj(
    {
      podSelector: k8sLabelSelector,
      policyTypes: list(oneOf('policy type', POLICY_TYPES), { unique: true, max: 2 }),
      ingress: list(obj({ from: list(k8sPeer), ports: list(k8sPolicyPort) })),
      egress: list(obj({ to: list(k8sPeer), ports: list(k8sPolicyPort) })),
    },
    { required: ['podSelector'] },
  )(v, path);

const namespaceSpec: SpecCheck = (v, path) => obj({ finalizers: list(nonEmptyStr) })(v, path);
const emptySpec: SpecCheck = (v, path) => obj({})(v, path);

const podSpec: SpecCheck = (v, path) =>
  obj({
    serviceAccountName: dnsSubdomain('service account name'),
    nodeName: dnsSubdomain('node name'),
    hostNetwork: bool,
    restartPolicy: oneOf('restart policy', ['Always', 'OnFailure', 'Never'] as const),
    containers: list(
      obj(
        {
          name: dnsLabel('container name'),
          image: nonEmptyStr,
          imagePullPolicy: oneOf('image pull policy', ['Always', 'IfNotPresent', 'Never'] as const),
          command: list(str()),
          args: list(str()),
          ports: list(
            obj(
              {
                name: (x, p) => checkIanaPortName(str('a port name')(x, p), p),
                containerPort: port16,
                protocol: oneOf('protocol', K8S_PROTOCOLS),
                hostPort: port16,
                hostIP: ip(),
              },
              { required: ['containerPort'] },
            ),
          ),
        },
        { required: ['name'] },
      ),
    ),
  })(v, path);

const podStatus: Check<Obj> = (v, path) =>
  obj({
    hostIP: ip(),
    podIP: ip(),
    podIPs: list(obj({ ip: ip() }, { required: ['ip'] }), { max: 2 }),
    phase: oneOf('phase', ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const),
  })(v, path);

interface KindRules {
  spec: SpecCheck;
  /** spec may be omitted (then stored as {}). */
  specOptional: boolean;
  /** How status on input is treated: validated, kept as an opaque mapping, or refused. */
  status?: Check<Obj> | 'opaque';
  name: (v: unknown, path: string) => string;
}

const subdomainName = dnsSubdomain('name');

const LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const GLOBAL_POLICY_NAME = new RegExp(`^(${LABEL_FMT}\\.)?${LABEL_FMT}$`);
// Calico also accepts names of converted Kubernetes policies (knp.default.<name>) for namespaced kinds.
const POLICY_NAME = new RegExp(`^((${LABEL_FMT})(\\.${LABEL_FMT})?|(knp|ossg)\\.default\\.${LABEL_FMT}(\\.${LABEL_FMT})*)$`);

const policyName = (namespaced: boolean) => (v: unknown, path: string): string => {
  const s = nonEmptyStr(v, path);
  if (s.length > 253) fail(path, `name "${s}" is longer than 253 characters`);
  if (!(namespaced ? POLICY_NAME : GLOBAL_POLICY_NAME).test(s)) {
    fail(path, `policy name "${s}" is invalid: use lower-case letters, digits and "-" (at most one ".", e.g. "tier.name")`);
  }
  return s;
};

const singletonOrNode: (v: unknown, path: string) => string = (v, path) => {
  const s = nonEmptyStr(v, path);
  if (s === 'default') return s;
  if (s.startsWith('node.')) {
    checkDnsSubdomain(s.slice(5), path, 'node name');
    return s;
  }
  return fail(path, `name must be "default" or "node.<node name>", got "${s}"`);
};

const opaqueStatus = 'opaque' as const;

const RULES: Record<KindName, KindRules> = {
  IPPool: { spec: ipPoolSpec, specOptional: false, status: opaqueStatus, name: subdomainName },
  IPReservation: { spec: ipReservationSpec, specOptional: false, name: subdomainName },
  Node: { spec: nodeSpec, specOptional: true, status: opaqueStatus, name: subdomainName },
  WorkloadEndpoint: { spec: workloadEndpointSpec, specOptional: false, name: subdomainName },
  HostEndpoint: { spec: hostEndpointSpec, specOptional: false, name: subdomainName },
  NetworkPolicy: { spec: policySpec({ global: false, staged: false }), specOptional: true, name: policyName(true) },
  GlobalNetworkPolicy: { spec: policySpec({ global: true, staged: false }), specOptional: true, name: policyName(false) },
  StagedNetworkPolicy: { spec: policySpec({ global: false, staged: true }), specOptional: true, name: policyName(true) },
  StagedGlobalNetworkPolicy: { spec: policySpec({ global: true, staged: true }), specOptional: true, name: policyName(false) },
  Tier: { spec: tierSpec, specOptional: true, status: opaqueStatus, name: dnsLabel('tier name') },
  Profile: { spec: profileSpec, specOptional: true, name: subdomainName },
  NetworkSet: { spec: networkSetSpec, specOptional: true, name: subdomainName },
  GlobalNetworkSet: { spec: networkSetSpec, specOptional: true, name: subdomainName },
  BGPConfiguration: { spec: bgpConfigurationSpec, specOptional: true, name: singletonOrNode },
  BGPPeer: { spec: bgpPeerSpec, specOptional: false, name: subdomainName },
  AgentConfiguration: { spec: agentConfigurationSpec, specOptional: true, name: singletonOrNode },
  ClusterInformation: {
    spec: clusterInformationSpec,
    specOptional: true,
    name: (v, path) => {
      const s = nonEmptyStr(v, path);
      return s === 'default' ? s : fail(path, `name must be "default" (there is one ClusterInformation), got "${s}"`);
    },
  },
  Namespace: { spec: namespaceSpec, specOptional: true, status: (v, p) => obj({ phase: oneOf('phase', ['Active', 'Terminating'] as const) })(v, p), name: dnsLabel('namespace name') },
  Pod: { spec: podSpec, specOptional: true, status: podStatus, name: subdomainName },
  ServiceAccount: { spec: emptySpec, specOptional: true, name: subdomainName },
  KubernetesNetworkPolicy: { spec: k8sNetworkPolicySpec, specOptional: false, name: subdomainName },
};

// ---------------------------------------------------------------------------------------------------------
// Entry point

const metadataFields = (info: KindInfo, nameCheck: (v: unknown, path: string) => string): Check<Obj> =>
  obj(
    {
      name: nameCheck,
      namespace: dnsLabel('namespace'),
      labels,
      annotations,
      resourceVersion: str(),
      uid: str(),
      creationTimestamp: str('a timestamp string'),
      generation: int(0, Number.MAX_SAFE_INTEGER, 'a generation'),
    },
    {
      required: ['name'],
      forbidden: info.namespaced ? {} : { namespace: `${info.manifestKind} is cluster-scoped and takes no namespace` },
    },
  );

const ALL_MANIFEST_KINDS = [...new Set([...KINDS.map((k) => k.manifestKind), 'FelixConfiguration'])];

function resolveKind(raw: Obj): KindInfo {
  const kind = raw.kind;
  const apiVersion = raw.apiVersion;
  if (kind === undefined || kind === null) fail('kind', 'required');
  if (typeof kind !== 'string') fail('kind', `expected a string, got ${describe(kind)}`);
  if (apiVersion === undefined || apiVersion === null) fail('apiVersion', 'required');
  if (typeof apiVersion !== 'string') fail('apiVersion', `expected a string, got ${describe(apiVersion)}`);
  const info = kindForManifest(apiVersion as string, kind as string);
  if (info) return info;
  const k = kind as string;
  const served = KINDS.filter((i) => i.manifestKind === k || (k === 'FelixConfiguration' && i.kind === 'AgentConfiguration'));
  if (served.length > 0) {
    const versions = [...new Set(served.flatMap((i) => i.apiVersions))];
    return fail('apiVersion', `kind ${k} is not served under apiVersion "${String(apiVersion)}" (expected ${orList(versions)})`);
  }
  const near = closeMatches(k, ALL_MANIFEST_KINDS);
  return fail('kind', near.length ? `unknown kind "${k}" (did you mean ${orList(near)}?)` : `unknown kind "${k}" (brindle stores ${orList(ALL_MANIFEST_KINDS)})`);
}

/**
 * Validates one decoded manifest object. Returns a new object under the internal kind name and the printing
 * apiVersion of the registry (so projectcalico.org/v3 input is stored as brindle.io/v1). The namespace of a
 * namespaced kind is left unset when absent: the caller decides the default. Throws ManifestError.
 */
export function validateResource(raw: unknown, where: ManifestLocation): AnyResource {
  let kindWritten: string | undefined;
  let name: string | undefined;
  try {
    if (!isMapping(raw)) fail('', `expected a mapping (an object with apiVersion, kind, metadata and spec), got ${describe(raw)}`);
    const doc = raw as Obj;
    // Name the kind in the message only when brindle knows it; an unknown kind is itself the error.
    if (typeof doc.kind === 'string' && ALL_MANIFEST_KINDS.includes(doc.kind)) kindWritten = doc.kind;
    if (isMapping(doc.metadata) && typeof doc.metadata.name === 'string') name = doc.metadata.name;
    const info = resolveKind(doc);
    const rules = RULES[info.kind];
    for (const key of Object.keys(doc)) {
      if (['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(key)) continue;
      const near = closeMatches(key, ['apiVersion', 'kind', 'metadata', 'spec']);
      fail(key, `unknown field "${key}"${near.length ? ` (did you mean "${near[0]}"?)` : ''}`);
    }
    if (doc.metadata === undefined || doc.metadata === null) fail('metadata', 'required (at least metadata.name)');
    const metadata = metadataFields(info, rules.name)(doc.metadata, 'metadata');
    for (const key of RESERVED_LABELS[info.kind] ?? []) {
      const l = metadata.labels as Record<string, string> | undefined;
      if (l && key in l) fail(`metadata.labels[${JSON.stringify(key)}]`, `label "${key}" is reserved (brindle sets it itself)`);
    }
    let spec: Obj;
    if (doc.spec === undefined || doc.spec === null) {
      if (!rules.specOptional) fail('spec', 'required');
      spec = rules.spec({}, 'spec', metadata as { name: string });
    } else {
      spec = rules.spec(doc.spec, 'spec', metadata as { name: string; namespace?: string });
    }
    const out: Obj = { apiVersion: info.apiVersion, kind: info.kind, metadata, spec };
    if (doc.status !== undefined && doc.status !== null) {
      if (rules.status === undefined) fail('status', `${info.manifestKind} has no status field`);
      else if (rules.status === 'opaque') {
        if (!isMapping(doc.status)) fail('status', `expected a mapping, got ${describe(doc.status)}`);
        out.status = structuredClone(doc.status);
      } else out.status = rules.status(doc.status, 'status');
    }
    return out as unknown as AnyResource;
  } catch (err) {
    if (err instanceof FieldError) {
      throw new ManifestError({ ...where, kind: kindWritten, name, path: err.path, detail: err.detail, column: err.column });
    }
    throw err;
  }
}
