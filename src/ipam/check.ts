// `ipam check`: compares IPAM's allocations with the WorkloadEndpoints and Nodes in one consistent
// snapshot of the store and reports leaks (allocated, no endpoint), endpoints whose address IPAM
// never allocated, addresses claimed by two endpoints, blocks of deleted hosts and empty handles.
// `releaseFromReport` frees exactly the leaks a report lists, each only if it is still leaked.
//
//   datastore.list('/brindle/') ──► IpamSnapshot ──► IpamCheckReport (JSON file) ──► releaseFromReport ──► Ipam.releaseIPs

import { blockOf, InvalidError, ipInCidr, ipToString, tryParseCidr } from '../lib/index.ts';
import type { Cidr } from '../lib/index.ts';
import { decodeResource, kindPrefix } from '../datastore/index.ts';
import { DEFAULT_BLOCK_SIZE } from '../model/index.ts';
import type { IPPool, Node, WorkloadEndpoint } from '../model/index.ts';
import { affinityHost, blockAllocations, decodeBlock, ipOrdinal, allocationAt, handleOrdinals } from './block.ts';
import type { AllocationBlock } from './block.ts';
import type { BlockAffinity, Ipam, IpamHandle } from './ipam.ts';
import { AFFINITIES_PREFIX, BLOCKS_PREFIX, HANDLES_PREFIX, hostOfAffinityKey } from './keys.ts';

export const CHECK_REPORT_KIND = 'IpamCheckReport';

export interface LeakedAllocation {
  ip: string;
  block: string;
  handleId: string | null;
  sequenceNumber: number;
  attrs: Record<string, string>;
  reason: string;
}

export interface EndpointWithoutAllocation {
  ip: string;
  /** `<namespace>/<name>` of the WorkloadEndpoint. */
  endpoint: string;
  node: string;
  reason: 'not allocated' | 'outside every pool and block';
}

export interface SharedAddress {
  ip: string;
  endpoints: string[];
}

export interface DeletedHostBlock {
  cidr: string;
  host: string;
  allocated: number;
}

export interface IpamCheckReport {
  kind: typeof CHECK_REPORT_KIND;
  version: 1;
  generatedAt: string;
  datastore: string;
  /** Store revision of the snapshot the report was computed from. */
  revision: number;
  summary: {
    pools: number;
    blocks: number;
    allocations: number;
    endpoints: number;
    leakedAllocations: number;
    endpointsWithoutAllocation: number;
    sharedAddresses: number;
    blocksOfDeletedHosts: number;
    handlesWithoutAllocations: number;
    allocationsWithUnknownOwner: number;
  };
  leakedAllocations: LeakedAllocation[];
  endpointsWithoutAllocation: EndpointWithoutAllocation[];
  sharedAddresses: SharedAddress[];
  blocksOfDeletedHosts: DeletedHostBlock[];
  handlesWithoutAllocations: string[];
  /** Allocations carrying no owner attributes: brindle cannot judge them, so they are never called leaks. */
  allocationsWithUnknownOwner: Array<{ ip: string; handleId: string | null }>;
}

/** What the GC needs beyond the report: how many addresses each handle holds in total. */
export interface IpamInspection {
  report: IpamCheckReport;
  allocationsPerHandle: Map<string, number>;
}

/** Owner attributes that mark an allocation as a workload's (a CNI ADD's). */
const WORKLOAD_ATTRS = ['namespace', 'pod', 'workload', 'containerID', 'node'];

export async function checkIpam(ipam: Ipam, now: Date = new Date()): Promise<IpamCheckReport> {
  return (await inspectIpam(ipam, now)).report;
}

export async function inspectIpam(ipam: Ipam, now: Date = new Date()): Promise<IpamInspection> {
  // One list of the whole tree: blocks, endpoints and nodes all come from the same revision.
  const { items, revision } = await ipam.datastore.list('/brindle/');
  const wepPrefix = kindPrefix('WorkloadEndpoint');
  const nodePrefix = kindPrefix('Node');
  const poolPrefix = kindPrefix('IPPool');
  const blocks: AllocationBlock[] = [];
  const weps: WorkloadEndpoint[] = [];
  const nodes = new Set<string>();
  const pools: Array<{ name: string; cidr: Cidr; blockSize: number }> = [];
  const affinities: BlockAffinity[] = [];
  const handles: IpamHandle[] = [];
  for (const kv of items) {
    if (kv.key.startsWith(BLOCKS_PREFIX)) blocks.push(decodeBlock(kv.key, kv.value));
    else if (kv.key.startsWith(wepPrefix)) weps.push(decodeResource(kv) as WorkloadEndpoint);
    else if (kv.key.startsWith(nodePrefix)) nodes.add((decodeResource(kv) as Node).metadata.name);
    else if (kv.key.startsWith(poolPrefix)) {
      const p = decodeResource(kv) as IPPool;
      const cidr = tryParseCidr(p.spec.cidr);
      if (cidr) pools.push({ name: p.metadata.name, cidr, blockSize: p.spec.blockSize ?? DEFAULT_BLOCK_SIZE[cidr.family] });
    } else if (kv.key.startsWith(AFFINITIES_PREFIX)) {
      affinities.push({ ...(JSON.parse(kv.value) as BlockAffinity), host: hostOfAffinityKey(kv.key) ?? '' });
    } else if (kv.key.startsWith(HANDLES_PREFIX)) handles.push(JSON.parse(kv.value) as IpamHandle);
  }

  // Addresses endpoints hold, and who holds them.
  const holders = new Map<string, string[]>();
  const wepAddresses: Array<{ ip: string; endpoint: string; node: string }> = [];
  for (const wep of weps) {
    const name = `${wep.metadata.namespace ?? ''}/${wep.metadata.name}`;
    for (const net of wep.spec.ipNetworks ?? []) {
      const c = tryParseCidr(net, true);
      if (!c) continue;
      const ip = ipToString({ family: c.family, value: c.address });
      wepAddresses.push({ ip, endpoint: name, node: wep.spec.node });
      const list = holders.get(ip) ?? [];
      if (!list.includes(name)) list.push(name);
      holders.set(ip, list);
    }
  }

  const leaked: LeakedAllocation[] = [];
  const unknown: Array<{ ip: string; handleId: string | null }> = [];
  const allocationsPerHandle = new Map<string, number>();
  let allocations = 0;
  for (const block of blocks) {
    for (const a of blockAllocations(block)) {
      allocations++;
      if (a.handleId) allocationsPerHandle.set(a.handleId, (allocationsPerHandle.get(a.handleId) ?? 0) + 1);
      if (holders.has(a.ip)) continue;
      const node = a.attrs.node;
      const nodeGone = node !== undefined && !nodes.has(node);
      const base = { ip: a.ip, block: block.cidr, handleId: a.handleId, sequenceNumber: a.sequenceNumber, attrs: a.attrs };
      if (a.attrs.type !== undefined && a.attrs.type !== 'workload') {
        // Tunnel and other host addresses are valid while their node exists.
        if (nodeGone) leaked.push({ ...base, reason: `${a.attrs.type} address of node "${node}", which no longer exists` });
      } else if (WORKLOAD_ATTRS.some((k) => a.attrs[k] !== undefined)) {
        leaked.push({
          ...base,
          reason: nodeGone ? `no WorkloadEndpoint has this address and node "${node}" no longer exists` : 'no WorkloadEndpoint has this address',
        });
      } else unknown.push({ ip: a.ip, handleId: a.handleId });
    }
  }

  const byCidr = new Map(blocks.map((b) => [b.cidr, b]));
  const blockFor = (ip: string): AllocationBlock | undefined => {
    for (const p of pools) {
      if (!ipInCidr(ip, p.cidr)) continue;
      const b = byCidr.get(blockOf(ip, p.blockSize).text);
      if (b) return b;
    }
    return blocks.find((b) => ipInCidr(ip, b.cidr));
  };
  const missing: EndpointWithoutAllocation[] = [];
  for (const w of wepAddresses) {
    const block = blockFor(w.ip);
    if (block && allocationAt(block, ipOrdinal(block, w.ip)!)) continue;
    const inPool = pools.some((p) => ipInCidr(w.ip, p.cidr)) || block !== undefined;
    missing.push({ ...w, reason: inPool ? 'not allocated' : 'outside every pool and block' });
  }

  const shared: SharedAddress[] = [...holders].filter(([, e]) => e.length > 1).map(([ip, endpoints]) => ({ ip, endpoints }));

  const deletedHostBlocks = new Map<string, DeletedHostBlock>();
  for (const b of blocks) {
    const host = affinityHost(b);
    if (host !== undefined && !nodes.has(host)) deletedHostBlocks.set(`${host} ${b.cidr}`, { cidr: b.cidr, host, allocated: blockAllocations(b).length });
  }
  for (const a of affinities) {
    if (nodes.has(a.host) || deletedHostBlocks.has(`${a.host} ${a.cidr}`)) continue;
    const b = byCidr.get(a.cidr);
    if (b && affinityHost(b) !== a.host) continue; // a stale index entry of a block someone else owns
    deletedHostBlocks.set(`${a.host} ${a.cidr}`, { cidr: a.cidr, host: a.host, allocated: b ? blockAllocations(b).length : 0 });
  }

  const emptyHandles = handles
    .filter((h) => !Object.keys(h.blocks ?? {}).some((c) => {
      const b = byCidr.get(c);
      return b !== undefined && handleOrdinals(b, h.handleId).length > 0;
    }))
    .map((h) => h.handleId);

  const report: IpamCheckReport = {
    kind: CHECK_REPORT_KIND,
    version: 1,
    generatedAt: now.toISOString(),
    datastore: ipam.datastore.url,
    revision,
    summary: {
      pools: pools.length,
      blocks: blocks.length,
      allocations,
      endpoints: weps.length,
      leakedAllocations: leaked.length,
      endpointsWithoutAllocation: missing.length,
      sharedAddresses: shared.length,
      blocksOfDeletedHosts: deletedHostBlocks.size,
      handlesWithoutAllocations: emptyHandles.length,
      allocationsWithUnknownOwner: unknown.length,
    },
    leakedAllocations: leaked,
    endpointsWithoutAllocation: missing,
    sharedAddresses: shared,
    blocksOfDeletedHosts: [...deletedHostBlocks.values()],
    handlesWithoutAllocations: emptyHandles,
    allocationsWithUnknownOwner: unknown,
  };
  return { report, allocationsPerHandle };
}

/** Reads a report written by `ipam check -o`; InvalidError naming the source and field otherwise. */
export function parseCheckReport(text: string, source: string): IpamCheckReport {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InvalidError('', `${source}: not valid JSON: ${(err as Error).message}`);
  }
  const r = doc as Partial<IpamCheckReport>;
  if (!r || typeof r !== 'object' || r.kind !== CHECK_REPORT_KIND) {
    throw new InvalidError('', `${source}: not an IPAM check report (expected "kind": "${CHECK_REPORT_KIND}")`);
  }
  if (!Array.isArray(r.leakedAllocations)) throw new InvalidError('', `${source}: leakedAllocations: expected a list`);
  r.leakedAllocations.forEach((l, i) => {
    const at = `${source}: leakedAllocations[${i}]`;
    if (!l || typeof l.ip !== 'string' || tryParseCidr(l.ip, true) === undefined) throw new InvalidError('', `${at}.ip: expected an IP address`);
    if (typeof l.sequenceNumber !== 'number') throw new InvalidError('', `${at}.sequenceNumber: expected a number`);
    if (l.handleId !== null && typeof l.handleId !== 'string') throw new InvalidError('', `${at}.handleId: expected a string or null`);
  });
  return r as IpamCheckReport;
}

export interface ReleaseFromReportResult {
  released: string[];
  skipped: Array<{ ip: string; reason: string }>;
}

/**
 * Releases the report's leaked allocations that are still leaked now: same handle, same sequence
 * number (not re-allocated since) and still no endpoint holding the address. Nothing else is touched.
 */
export async function releaseFromReport(ipam: Ipam, report: IpamCheckReport): Promise<ReleaseFromReportResult> {
  const fresh = await checkIpam(ipam);
  const stillLeaked = new Set(fresh.leakedAllocations.map(leakId));
  const out: ReleaseFromReportResult = { released: [], skipped: [] };
  const todo = [];
  for (const l of report.leakedAllocations) {
    if (stillLeaked.has(leakId(l))) todo.push({ ip: l.ip, handleId: l.handleId, sequenceNumber: l.sequenceNumber });
    else out.skipped.push({ ip: l.ip, reason: 'no longer leaked (released, re-allocated or now used by an endpoint)' });
  }
  if (todo.length > 0) {
    const r = await ipam.releaseIPs(todo);
    out.released.push(...r.released);
    out.skipped.push(...r.notReleased);
  }
  return out;
}

/** Identity of one leak: the same address, handle and allocation (sequence number). */
export function leakId(l: Pick<LeakedAllocation, 'ip' | 'handleId' | 'sequenceNumber'>): string {
  return `${l.ip}|${l.handleId ?? ''}|${l.sequenceNumber}`;
}
