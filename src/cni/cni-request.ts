// Reads what a runtime hands a CNI plugin: the CNI_* environment (command, container, netns,
// interface, CNI_ARGS) and the network config on stdin, and checks them before anything is touched.
// Each problem is a CniError with the spec's code and a message that names the variable or field.
//
//   env + stdin ──parseEnvironment / parseNetConf──► CniRequest ──► plugin handlers

import { tryParseIp } from '../lib/index.ts';
import { parseDatastoreLocator } from '../datastore/index.ts';
import { CNI_ERROR, CniError } from './cni-errors.ts';
import { parseResult, requireSupportedVersion } from './cni-result.ts';
import type { CniDns, CniResult, CniRoute } from './cni-result.ts';

export const CNI_COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'] as const;
export type CniCommand = (typeof CNI_COMMANDS)[number];

/** CNI_ARGS keys brindle understands; others need IgnoreUnknown=1. */
const KNOWN_ARGS = ['IgnoreUnknown', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID', 'IP', 'MAC'];

export interface CniArgs {
  podNamespace?: string;
  podName?: string;
  podUid?: string;
  /** Static addresses asked for with IP= (comma-separated in CNI_ARGS). */
  ips: string[];
  mac?: string;
  /** Every key=value as given. */
  raw: Record<string, string>;
}

export interface CniEnvironment {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifname: string;
  args: CniArgs;
  path: string[];
}

const env4 = (msg: string) => new CniError(CNI_ERROR.INVALID_ENVIRONMENT, msg);

export function parseCniArgs(text: string): CniArgs {
  const raw: Record<string, string> = {};
  for (const part of text.split(';')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw env4(`CNI_ARGS "${text}" is malformed: "${part}" is not KEY=VALUE`);
    raw[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  const ignoreUnknown = ['1', 'true'].includes((raw.IgnoreUnknown ?? '').toLowerCase());
  if (!ignoreUnknown) {
    const unknown = Object.keys(raw).filter((k) => !KNOWN_ARGS.includes(k));
    if (unknown.length > 0) {
      throw env4(`CNI_ARGS has unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} (set IgnoreUnknown=1 to ignore them)`);
    }
  }
  const ips = (raw.IP ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const ip of ips) {
    if (!tryParseIp(ip)) throw env4(`CNI_ARGS IP="${raw.IP}": "${ip}" is not an IP address`);
  }
  if (raw.MAC !== undefined && !isUnicastMac(raw.MAC)) throw env4(`CNI_ARGS MAC="${raw.MAC}" is not a unicast MAC address (aa:bb:cc:dd:ee:ff)`);
  return {
    ...(raw.K8S_POD_NAMESPACE ? { podNamespace: raw.K8S_POD_NAMESPACE } : {}),
    ...(raw.K8S_POD_NAME ? { podName: raw.K8S_POD_NAME } : {}),
    ...(raw.K8S_POD_UID ? { podUid: raw.K8S_POD_UID } : {}),
    ips,
    ...(raw.MAC ? { mac: raw.MAC.toLowerCase() } : {}),
    raw,
  };
}

export function isUnicastMac(mac: string): boolean {
  if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(mac)) return false;
  return (parseInt(mac.slice(0, 2), 16) & 1) === 0;
}

/** Which CNI_* variables each command needs (spec §"Parameters"). */
const REQUIRED: Record<CniCommand, Array<'CNI_CONTAINERID' | 'CNI_NETNS' | 'CNI_IFNAME'>> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  VERSION: [],
  GC: [],
  STATUS: [],
};

export function parseCommand(env: NodeJS.ProcessEnv): CniCommand {
  const command = env.CNI_COMMAND;
  if (command === undefined || command === '') throw env4(`CNI_COMMAND is not set (expected one of ${CNI_COMMANDS.join(', ')})`);
  if (!(CNI_COMMANDS as readonly string[]).includes(command)) {
    throw env4(`CNI_COMMAND "${command}" is not one of ${CNI_COMMANDS.join(', ')}`);
  }
  return command as CniCommand;
}

export function parseEnvironment(env: NodeJS.ProcessEnv): CniEnvironment {
  const command = parseCommand(env);
  const need = REQUIRED[command];
  const missing = need.filter((k) => !env[k]);
  if (missing.length > 0) {
    throw env4(`${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not set (CNI_COMMAND=${command} needs ${need.join(', ')})`);
  }
  const containerId = env.CNI_CONTAINERID ?? '';
  if (containerId !== '' && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(containerId)) {
    throw env4(`CNI_CONTAINERID "${containerId}" is invalid: it must start with a letter or digit and hold only letters, digits, "_", "." and "-"`);
  }
  const ifname = env.CNI_IFNAME ?? '';
  if (ifname !== '' && (ifname.length > 15 || ifname === '.' || ifname === '..' || /[/:\s]/.test(ifname))) {
    throw env4(`CNI_IFNAME "${ifname}" is not a valid interface name (at most 15 characters, no "/", ":" or spaces)`);
  }
  const netns = env.CNI_NETNS ?? '';
  if (netns !== '' && need.includes('CNI_NETNS') && !netns.startsWith('/')) {
    throw env4(`CNI_NETNS "${netns}" is not an absolute path to a network namespace`);
  }
  return {
    command,
    containerId,
    netns,
    ifname,
    args: need.length > 0 ? parseCniArgs(env.CNI_ARGS ?? '') : { ips: [], raw: {} },
    path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
  };
}

// ---------- network config ----------

export interface IpamConf {
  type: string;
  /** undefined = decide from the pools that exist. */
  assignIpv4?: boolean;
  assignIpv6?: boolean;
  ipv4Pools: string[];
  ipv6Pools: string[];
  /** Extra routes an IPAM-only result should carry (like host-local's "routes"). */
  routes: CniRoute[];
  /** A datastore named inside the ipam section (brindle-ipam used by another main plugin). */
  datastore?: string;
}

export interface Attachment {
  containerId: string;
  ifname: string;
}

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  datastore?: string;
  nodename?: string;
  nodenameFile?: string;
  mtu?: number;
  logFilePath?: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  ipam: IpamConf;
  /** Labels for the WorkloadEndpoint when no Kubernetes Pod is stored (args.cni.labels, args.labels, runtimeConfig.labels). */
  labels: Record<string, string>;
  /** Static addresses from runtimeConfig.ips / args.cni.ips. */
  ips: string[];
  mac?: string;
  dns?: CniDns;
  prevResult?: CniResult;
  /** GC: attachments the runtime still holds; undefined when the key is absent. */
  validAttachments?: Attachment[];
  /** The whole object as received (delegation passes it on unchanged). */
  raw: Record<string, unknown>;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function invalid(name: string, msg: string): CniError {
  return new CniError(CNI_ERROR.INVALID_NETWORK_CONFIG, `Network config${name ? ` "${name}"` : ''}: ${msg}`);
}

function describe(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

/** Decodes stdin; CniError 6 for bad JSON or no object. */
export function decodeConfig(stdin: string): Record<string, unknown> {
  if (stdin.trim() === '') throw new CniError(CNI_ERROR.DECODE_FAILURE, 'No network config on stdin (expected a JSON object)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CNI_ERROR.DECODE_FAILURE, `Network config on stdin is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CniError(CNI_ERROR.DECODE_FAILURE, `Network config on stdin must be a JSON object, got ${Array.isArray(parsed) ? 'an array' : typeof parsed}`);
  }
  return parsed as Record<string, unknown>;
}

function optString(o: Record<string, unknown>, key: string, name: string, path = key): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(name, `field "${path}" must be a string, got ${describe(v)}`);
  return v;
}

function optBoolish(o: Record<string, unknown>, key: string, name: string, path: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw invalid(name, `field "${path}" must be true or false (or "true"/"false"), got ${describe(v)}`);
}

function stringList(o: Record<string, unknown>, key: string, name: string, path: string): string[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalid(name, `field "${path}" must be a list of strings, got ${describe(v)}`);
  return v as string[];
}

function labelsFrom(v: unknown, name: string, path: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  const out: Record<string, string> = {};
  if (Array.isArray(v)) {
    // CNI CONVENTIONS.md form: [{"key": "app", "value": "web"}]
    v.forEach((item, i) => {
      const x = item as { key?: unknown; value?: unknown };
      if (typeof x !== 'object' || x === null || typeof x.key !== 'string' || typeof x.value !== 'string') {
        throw invalid(name, `field "${path}[${i}]" must be {"key": string, "value": string}, got ${describe(item)}`);
      }
      out[x.key] = x.value;
    });
    return out;
  }
  if (typeof v === 'object') {
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
      if (typeof val !== 'string') throw invalid(name, `field "${path}.${k}" must be a string, got ${describe(val)}`);
      out[k] = val;
    }
    return out;
  }
  throw invalid(name, `field "${path}" must be a map of labels or a list of {"key","value"}, got ${describe(v)}`);
}

function obj(v: unknown, name: string, path: string): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(name, `field "${path}" must be a JSON object, got ${describe(v)}`);
  return v as Record<string, unknown>;
}

function checkDatastore(locator: string | undefined, name: string, path: string): string | undefined {
  if (locator === undefined) return undefined;
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(locator.trim())?.[1]?.toLowerCase();
  if (scheme !== 'sqlite' && scheme !== 'etcd') {
    throw new CniError(
      CNI_ERROR.UNSUPPORTED_FIELD,
      `Network config "${name}": field "${path}" = "${locator}" is not supported: use "sqlite:PATH" or "etcd:URL[,URL...]"`,
    );
  }
  try {
    parseDatastoreLocator(locator);
  } catch (err) {
    throw invalid(name, `field "${path}": ${(err as Error).message}`);
  }
  return locator.trim();
}

/**
 * Validates the network config a runtime sent. Unknown top-level keys are kept and ignored (the
 * spec has runtimes pass them through); known keys must have the right type.
 */
export function parseNetConf(raw: Record<string, unknown>): NetConf {
  const version = raw.cniVersion;
  const name0 = typeof raw.name === 'string' ? raw.name : '';
  if (version === undefined) throw invalid(name0, 'field "cniVersion" is missing');
  if (typeof version !== 'string') throw invalid(name0, `field "cniVersion" must be a string, got ${describe(version)}`);
  requireSupportedVersion(version);
  const name = raw.name;
  if (name === undefined) throw invalid('', 'field "name" is missing');
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw invalid('', `field "name" must start with a letter or digit and hold only letters, digits, "_", "." and "-", got ${describe(name)}`);
  }
  const type = optString(raw, 'type', name) ?? '';
  const mtuRaw = raw.mtu;
  let mtu: number | undefined;
  if (mtuRaw !== undefined && mtuRaw !== null) {
    if (typeof mtuRaw !== 'number' || !Number.isInteger(mtuRaw) || mtuRaw < 68 || mtuRaw > 65535) {
      throw invalid(name, `field "mtu" must be a whole number from 68 to 65535, got ${describe(mtuRaw)}`);
    }
    mtu = mtuRaw;
  }
  const logLevel = optString(raw, 'log_level', name) ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel.toLowerCase())) {
    throw new CniError(CNI_ERROR.UNSUPPORTED_FIELD, `Network config "${name}": field "log_level" = "${logLevel}" is not supported: use debug, info, warn or error`);
  }

  const ipamRaw = obj(raw.ipam, name, 'ipam') ?? {};
  const ipamType = optString(ipamRaw, 'type', name, 'ipam.type') ?? 'brindle-ipam';
  const routesRaw = ipamRaw.routes;
  let routes: CniRoute[] = [];
  if (routesRaw !== undefined && routesRaw !== null) {
    if (!Array.isArray(routesRaw)) throw invalid(name, `field "ipam.routes" must be a list, got ${describe(routesRaw)}`);
    routes = routesRaw.map((r, i) => {
      const x = r as Record<string, unknown>;
      if (typeof x !== 'object' || x === null || typeof x.dst !== 'string') throw invalid(name, `field "ipam.routes[${i}].dst" must be a string`);
      return { dst: x.dst, ...(typeof x.gw === 'string' ? { gw: x.gw } : {}) };
    });
  }
  const ipam: IpamConf = {
    type: ipamType,
    assignIpv4: optBoolish(ipamRaw, 'assign_ipv4', name, 'ipam.assign_ipv4'),
    assignIpv6: optBoolish(ipamRaw, 'assign_ipv6', name, 'ipam.assign_ipv6'),
    ipv4Pools: stringList(ipamRaw, 'ipv4_pools', name, 'ipam.ipv4_pools'),
    ipv6Pools: stringList(ipamRaw, 'ipv6_pools', name, 'ipam.ipv6_pools'),
    routes,
    datastore: checkDatastore(optString(ipamRaw, 'datastore', name, 'ipam.datastore'), name, 'ipam.datastore'),
  };

  const args = obj(raw.args, name, 'args') ?? {};
  const argsCni = obj(args.cni, name, 'args.cni') ?? {};
  const runtimeConfig = obj(raw.runtimeConfig, name, 'runtimeConfig') ?? {};
  const labels = {
    ...labelsFrom(args.labels, name, 'args.labels'),
    ...labelsFrom(argsCni.labels, name, 'args.cni.labels'),
    ...labelsFrom(runtimeConfig.labels, name, 'runtimeConfig.labels'),
  };
  const ips = [...stringList(runtimeConfig, 'ips', name, 'runtimeConfig.ips'), ...stringList(argsCni, 'ips', name, 'args.cni.ips')].map((s) => {
    const bare = s.includes('/') ? s.slice(0, s.indexOf('/')) : s;
    if (!tryParseIp(bare)) throw invalid(name, `static address "${s}" (runtimeConfig.ips / args.cni.ips) is not an IP address`);
    return bare;
  });
  const mac = optString(runtimeConfig, 'mac', name, 'runtimeConfig.mac');
  if (mac !== undefined && !isUnicastMac(mac)) throw invalid(name, `field "runtimeConfig.mac" = "${mac}" is not a unicast MAC address`);

  let validAttachments: Attachment[] | undefined;
  const attachRaw = raw['cni.dev/valid-attachments'] ?? raw['cni.dev/attachments'];
  if (attachRaw !== undefined) {
    if (!Array.isArray(attachRaw)) throw invalid(name, `field "cni.dev/valid-attachments" must be a list, got ${describe(attachRaw)}`);
    validAttachments = attachRaw.map((a, i) => {
      const x = a as Record<string, unknown>;
      if (typeof x !== 'object' || x === null || typeof x.containerID !== 'string' || typeof x.ifname !== 'string') {
        throw invalid(name, `field "cni.dev/valid-attachments[${i}]" must be {"containerID": string, "ifname": string}`);
      }
      return { containerId: x.containerID, ifname: x.ifname };
    });
  }

  return {
    cniVersion: version,
    name,
    type,
    datastore: checkDatastore(optString(raw, 'datastore', name), name, 'datastore'),
    nodename: optString(raw, 'nodename', name),
    nodenameFile: optString(raw, 'nodename_file', name),
    mtu,
    logFilePath: optString(raw, 'log_file_path', name),
    logLevel: logLevel.toLowerCase() as NetConf['logLevel'],
    ipam,
    labels,
    ips,
    ...(mac !== undefined ? { mac: mac.toLowerCase() } : {}),
    ...(obj(raw.dns, name, 'dns') ? { dns: raw.dns as CniDns } : {}),
    ...(raw.prevResult !== undefined && raw.prevResult !== null ? { prevResult: parseResult(raw.prevResult) } : {}),
    ...(validAttachments ? { validAttachments } : {}),
    raw,
  };
}
