// The two CNI plugins' commands. brindle-cni: ADD allocates (in-process brindle IPAM), wires the
// veth and routes and writes the WorkloadEndpoint, as one transaction; DEL undoes it idempotently;
// CHECK compares prevResult with kernel and store; GC frees attachments the runtime no longer has;
// STATUS says whether ADD can be served. brindle-ipam does the same for addresses only, for other
// main plugins (bridge, ptp) to delegate to.
//
//   stdin + CNI_* env ──runPlugin──► parse ──► handler ──► Ipam / ResourceStore (datastore) + workload-plumbing (ip, nsenter)
//                                                     └──► {stdout: result JSON | error JSON, exitCode}
//
// Awkward cases: a second ADD for a handle that still holds addresses (a crashed earlier ADD never
// DELed) frees them first; DEL of a pod whose endpoint now belongs to a newer sandbox releases only
// this sandbox's addresses and leaves the interface and endpoint alone; DEL with the namespace or
// the link already gone is success; ADD killed part-way is undone by DEL or by IPAM GC.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import {
  ExistsError,
  HOST_SIDE_MAC,
  isWorkloadInterfaceName,
  NotFoundError,
  tryParseCidr,
  WORKLOAD_GATEWAY_IPV4,
  WORKLOAD_GATEWAY_IPV6,
} from '../lib/index.ts';
import { openDatastore, resolveDatastoreLocator, ResourceStore } from '../datastore/index.ts';
import type { Datastore } from '../datastore/index.ts';
import { Ipam } from '../ipam/index.ts';
import type { IPPool, Namespace, Pod, WorkloadEndpoint } from '../model/index.ts';
import { netnsState, ProcessRunner } from '../os/index.ts';
import type { CommandRunner } from '../os/index.ts';
import { CNI_ERROR, CniError, errorJson, toCniError } from './cni-errors.ts';
import { createCniLogger } from './cni-logger.ts';
import type { CniLogger } from './cni-logger.ts';
import { decodeConfig, parseCommand, parseEnvironment, parseNetConf } from './cni-request.ts';
import type { CniCommand, CniEnvironment, NetConf } from './cni-request.ts';
import { compareVersions, formatResult, LATEST_VERSION, SUPPORTED_VERSIONS } from './cni-result.ts';
import type { CniResult } from './cni-result.ts';
import {
  allocationAttrs,
  buildWorkloadEndpoint,
  handleIdFor,
  hostInterfaceFor,
  identify,
  workloadEndpointName,
} from './workload-endpoint.ts';
import type { WorkloadIdentity } from './workload-endpoint.ts';
import {
  checkWorkloadKernel,
  configureContainerSide,
  configureHostSide,
  createVeth,
  deleteHostInterface,
  randomContainerMac,
} from './workload-plumbing.ts';

export type PluginKind = 'cni' | 'ipam';

/** Points inside ADD where BRINDLE_CNI_CRASH_AT kills the plugin (fault-injection tests only). */
/** after-endpoint: the endpoint is written while the kernel's second step may still run; after-container: all done, no result printed. */
export const CRASH_POINTS = ['after-ipam', 'after-veth', 'after-endpoint', 'after-container'] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export interface PluginDeps {
  env: NodeJS.ProcessEnv;
  runner?: CommandRunner;
  hostname?: () => string;
  openDatastore?: (locator: string) => Promise<Datastore>;
  random?: (n: number) => Buffer;
  /** Called at each crash point; the default kills the process when BRINDLE_CNI_CRASH_AT names it. */
  crash?: (point: CrashPoint) => void;
  stderr?: { write(text: string): unknown };
}

export interface PluginOutput {
  stdout: string;
  exitCode: number;
}

interface Ctx {
  kind: PluginKind;
  env: CniEnvironment;
  conf: NetConf;
  runner: CommandRunner;
  log: CniLogger;
  node: string;
  deps: PluginDeps;
  random: (n: number) => Buffer;
  crash: (point: CrashPoint) => void;
  /** Milliseconds since the command started, by step name (logged with the final record). */
  mark: (step: string) => void;
}

function defaultCrash(env: NodeJS.ProcessEnv): (point: CrashPoint) => void {
  const at = env.BRINDLE_CNI_CRASH_AT;
  if (!at) return () => undefined;
  return (point) => {
    if (point === at) process.kill(process.pid, 'SIGKILL');
  };
}

/** The cniVersion to put in an error: the request's when it is a version string at all. */
function errorVersion(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    if (typeof v === 'string' && /^\d+\.\d+\.\d+$/.test(v)) return v;
  } catch {
    // not JSON: the error itself says so
  }
  return LATEST_VERSION;
}

/** Runs one plugin invocation; never throws. */
export async function runPlugin(kind: PluginKind, stdin: string, deps: PluginDeps): Promise<PluginOutput> {
  let log: CniLogger | undefined;
  let command: CniCommand | undefined;
  try {
    command = parseCommand(deps.env);
    if (command === 'VERSION') return { stdout: JSON.stringify(versionResult(stdin)) + '\n', exitCode: 0 };
    const conf = parseNetConf(decodeConfig(stdin));
    const env = parseEnvironment(deps.env);
    log = createCniLogger({ file: conf.logFilePath, level: conf.logLevel, component: kind, stderr: deps.stderr });
    const node = nodeName(conf, deps);
    log.with({ node, cniCommand: command, containerID: env.containerId || undefined, netns: env.netns || undefined, ifname: env.ifname || undefined });
    const t0 = performance.now();
    const steps: Record<string, number> = {};
    const ctx: Ctx = {
      mark: (step) => {
        steps[step] = Math.round((performance.now() - t0) * 10) / 10;
      },
      kind,
      env,
      conf,
      runner: deps.runner ?? new ProcessRunner(),
      log,
      node,
      deps,
      random: deps.random ?? randomBytes,
      crash: deps.crash ?? defaultCrash(deps.env),
    };
    const result = await dispatch(ctx);
    log.info(`${command} done`, { ms: Math.round((performance.now() - t0) * 10) / 10, steps, sinceProcessStart: Math.round(performance.now()) });
    if (result === undefined) return { stdout: '', exitCode: 0 };
    return { stdout: JSON.stringify(formatResult(result, conf.cniVersion)) + '\n', exitCode: 0 };
  } catch (thrown) {
    const err = toCniError(thrown);
    const version = errorVersion(stdin);
    if (log) log.error(`${command ?? 'command'} failed: ${err.message}`, { code: err.cniCode });
    else (deps.stderr ?? process.stderr).write(`brindle-${kind}: error: ${err.message}\n`);
    return { stdout: JSON.stringify(errorJson(err, version)) + '\n', exitCode: 1 };
  }
}

function versionResult(stdin: string): { cniVersion: string; supportedVersions: string[] } {
  let requested = LATEST_VERSION;
  if (stdin.trim() !== '') {
    try {
      const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
      if (typeof v === 'string' && v !== '') requested = v;
    } catch {
      // VERSION must answer even for a broken config (podman sends an empty one)
    }
  }
  return { cniVersion: requested, supportedVersions: [...SUPPORTED_VERSIONS] };
}

function nodeName(conf: NetConf, deps: PluginDeps): string {
  if (conf.nodename) return conf.nodename;
  if (conf.nodenameFile) {
    try {
      const fromFile = readFileSync(conf.nodenameFile, 'utf8').trim();
      if (fromFile) return fromFile;
    } catch (err) {
      throw new CniError(CNI_ERROR.INVALID_NETWORK_CONFIG, `Network config "${conf.name}": cannot read nodename_file "${conf.nodenameFile}": ${(err as Error).message}`);
    }
  }
  return (deps.hostname ?? hostname)();
}

async function dispatch(c: Ctx): Promise<CniResult | undefined> {
  const v = c.conf.cniVersion;
  if (c.kind === 'cni' && c.conf.ipam.type !== 'brindle-ipam') {
    // Delegating to other IPAM plugins (host-local, dhcp) is not built: say so instead of ignoring it.
    throw new CniError(CNI_ERROR.UNSUPPORTED_FIELD, `Network config "${c.conf.name}": field "ipam.type" = "${c.conf.ipam.type}" is not supported: brindle-cni allocates with "brindle-ipam"`);
  }
  switch (c.env.command) {
    case 'ADD':
      return c.kind === 'cni' ? cmdAdd(c) : cmdIpamAdd(c);
    case 'DEL':
      await (c.kind === 'cni' ? cmdDel(c) : cmdIpamDel(c));
      return undefined;
    case 'CHECK':
      if (compareVersions(v, '0.4.0') < 0) {
        throw new CniError(CNI_ERROR.INCOMPATIBLE_VERSION, `CHECK needs cniVersion 0.4.0 or later; the config says "${v}"`);
      }
      await cmdCheck(c);
      return undefined;
    case 'GC':
      if (compareVersions(v, '1.1.0') < 0) throw new CniError(CNI_ERROR.INCOMPATIBLE_VERSION, `GC needs cniVersion 1.1.0; the config says "${v}"`);
      await cmdGc(c);
      return undefined;
    case 'STATUS':
      if (compareVersions(v, '1.1.0') < 0) throw new CniError(CNI_ERROR.INCOMPATIBLE_VERSION, `STATUS needs cniVersion 1.1.0; the config says "${v}"`);
      await cmdStatus(c);
      return undefined;
    default:
      throw new CniError(CNI_ERROR.INVALID_ENVIRONMENT, `CNI_COMMAND "${c.env.command}" is not handled here`);
  }
}

// ---------- shared pieces ----------

async function withStore<T>(c: Ctx, fn: (ds: Datastore) => Promise<T>): Promise<T> {
  const locator = resolveDatastoreLocator(c.kind === 'ipam' ? (c.conf.ipam.datastore ?? c.conf.datastore) : (c.conf.datastore ?? c.conf.ipam.datastore), c.deps.env);
  let ds: Datastore;
  try {
    ds = await (c.deps.openDatastore ?? openDatastore)(locator);
  } catch (err) {
    throw new CniError(CNI_ERROR.TRY_AGAIN_LATER, `Cannot open datastore "${locator}": ${(err as Error).message}`, undefined, { cause: err });
  }
  try {
    return await fn(ds);
  } finally {
    await ds.close().catch(() => undefined);
  }
}

async function requireNetns(c: Ctx): Promise<void> {
  const state = await netnsState(c.env.netns);
  if (state === 'missing') {
    throw new CniError(CNI_ERROR.UNKNOWN_CONTAINER, `Network namespace "${c.env.netns}" (CNI_NETNS) does not exist: the container is gone or the path is wrong`);
  }
  if (state === 'not-a-namespace') {
    throw new CniError(CNI_ERROR.INVALID_ENVIRONMENT, `CNI_NETNS "${c.env.netns}" is not a network namespace file`);
  }
  if (/\s/.test(c.env.netns)) throw new CniError(CNI_ERROR.INVALID_ENVIRONMENT, `CNI_NETNS "${c.env.netns}" contains white space`);
}

function identityOf(c: Ctx): WorkloadIdentity {
  return identify(c.conf.name, c.node, c.env.containerId, c.env.ifname, c.env.args);
}

interface Families {
  v4: number;
  v6: number;
}

function staticIps(c: Ctx): string[] {
  return [...new Set([...c.env.args.ips, ...c.conf.ips])];
}

/** How many addresses of each family to ask for: the config decides, else the pools that exist. */
function decideFamilies(c: Ctx, pools: IPPool[]): Families {
  const enabled = (fam: 4 | 6) => pools.some((p) => !p.spec.disabled && (p.spec.cidr.includes(':') ? 6 : 4) === fam);
  const v4 = c.conf.ipam.assignIpv4 ?? (c.conf.ipam.ipv4Pools.length > 0 || enabled(4));
  const v6 = c.conf.ipam.assignIpv6 ?? (c.conf.ipam.ipv6Pools.length > 0 || enabled(6));
  if (!v4 && !v6) {
    const why = pools.length === 0 ? 'there is no IP pool' : 'every IP pool is disabled or excluded by ipam.assign_ipv4/assign_ipv6';
    throw new CniError(CNI_ERROR.IPAM_EXHAUSTED, `Cannot allocate an address for container "${c.env.containerId}": ${why} (create one, e.g. \`brindlectl apply -f pool.yaml\` with an IPPool)`);
  }
  return { v4: v4 ? 1 : 0, v6: v6 ? 1 : 0 };
}

interface Allocated {
  ipv4: string[];
  ipv6: string[];
}

async function allocate(c: Ctx, ipam: Ipam, handleId: string, attrs: Record<string, string>, pools: IPPool[], nsLabels: Record<string, string> | undefined): Promise<Allocated> {
  const wanted = staticIps(c);
  if (wanted.length > 0) {
    const out: Allocated = { ipv4: [], ipv6: [] };
    try {
      for (const ip of wanted) {
        const a = await ipam.assignIP({ ip, handleId, attrs, host: c.node });
        (a.family === 4 ? out.ipv4 : out.ipv6).push(a.ip);
      }
    } catch (err) {
      await ipam.releaseByHandle(handleId).catch(() => undefined);
      throw err;
    }
    return out;
  }
  const fam = decideFamilies(c, pools);
  const r = await ipam.autoAssign({
    handleId,
    num4: fam.v4,
    num6: fam.v6,
    attrs,
    host: c.node,
    pools: [...c.conf.ipam.ipv4Pools, ...c.conf.ipam.ipv6Pools],
    ...(nsLabels ? { namespaceLabels: nsLabels } : {}),
  });
  return { ipv4: r.ipv4.map((a) => a.ip), ipv6: r.ipv6.map((a) => a.ip) };
}

// ---------- brindle-cni ----------

async function cmdAdd(c: Ctx): Promise<CniResult> {
  await requireNetns(c);
  const id = identityOf(c);
  const hostIf = hostInterfaceFor(id);
  const handleId = handleIdFor(c.conf.name, id.containerId, id.endpoint);
  c.log.with({ namespace: id.namespace, pod: id.pod, workload: id.workload });
  return withStore(c, async (ds) => {
    c.mark('store-open');
    const ipam = new Ipam(ds, { host: c.node });
    const store = new ResourceStore(ds);
    const [pools, pod, ns, oldHandle] = await Promise.all([
      store.list<IPPool>('IPPool').then((l) => l.items),
      id.pod ? store.get<Pod>({ kind: 'Pod', namespace: id.namespace, name: id.pod }) : Promise.resolve(undefined),
      id.orchestrator === 'k8s' ? store.get<Namespace>({ kind: 'Namespace', name: id.namespace }) : Promise.resolve(undefined),
      ipam.getHandle(handleId),
    ]);
    if (oldHandle) {
      c.log.warn(`IPAM handle "${handleId}" still holds addresses from an earlier ADD that was never deleted; releasing them first`);
      await ipam.releaseByHandle(handleId);
    }
    const wantV6 = staticIps(c).some((ip) => ip.includes(':')) || (staticIps(c).length === 0 && decideFamilies(c, pools).v6 > 0);
    const containerMac = c.conf.mac ?? c.env.args.mac ?? randomContainerMac(c.random);
    const vethSpec = { hostInterface: hostIf, ifname: c.env.ifname, netns: c.env.netns, containerMac, mtu: c.conf.mtu, ipv6: wantV6 };
    const attrs = allocationAttrs(id, hostIf);

    // The veth is made by a child process while this one allocates: the two overlap.
    let vethMayExist = false;
    let allocated = false;
    let endpointWritten = false;
    const rollback = async (why: unknown) => {
      c.log.warn(`ADD failed, undoing: ${toCniError(why).message}`);
      if (endpointWritten) {
        await store.delete({ kind: 'WorkloadEndpoint', namespace: id.namespace, name: workloadEndpointName(id) }).catch(() => undefined);
      }
      if (vethMayExist) await deleteHostInterface(c.runner, hostIf).catch((e) => c.log.error(`cannot remove "${hostIf}" while undoing ADD: ${(e as Error).message}`));
      if (allocated) await ipam.releaseByHandle(handleId).catch((e) => c.log.error(`cannot release handle "${handleId}" while undoing ADD: ${(e as Error).message}`));
    };

    vethMayExist = true;
    const vethP = createVeth(c.runner, vethSpec).then((stale) => {
      c.mark('veth');
      if (stale) c.log.warn(`removed a stale host interface "${hostIf}" left by an earlier sandbox`);
    });
    const ipamP = allocate(c, ipam, handleId, attrs, pools, ns?.metadata.labels).then((a) => {
      allocated = true;
      c.mark('ipam');
      c.crash('after-ipam');
      return a;
    });
    const [vethR, ipamR] = await Promise.allSettled([vethP, ipamP]);
    // INTERFACE_EXISTS: the container's interface is someone else's and ours was never made.
    if (vethR.status === 'rejected' && vethR.reason instanceof CniError && vethR.reason.cniCode === CNI_ERROR.INTERFACE_EXISTS) vethMayExist = false;
    if (vethR.status === 'rejected' || ipamR.status === 'rejected') {
      const err = vethR.status === 'rejected' ? vethR.reason : (ipamR as PromiseRejectedResult).reason;
      await rollback(err);
      throw err;
    }
    const ips = ipamR.value;
    c.crash('after-veth');
    try {
      const spec = { hostInterface: hostIf, ifname: c.env.ifname, netns: c.env.netns, ipv4: ips.ipv4, ipv6: ips.ipv6 };
      const ipNetworks = [...ips.ipv4.map((ip) => `${ip}/32`), ...ips.ipv6.map((ip) => `${ip}/128`)];
      const wep = buildWorkloadEndpoint({ id, hostInterface: hostIf, containerMac, ipNetworks, pod, labels: c.conf.labels });
      // The endpoint is written while the two ip processes run; a kernel failure deletes it again.
      const kernel = Promise.all([
        configureHostSide(c.runner, spec).then(() => c.mark('host-side')),
        configureContainerSide(c.runner, spec).then(() => c.mark('container-side')),
      ]);
      kernel.catch(() => undefined);
      endpointWritten = true;
      await store.create(wep).catch((err) => {
        // An endpoint of an earlier sandbox of this pod: this ADD replaces it.
        if (err instanceof ExistsError) return store.apply(wep);
        throw err;
      });
      c.mark('endpoint');
      c.crash('after-endpoint');
      await kernel;
      c.crash('after-container');
      c.log.info('workload attached', { hostInterface: hostIf, ips: ipNetworks, endpoint: wep.metadata.name, podFound: pod !== undefined });
      return {
        cniVersion: c.conf.cniVersion,
        interfaces: [
          { name: hostIf, mac: HOST_SIDE_MAC },
          { name: c.env.ifname, mac: containerMac, sandbox: c.env.netns, ...(c.conf.mtu ? { mtu: c.conf.mtu } : {}) },
        ],
        ips: [
          ...ips.ipv4.map((ip) => ({ address: `${ip}/32`, gateway: WORKLOAD_GATEWAY_IPV4, interface: 1 })),
          ...ips.ipv6.map((ip) => ({ address: `${ip}/128`, gateway: WORKLOAD_GATEWAY_IPV6, interface: 1 })),
        ],
        routes: [
          ...(ips.ipv4.length > 0 ? [{ dst: '0.0.0.0/0', gw: WORKLOAD_GATEWAY_IPV4 }] : []),
          ...(ips.ipv6.length > 0 ? [{ dst: '::/0', gw: WORKLOAD_GATEWAY_IPV6 }] : []),
        ],
        ...(c.conf.dns ? { dns: c.conf.dns } : {}),
      };
    } catch (err) {
      await rollback(err);
      throw err;
    }
  });
}

/** The host-side interface a prevResult names (the one without a sandbox), when it is one of ours. */
function prevHostInterface(c: Ctx): string | undefined {
  const name = c.conf.prevResult?.interfaces?.find((i) => i.sandbox === undefined)?.name;
  return name && isWorkloadInterfaceName(name) ? name : undefined;
}

async function cmdDel(c: Ctx): Promise<void> {
  const id = identityOf(c);
  const hostIf = prevHostInterface(c) ?? hostInterfaceFor(id);
  const handleId = handleIdFor(c.conf.name, id.containerId, id.endpoint);
  const wepRef = { kind: 'WorkloadEndpoint' as const, namespace: id.namespace, name: workloadEndpointName(id) };
  await withStore(c, async (ds) => {
    const ipam = new Ipam(ds, { host: c.node });
    const store = new ResourceStore(ds);
    const wep = await store.get<WorkloadEndpoint>(wepRef);
    // A newer sandbox of the same pod owns the endpoint and the interface name: leave both to it.
    const ours = !wep || wep.spec.containerID === id.containerId;
    // The ip process runs while this one releases the addresses and deletes the endpoint.
    const [linkGone, released] = await Promise.all([
      ours ? deleteHostInterface(c.runner, wep?.spec.interfaceName ?? hostIf).then((deleted) => !deleted) : Promise.resolve(true),
      ipam.releaseByHandle(handleId).then(async (ips) => {
        if (wep && ours) {
          await store.delete(wepRef).catch((err) => {
            if (!(err instanceof NotFoundError)) throw err;
          });
        }
        return ips;
      }),
    ]);
    c.log.info('workload detached', {
      released,
      hostInterfaceDeleted: ours && !linkGone,
      endpointDeleted: wep !== undefined && ours,
      ...(ours ? {} : { keptFor: wep?.spec.containerID }),
    });
  });
}

function prevAddresses(c: Ctx): { ipv4: string[]; ipv6: string[] } {
  const out = { ipv4: [] as string[], ipv6: [] as string[] };
  for (const ip of c.conf.prevResult?.ips ?? []) {
    const cidr = tryParseCidr(ip.address);
    if (!cidr) continue;
    const addr = ip.address.slice(0, ip.address.indexOf('/'));
    (cidr.family === 4 ? out.ipv4 : out.ipv6).push(addr);
  }
  return out;
}

async function cmdCheck(c: Ctx): Promise<void> {
  if (!c.conf.prevResult) throw new CniError(CNI_ERROR.INVALID_NETWORK_CONFIG, `Network config "${c.conf.name}": CHECK needs "prevResult" (the result of ADD)`);
  await requireNetns(c);
  const id = identityOf(c);
  const handleId = handleIdFor(c.conf.name, id.containerId, id.endpoint);
  const ips = prevAddresses(c);
  const problems: string[] = [];
  if (c.kind === 'cni') {
    const hostIf = prevHostInterface(c) ?? hostInterfaceFor(id);
    const containerMac = c.conf.prevResult.interfaces?.find((i) => i.name === c.env.ifname && i.sandbox !== undefined)?.mac;
    problems.push(...(await checkWorkloadKernel(c.runner, { hostInterface: hostIf, ifname: c.env.ifname, netns: c.env.netns, ...ips, containerMac })));
  }
  await withStore(c, async (ds) => {
    const ipam = new Ipam(ds, { host: c.node });
    const held = new Set((await ipam.handleAddresses(handleId)).map((a) => a.ip));
    for (const ip of [...ips.ipv4, ...ips.ipv6]) if (!held.has(ip)) problems.push(`IPAM handle "${handleId}" does not hold ${ip}`);
    if (c.kind === 'cni') {
      const wep = await new ResourceStore(ds).get<WorkloadEndpoint>({ kind: 'WorkloadEndpoint', namespace: id.namespace, name: workloadEndpointName(id) });
      if (!wep) problems.push(`WorkloadEndpoint "${id.namespace}/${workloadEndpointName(id)}" does not exist`);
      else {
        if (wep.spec.containerID !== id.containerId) problems.push(`WorkloadEndpoint "${wep.metadata.name}" belongs to container "${wep.spec.containerID}"`);
        const nets = new Set(wep.spec.ipNetworks ?? []);
        for (const ip of ips.ipv4) if (!nets.has(`${ip}/32`)) problems.push(`WorkloadEndpoint "${wep.metadata.name}" lacks ${ip}/32`);
        for (const ip of ips.ipv6) if (!nets.has(`${ip}/128`)) problems.push(`WorkloadEndpoint "${wep.metadata.name}" lacks ${ip}/128`);
      }
    }
  });
  if (problems.length > 0) {
    throw new CniError(CNI_ERROR.CHECK_FAILED, `CHECK of container "${id.containerId}" interface "${c.env.ifname}" failed: ${problems.join('; ')}`);
  }
}

async function cmdGc(c: Ctx): Promise<void> {
  const valid = c.conf.validAttachments;
  if (valid === undefined) {
    throw new CniError(CNI_ERROR.INVALID_NETWORK_CONFIG, `Network config "${c.conf.name}": GC needs "cni.dev/valid-attachments" (the attachments still in use)`);
  }
  const keep = new Set(valid.map((a) => handleIdFor(c.conf.name, a.containerId, a.ifname)));
  const errors: string[] = [];
  let collected = 0;
  await withStore(c, async (ds) => {
    const ipam = new Ipam(ds, { host: c.node });
    const store = new ResourceStore(ds);
    for (const h of await ipam.listHandles()) {
      const a = h.attrs ?? {};
      // Only this network's attachments on this host: the runtime knows nothing of other hosts.
      if (a.network !== c.conf.name || a.node !== c.node || keep.has(h.handleId)) continue;
      try {
        await ipam.releaseByHandle(h.handleId);
        collected++;
        if (c.kind === 'cni' && a.containerID && a.ifname) {
          const id: WorkloadIdentity = a.pod
            ? { orchestrator: 'k8s', namespace: a.namespace ?? 'default', workload: a.pod, pod: a.pod, node: c.node, containerId: a.containerID, endpoint: a.ifname, network: c.conf.name }
            : { orchestrator: 'cni', namespace: a.namespace ?? 'default', workload: a.workload ?? a.containerID, node: c.node, containerId: a.containerID, endpoint: a.ifname, network: c.conf.name };
          const ref = { kind: 'WorkloadEndpoint' as const, namespace: id.namespace, name: workloadEndpointName(id) };
          const wep = await store.get<WorkloadEndpoint>(ref);
          if (wep && wep.spec.containerID === a.containerID) {
            if (wep.spec.interfaceName) await deleteHostInterface(c.runner, wep.spec.interfaceName);
            await store.delete(ref).catch((err) => {
              if (!(err instanceof NotFoundError)) throw err;
            });
          }
        }
      } catch (err) {
        errors.push(`handle "${h.handleId}": ${(err as Error).message}`);
      }
    }
  });
  c.log.info('GC done', { collected, errors: errors.length });
  if (errors.length > 0) throw new CniError(CNI_ERROR.DATASTORE_FAILURE, `GC could not clean up ${errors.length} attachment(s): ${errors.join('; ')}`);
}

async function cmdStatus(c: Ctx): Promise<void> {
  let pools: IPPool[];
  try {
    pools = await withStore(c, async (ds) => (await new ResourceStore(ds).list<IPPool>('IPPool')).items);
  } catch (err) {
    throw new CniError(CNI_ERROR.PLUGIN_NOT_AVAILABLE, `Cannot serve ADD: datastore unavailable: ${toCniError(err).message}`);
  }
  if (!pools.some((p) => !p.spec.disabled)) {
    throw new CniError(CNI_ERROR.PLUGIN_NOT_AVAILABLE, `Cannot serve ADD: ${pools.length === 0 ? 'there is no IP pool' : 'every IP pool is disabled'}`);
  }
}

// ---------- brindle-ipam ----------

async function cmdIpamAdd(c: Ctx): Promise<CniResult> {
  const id = identityOf(c);
  const handleId = handleIdFor(c.conf.name, id.containerId, id.endpoint);
  return withStore(c, async (ds) => {
    const ipam = new Ipam(ds, { host: c.node });
    const store = new ResourceStore(ds);
    const [pools, ns, oldHandle] = await Promise.all([
      store.list<IPPool>('IPPool').then((l) => l.items),
      id.orchestrator === 'k8s' ? store.get<Namespace>({ kind: 'Namespace', name: id.namespace }) : Promise.resolve(undefined),
      ipam.getHandle(handleId),
    ]);
    if (oldHandle) await ipam.releaseByHandle(handleId);
    const attrs = allocationAttrs(id, '');
    delete attrs.hostInterface;
    const ips = await allocate(c, ipam, handleId, attrs, pools, ns?.metadata.labels);
    c.crash('after-ipam');
    c.log.info('addresses allocated', { handleId, ...ips });
    return {
      cniVersion: c.conf.cniVersion,
      ips: [...ips.ipv4.map((ip) => ({ address: `${ip}/32` })), ...ips.ipv6.map((ip) => ({ address: `${ip}/128` }))],
      routes: c.conf.ipam.routes,
      ...(c.conf.dns ? { dns: c.conf.dns } : {}),
    };
  });
}

async function cmdIpamDel(c: Ctx): Promise<void> {
  const handleId = handleIdFor(c.conf.name, c.env.containerId, c.env.ifname);
  await withStore(c, async (ds) => {
    const released = await new Ipam(ds, { host: c.node }).releaseByHandle(handleId);
    c.log.info('addresses released', { handleId, released });
  });
}
