// Block IPAM over the Datastore interface: the CNI plugin, brindlectl and the GC allocate and free
// workload addresses here. Blocks are the unit of compare-and-swap, so any number of hosts and
// processes can allocate at once without handing out one address twice.
//
//   autoAssign ──► pools (nodeSelector, disabled, reservations) ──► host's affine blocks
//              ──► claim a free block (pending affinity → create block → confirmed) ──► borrow (unless strictAffinity)
//   every write: read modRevision → change → update(expectedModRevision) → on ConflictError read again
//
// Awkward cases handled: two processes of one host claiming at once converge on the same block (the
// candidate order is deterministic per host); two hosts racing for a block — the block's create is
// the decision, the loser drops its pending affinity; a process that died between writing a pending
// affinity and the block (the next allocation on that host finishes or undoes the claim); the handle
// is counted up before the block write, so a crash leaves at worst an over-counted handle, never an
// address nobody can find by handle; dual-stack requests are all-or-nothing.

import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BrindleError,
  blockCount,
  blockOf,
  cidrContains,
  cidrSize,
  ConflictError,
  DatastoreError,
  ExistsError,
  InvalidError,
  ipInCidr,
  ipToString,
  NotFoundError,
  nthBlock,
  parseCidr,
  parseCidrOrIp,
  tryParseIp,
} from '../lib/index.ts';
import type { Cidr, IpFamily } from '../lib/index.ts';
import { ResourceStore } from '../datastore/index.ts';
import type { Datastore, KeyValue } from '../datastore/index.ts';
import { DEFAULT_BLOCK_SIZE, parseSelector } from '../model/index.ts';
import type { AllowedUse, IPPool, IPReservation, Node } from '../model/index.ts';
import {
  affinityHost,
  allocateOrdinals,
  allocatedCount,
  allocationAt,
  decodeBlock,
  encodeBlock,
  handleOrdinals,
  hostAffinity,
  ipOrdinal,
  newBlock,
  ordinalIp,
  pickFreeOrdinals,
  releaseOrdinals,
  reservedRanges,
} from './block.ts';
import type { AllocationBlock, BlockAllocation } from './block.ts';
import {
  AFFINITIES_PREFIX,
  affinityKey,
  BLOCKS_PREFIX,
  blockKey,
  handleKey,
  HANDLES_PREFIX,
  hostAffinityPrefix,
  hostOfAffinityKey,
  IPAM_CONFIG_KEY,
} from './keys.ts';

// ---------- stored shapes ----------

export interface IpamConfig {
  /** Never borrow from another host's block; a host only uses blocks affine to it. */
  strictAffinity: boolean;
  /** Most blocks one host may claim per IP family; 0 = no limit. */
  maxBlocksPerHost: number;
  /** Claim new blocks when the host's blocks are full; false leaves only borrowing. */
  autoAllocateBlocks: boolean;
}

export const DEFAULT_IPAM_CONFIG: Readonly<IpamConfig> = Object.freeze({
  strictAffinity: false,
  maxBlocksPerHost: 0,
  autoAllocateBlocks: true,
});

/** Index entry: host → block. `pending` while a claim is in flight; ignored for routing. */
export interface BlockAffinity {
  host: string;
  cidr: string;
  state: 'pending' | 'confirmed';
  /** When a pending claim began; another host may try the block once this is STALE_CLAIM_MS old. */
  claimTime?: string;
}

/**
 * A pending claim older than this (its process most likely died between the affinity and the
 * block write) no longer keeps other hosts from trying the block. Trying is always safe: the
 * block's create decides. Calico lets an empty block of another host be claimed after a minute.
 */
export const STALE_CLAIM_MS = 60_000;

/** One workload attachment's allocations: block CIDR → how many addresses it holds there. */
export interface IpamHandle {
  handleId: string;
  attrs?: Record<string, string>;
  blocks: Record<string, number>;
}

// ---------- API shapes ----------

export interface IpamOptions {
  /** Host that allocations are made for (its affine blocks, its Node labels for nodeSelector). */
  host?: string;
  /** Clock for claim times; tests inject one. */
  now?: () => Date;
  /** Compare-and-swap attempts on one key before giving up (Calico uses 100). */
  maxRetries?: number;
}

export interface AutoAssignRequest {
  handleId: string;
  num4?: number;
  num6?: number;
  /** Owner attributes recorded with the allocation, e.g. { node, namespace, pod }. */
  attrs?: Record<string, string>;
  /** Pools to use, by name or CIDR; a family with no pool listed here falls back to automatic choice. */
  pools?: string[];
  /** Overrides IpamOptions.host for this request. */
  host?: string;
  /** What the address is for; pools whose allowedUses lack it are skipped (default Workload). */
  use?: AllowedUse;
  /** Labels of the workload's namespace, matched against a pool's namespaceSelector. */
  namespaceLabels?: Record<string, string>;
}

export interface AssignedAddress {
  ip: string;
  family: IpFamily;
  /** The block the address came from, e.g. `10.0.0.0/26`. */
  block: string;
  /** The address with the block's prefix, e.g. `10.0.0.5/26` (Calico's AutoAssign result form). */
  cidr: string;
  pool: string;
  handleId: string;
  sequenceNumber: number;
  /** True when the block is not affine to this host (the address needs its own /32 or /128 route). */
  borrowed: boolean;
}

export interface AutoAssignResult {
  ipv4: AssignedAddress[];
  ipv6: AssignedAddress[];
}

export interface AssignIpRequest {
  ip: string;
  handleId: string;
  attrs?: Record<string, string>;
  host?: string;
}

/** Release of one address; handleId and sequenceNumber, when given, must still match (else it is skipped). */
export interface ReleaseRequest {
  ip: string;
  handleId?: string | null;
  sequenceNumber?: number;
}

export interface ReleaseResult {
  released: string[];
  notReleased: Array<{ ip: string; reason: string }>;
}

export interface BlockInfo {
  cidr: string;
  host: string | null;
  pool: string | null;
  size: number;
  allocated: number;
  reserved: number;
  free: number;
  allocations: BlockAllocation[];
}

export interface PoolUsage {
  name: string;
  cidr: string;
  blockSize: number;
  disabled: boolean;
  blocks: number;
  total: bigint;
  inUse: bigint;
  reserved: bigint;
  free: bigint;
}

export interface IpamUsage {
  pools: PoolUsage[];
  blocks: BlockInfo[];
  config: IpamConfig;
}

export interface IpInfo {
  ip: string;
  pool: string | null;
  block: string | null;
  blockHost: string | null;
  reservedBy: string | null;
  allocation: BlockAllocation | null;
}

/** What one Ipam instance has done, for metrics and benchmarks. */
export interface IpamCounters {
  /** Compare-and-swap writes that lost to a concurrent writer and were retried. */
  conflicts: number;
  /** Blocks this instance claimed for its host. */
  blocksClaimed: number;
  /** Addresses handed out from blocks of other hosts. */
  borrowed: number;
}

/** A pool (or every pool asked for) has no address left for this request. */
export class IpamExhaustedError extends BrindleError {
  readonly pools: string[];
  constructor(message: string, pools: string[]) {
    // The error family has no "exhausted" code; E_CONFLICT (the store's state forbids it) is the closest.
    super('E_CONFLICT', message);
    this.pools = pools;
    this.name = 'IpamExhaustedError';
  }
}

// ---------- internals ----------

interface PoolInfo {
  name: string;
  cidr: Cidr;
  blockSize: number;
  disabled: boolean;
  resource: IPPool;
}

interface Context {
  host: string;
  handleId: string;
  attrs: Record<string, string>;
  pools: PoolInfo[];
  reservations: Cidr[];
  config: IpamConfig;
  /** This host's affinity entries as read at the start of the request. */
  affinities: KeyValue[];
  /** Set once this request has written the handle, so later writes skip the create attempt. */
  handleExists: { known: boolean };
}

const familyName = (f: IpFamily) => `IPv${f}`;
const quoteList = (names: string[]) => names.map((n) => `"${n}"`).join(', ');
const poolWord = (names: string[]) => (names.length === 1 ? 'pool' : 'pools');

function toPoolInfo(p: IPPool): PoolInfo | undefined {
  let cidr: Cidr;
  try {
    cidr = parseCidr(p.spec.cidr);
  } catch {
    return undefined; // validation keeps these out; a hand-written bad key must not break allocation
  }
  return {
    name: p.metadata.name,
    cidr,
    blockSize: p.spec.blockSize ?? DEFAULT_BLOCK_SIZE[cidr.family],
    disabled: p.spec.disabled === true,
    resource: p,
  };
}

function selectorMatches(text: string | undefined, labels: Record<string, string>): boolean {
  if (text === undefined || text.trim() === '') return true;
  return parseSelector(text).evaluate(labels);
}

/** Deterministic per (host, pool) start among the pool's blocks, so contending hosts diverge. */
function spreadStart(host: string, pool: PoolInfo, count: bigint): bigint {
  const digest = createHash('sha256').update(`${host}\u0000${pool.cidr.text}`).digest();
  return digest.readBigUInt64BE(0) % count;
}

function parseJson<T>(kv: KeyValue, what: string): T {
  try {
    return JSON.parse(kv.value) as T;
  } catch (err) {
    throw new DatastoreError(`IPAM ${what} "${kv.key}" is not valid JSON`, { cause: err });
  }
}

export class Ipam {
  readonly datastore: Datastore;
  readonly resources: ResourceStore;
  readonly host: string | undefined;
  readonly counters: IpamCounters = { conflicts: 0, blocksClaimed: 0, borrowed: 0 };
  readonly #now: () => Date;
  readonly #maxRetries: number;

  constructor(datastore: Datastore, options: IpamOptions = {}) {
    this.datastore = datastore;
    this.resources = new ResourceStore(datastore);
    this.host = options.host;
    this.#now = options.now ?? (() => new Date());
    this.#maxRetries = options.maxRetries ?? 100;
  }

  // ---------- configuration ----------

  async getConfig(): Promise<IpamConfig> {
    const kv = await this.datastore.get(IPAM_CONFIG_KEY);
    if (!kv) return { ...DEFAULT_IPAM_CONFIG };
    return { ...DEFAULT_IPAM_CONFIG, ...parseJson<Partial<IpamConfig>>(kv, 'configuration') };
  }

  async setConfig(change: Partial<IpamConfig>): Promise<IpamConfig> {
    if (change.maxBlocksPerHost !== undefined && (!Number.isInteger(change.maxBlocksPerHost) || change.maxBlocksPerHost < 0)) {
      throw new InvalidError('maxBlocksPerHost', `must be a whole number ≥ 0, got ${JSON.stringify(change.maxBlocksPerHost)}`);
    }
    return this.#casLoop(IPAM_CONFIG_KEY, (kv) => {
      const current = kv ? { ...DEFAULT_IPAM_CONFIG, ...parseJson<Partial<IpamConfig>>(kv, 'configuration') } : { ...DEFAULT_IPAM_CONFIG };
      const next: IpamConfig = { ...current, ...Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)) };
      if (next.maxBlocksPerHost > 0 && !next.strictAffinity) {
        throw new InvalidError('maxBlocksPerHost', `a limit of ${next.maxBlocksPerHost} needs strictAffinity: true (otherwise hosts borrow past it)`);
      }
      if (!next.autoAllocateBlocks && !next.strictAffinity) {
        throw new InvalidError('autoAllocateBlocks', 'false needs strictAffinity: true (a host with no block could only borrow)');
      }
      return { value: JSON.stringify(next), result: next };
    });
  }

  // ---------- allocation ----------

  /**
   * Allocates num4 IPv4 and num6 IPv6 addresses to the handle. All or nothing: when one family
   * fails, what the other got is released before the error is thrown.
   */
  async autoAssign(req: AutoAssignRequest): Promise<AutoAssignResult> {
    const num4 = req.num4 ?? 0;
    const num6 = req.num6 ?? 0;
    if (!req.handleId) throw new InvalidError('handleId', 'a handle id is required');
    for (const [field, n] of [['num4', num4], ['num6', num6]] as const) {
      if (!Number.isInteger(n) || n < 0) throw new InvalidError(field, `must be a whole number ≥ 0, got ${JSON.stringify(n)}`);
    }
    if (num4 + num6 === 0) throw new InvalidError('num4', 'nothing to allocate: num4 and num6 are both 0');
    const host = this.#hostFor(req.host);
    // Everything the decision needs, in one round trip (etcd round trips dominate an allocation).
    const [allPools, reservations, config, node, affinities] = await Promise.all([
      this.#pools(),
      this.#reservations(),
      this.getConfig(),
      this.resources.get<Node>({ kind: 'Node', name: host }),
      this.datastore.list(hostAffinityPrefix(host)),
    ]);
    const nodeLabels = node?.metadata.labels ?? {};
    const result: AutoAssignResult = { ipv4: [], ipv6: [] };
    const handleExists = { known: false };
    try {
      for (const [family, n] of [[4, num4], [6, num6]] as const) {
        if (n === 0) continue;
        const pools = this.#candidatePools(family, req, host, allPools, nodeLabels);
        const ctx: Context = { host, handleId: req.handleId, attrs: req.attrs ?? {}, pools, reservations, config, affinities: affinities.items, handleExists };
        // Filled as addresses are taken, so a failure part-way still knows what to give back.
        await this.#assignFamily(ctx, family, n, family === 4 ? result.ipv4 : result.ipv6);
      }
    } catch (err) {
      const taken = [...result.ipv4, ...result.ipv6];
      if (taken.length > 0) {
        await this.releaseIPs(taken.map((a) => ({ ip: a.ip, handleId: a.handleId, sequenceNumber: a.sequenceNumber }))).catch(() => undefined);
      }
      throw err;
    }
    return result;
  }

  /** Allocates one given address to the handle (claiming its block for this host when nobody has). */
  async assignIP(req: AssignIpRequest): Promise<AssignedAddress> {
    const addr = tryParseIp(req.ip);
    if (!addr) throw new InvalidError('ip', `"${req.ip}" is not an IP address`);
    if (!req.handleId) throw new InvalidError('handleId', 'a handle id is required');
    const host = this.#hostFor(req.host);
    const [pools, reservations] = await Promise.all([this.#pools(), this.#reservationResources()]);
    const pool = pools.find((p) => ipInCidr(addr, p.cidr));
    if (!pool) throw new InvalidError('ip', `Cannot assign ${req.ip}: it is not inside any IP pool`);
    if (pool.disabled) throw new InvalidError('ip', `Cannot assign ${req.ip}: IP pool "${pool.name}" is disabled`);
    for (const r of reservations) {
      for (const c of r.spec.reservedCIDRs ?? []) {
        if (ipInCidr(addr, c)) throw new InvalidError('ip', `Cannot assign ${req.ip}: it is reserved by IPReservation "${r.metadata.name}" (${c})`);
      }
    }
    const cidr = blockOf(addr, pool.blockSize).text;
    const key = blockKey(cidr);
    if (!(await this.datastore.get(key))) await this.#claimBlock(host, cidr);
    let handleCounted = false;
    try {
      const out = await this.#casLoop(key, (kv) => {
        if (!kv) throw new DatastoreError(`IPAM block "${cidr}" disappeared while assigning ${req.ip}`);
        const block = decodeBlock(kv.key, kv.value);
        const ordinal = ipOrdinal(block, req.ip)!;
        const existing = allocationAt(block, ordinal);
        if (existing) {
          throw new ExistsError(`Cannot assign ${req.ip} to handle "${req.handleId}": it is already allocated to handle "${existing.handleId ?? '(none)'}"`);
        }
        const seq = allocateOrdinals(block, [ordinal], req.handleId, req.attrs ?? {});
        return { value: encodeBlock(block), result: { block, seq } };
      }, async () => {
        if (!handleCounted) {
          await this.#adjustHandle(req.handleId, cidr, 1, req.attrs);
          handleCounted = true;
        }
      });
      return {
        ip: ipToString(addr),
        family: addr.family,
        block: cidr,
        cidr: `${ipToString(addr)}/${pool.blockSize}`,
        pool: pool.name,
        handleId: req.handleId,
        sequenceNumber: out.seq,
        borrowed: affinityHost(out.block) !== host,
      };
    } catch (err) {
      if (handleCounted) await this.#adjustHandle(req.handleId, cidr, -1).catch(() => undefined);
      throw err;
    }
  }

  // ---------- release ----------

  /** Frees every address of the handle and deletes it. Unknown handles release nothing (idempotent DEL). */
  async releaseByHandle(handleId: string): Promise<string[]> {
    const released: string[] = [];
    for (let attempt = 0; attempt < this.#maxRetries; attempt++) {
      const kv = await this.datastore.get(handleKey(handleId));
      if (!kv) return released;
      const handle = parseJson<IpamHandle>(kv, 'handle');
      for (const cidr of Object.keys(handle.blocks ?? {})) {
        const key = blockKey(cidr);
        const freed = await this.#casLoop(key, (bkv) => {
          if (!bkv) return { result: [] as string[] };
          const block = decodeBlock(bkv.key, bkv.value);
          const ordinals = handleOrdinals(block, handleId);
          if (ordinals.length === 0) return { result: [] as string[] };
          const ips = ordinals.map((o) => ordinalIp(block, o));
          releaseOrdinals(block, ordinals);
          return { value: encodeBlock(block), result: ips };
        });
        released.push(...freed);
      }
      try {
        await this.datastore.delete(kv.key, kv.modRevision);
        return released;
      } catch (err) {
        if (err instanceof NotFoundError) return released;
        if (!(err instanceof ConflictError)) throw err;
        // The handle changed under us (a late allocation for it): go round again.
      }
    }
    throw new DatastoreError(`Cannot release handle "${handleId}": it kept changing over ${this.#maxRetries} attempts`);
  }

  /**
   * Frees addresses. An entry carrying handleId / sequenceNumber is skipped when the address now
   * belongs to someone else or was re-allocated since (a stale scan must not free a live address).
   */
  async releaseIPs(items: ReadonlyArray<string | ReleaseRequest>): Promise<ReleaseResult> {
    const reqs: ReleaseRequest[] = items.map((i) => (typeof i === 'string' ? { ip: i } : i));
    const result: ReleaseResult = { released: [], notReleased: [] };
    const byBlock = new Map<string, ReleaseRequest[]>();
    let blocks: AllocationBlock[] | undefined;
    const pools = await this.#pools();
    for (const r of reqs) {
      const addr = tryParseIp(r.ip);
      if (!addr) {
        result.notReleased.push({ ip: r.ip, reason: 'not an IP address' });
        continue;
      }
      let cidr: string | undefined;
      const pool = pools.find((p) => ipInCidr(addr, p.cidr));
      if (pool) cidr = blockOf(addr, pool.blockSize).text;
      if (!cidr || !(await this.datastore.get(blockKey(cidr)))) {
        // The pool may be gone (or resized): find the block among the stored ones.
        blocks ??= (await this.datastore.list(BLOCKS_PREFIX)).items.map((kv) => decodeBlock(kv.key, kv.value));
        cidr = blocks.find((b) => ipInCidr(addr, b.cidr))?.cidr;
      }
      if (!cidr) {
        result.notReleased.push({ ip: r.ip, reason: 'no IPAM block contains it' });
        continue;
      }
      const list = byBlock.get(cidr) ?? [];
      list.push(r);
      byBlock.set(cidr, list);
    }
    for (const [cidr, list] of byBlock) {
      const out = await this.#casLoop(blockKey(cidr), (kv) => {
        const skipped: Array<{ ip: string; reason: string }> = [];
        if (!kv) return { result: { freed: [] as string[], skipped: list.map((r) => ({ ip: r.ip, reason: 'not allocated' })), perHandle: new Map<string, number>() } };
        const block = decodeBlock(kv.key, kv.value);
        const ordinals: number[] = [];
        const freed: string[] = [];
        for (const r of list) {
          const o = ipOrdinal(block, r.ip)!;
          const a = allocationAt(block, o);
          if (!a) skipped.push({ ip: r.ip, reason: 'not allocated' });
          else if (r.handleId !== undefined && a.handleId !== r.handleId) {
            skipped.push({ ip: r.ip, reason: `now allocated to handle "${a.handleId}", not "${r.handleId}"` });
          } else if (r.sequenceNumber !== undefined && a.sequenceNumber !== r.sequenceNumber) {
            skipped.push({ ip: r.ip, reason: `re-allocated since (sequence ${a.sequenceNumber}, expected ${r.sequenceNumber})` });
          } else if (!ordinals.includes(o)) {
            ordinals.push(o);
            freed.push(a.ip);
          }
        }
        if (ordinals.length === 0) return { result: { freed, skipped, perHandle: new Map<string, number>() } };
        const perHandle = releaseOrdinals(block, ordinals);
        return { value: encodeBlock(block), result: { freed, skipped, perHandle } };
      });
      result.released.push(...out.freed);
      result.notReleased.push(...out.skipped);
      for (const [handleId, n] of out.perHandle) await this.#adjustHandle(handleId, cidr, -n);
    }
    return result;
  }

  /**
   * Gives up a host's blocks (for a deleted host): empty blocks are deleted, blocks still holding
   * addresses lose their affinity and stay until those are released. Returns the CIDRs touched.
   */
  async releaseHostAffinities(host: string): Promise<{ deleted: string[]; unaffined: string[] }> {
    const out = { deleted: [] as string[], unaffined: [] as string[] };
    const { items } = await this.datastore.list(hostAffinityPrefix(host));
    for (const akv of items) {
      const aff = parseJson<BlockAffinity>(akv, 'block affinity');
      const key = blockKey(aff.cidr);
      for (let attempt = 0; ; attempt++) {
        if (attempt >= this.#maxRetries) throw new DatastoreError(`Cannot release block "${aff.cidr}" of host "${host}": too many conflicting writes`);
        const bkv = await this.datastore.get(key);
        if (!bkv) break;
        const block = decodeBlock(bkv.key, bkv.value);
        if (affinityHost(block) !== host) break;
        try {
          if (allocatedCount(block) === 0) {
            await this.datastore.delete(key, bkv.modRevision);
            out.deleted.push(aff.cidr);
          } else {
            block.affinity = null;
            delete block.affinityClaimTime;
            await this.datastore.update(key, encodeBlock(block), bkv.modRevision);
            out.unaffined.push(aff.cidr);
          }
          break;
        } catch (err) {
          if (!(err instanceof ConflictError) && !(err instanceof NotFoundError)) throw err;
        }
      }
      await this.datastore.delete(akv.key).catch((err) => {
        if (!(err instanceof NotFoundError)) throw err;
      });
    }
    return out;
  }

  // ---------- reading ----------

  async getHandle(handleId: string): Promise<IpamHandle | undefined> {
    const kv = await this.datastore.get(handleKey(handleId));
    return kv ? parseJson<IpamHandle>(kv, 'handle') : undefined;
  }

  async listHandles(): Promise<IpamHandle[]> {
    const { items } = await this.datastore.list(HANDLES_PREFIX);
    return items.map((kv) => parseJson<IpamHandle>(kv, 'handle'));
  }

  /** Addresses currently held by a handle, read from its blocks. */
  async handleAddresses(handleId: string): Promise<BlockAllocation[]> {
    const handle = await this.getHandle(handleId);
    if (!handle) return [];
    const out: BlockAllocation[] = [];
    for (const cidr of Object.keys(handle.blocks)) {
      const kv = await this.datastore.get(blockKey(cidr));
      if (!kv) continue;
      const block = decodeBlock(kv.key, kv.value);
      for (const o of handleOrdinals(block, handleId)) out.push(allocationAt(block, o)!);
    }
    return out;
  }

  async listAffinities(host?: string): Promise<BlockAffinity[]> {
    const { items } = await this.datastore.list(host === undefined ? AFFINITIES_PREFIX : hostAffinityPrefix(host));
    return items.map((kv) => ({ ...parseJson<BlockAffinity>(kv, 'block affinity'), host: hostOfAffinityKey(kv.key) ?? '' }));
  }

  async getBlock(cidr: string): Promise<AllocationBlock | undefined> {
    const kv = await this.datastore.get(blockKey(parseCidr(cidr).text));
    return kv ? decodeBlock(kv.key, kv.value) : undefined;
  }

  async listBlocks(filter: { host?: string; pool?: string } = {}): Promise<BlockInfo[]> {
    const [pools, reservations, { items }] = await Promise.all([this.#pools(), this.#reservations(), this.datastore.list(BLOCKS_PREFIX)]);
    const out: BlockInfo[] = [];
    for (const kv of items) {
      const block = decodeBlock(kv.key, kv.value);
      const info = describeBlock(block, pools, reservations);
      if (filter.host !== undefined && info.host !== filter.host) continue;
      if (filter.pool !== undefined && info.pool !== filter.pool) continue;
      out.push(info);
    }
    return out;
  }

  /** Per pool: total, in use, reserved (IPReservation) and free addresses; plus every block. */
  async usage(): Promise<IpamUsage> {
    const [pools, reservations, blocks, config] = await Promise.all([this.#pools(), this.#reservations(), this.listBlocks(), this.getConfig()]);
    const usage: PoolUsage[] = pools.map((p) => {
      const inPool = blocks.filter((b) => b.pool === p.name);
      const spans = mergeRanges(
        reservations
          .filter((r) => r.family === p.cidr.family && (cidrContains(p.cidr, r) || cidrContains(r, p.cidr)))
          .map((r) => clip(r, p.cidr)),
      );
      const reserved = spans.reduce((s, [lo, hi]) => s + (hi - lo + 1n), 0n);
      let inUse = 0n;
      let inUseReserved = 0n;
      for (const b of inPool) {
        for (const a of b.allocations) {
          inUse += 1n;
          const v = tryParseIp(a.ip)!.value;
          if (spans.some(([lo, hi]) => v >= lo && v <= hi)) inUseReserved += 1n;
        }
      }
      const total = cidrSize(p.cidr);
      return {
        name: p.name,
        cidr: p.cidr.text,
        blockSize: p.blockSize,
        disabled: p.disabled,
        blocks: inPool.length,
        total,
        inUse,
        reserved,
        free: total - reserved - (inUse - inUseReserved),
      };
    });
    return { pools: usage, blocks, config };
  }

  /** Everything IPAM knows about one address. */
  async ipInfo(ip: string): Promise<IpInfo> {
    const addr = tryParseIp(ip);
    if (!addr) throw new InvalidError('ip', `"${ip}" is not an IP address`);
    const [pools, reservations] = await Promise.all([this.#pools(), this.#reservationResources()]);
    const pool = pools.find((p) => ipInCidr(addr, p.cidr));
    const reservedBy = reservations.find((r) => (r.spec.reservedCIDRs ?? []).some((c) => ipInCidr(addr, c)))?.metadata.name ?? null;
    let block: AllocationBlock | undefined;
    if (pool) block = await this.getBlock(blockOf(addr, pool.blockSize).text);
    if (!block) {
      const { items } = await this.datastore.list(BLOCKS_PREFIX);
      block = items.map((kv) => decodeBlock(kv.key, kv.value)).find((b) => ipInCidr(addr, b.cidr));
    }
    return {
      ip: ipToString(addr),
      pool: pool?.name ?? null,
      block: block?.cidr ?? null,
      blockHost: block ? affinityHost(block) ?? null : null,
      reservedBy,
      allocation: block ? allocationAt(block, ipOrdinal(block, ip)!) ?? null : null,
    };
  }

  // ---------- allocation internals ----------

  #hostFor(host: string | undefined): string {
    const h = host ?? this.host;
    if (!h) throw new InvalidError('host', 'IPAM needs the host the address is for (options.host or request.host)');
    return h;
  }

  async #pools(): Promise<PoolInfo[]> {
    const { items } = await this.resources.list<IPPool>('IPPool');
    return items.map(toPoolInfo).filter((p): p is PoolInfo => p !== undefined).sort((a, b) => a.name.localeCompare(b.name));
  }

  async #reservationResources(): Promise<IPReservation[]> {
    return (await this.resources.list<IPReservation>('IPReservation')).items;
  }

  async #reservations(): Promise<Cidr[]> {
    const out: Cidr[] = [];
    for (const r of await this.#reservationResources()) {
      for (const c of r.spec.reservedCIDRs ?? []) {
        try {
          out.push(parseCidrOrIp(c));
        } catch {
          // validation rejects these; skip rather than block every allocation
        }
      }
    }
    return out;
  }

  #candidatePools(family: IpFamily, req: AutoAssignRequest, host: string, all: PoolInfo[], nodeLabels: Record<string, string>): PoolInfo[] {
    const use = req.use ?? 'Workload';
    const nodeOk = (p: PoolInfo) => selectorMatches(p.resource.spec.nodeSelector, nodeLabels);
    const nsOk = (p: PoolInfo) => selectorMatches(p.resource.spec.namespaceSelector, req.namespaceLabels ?? {});
    const requested = (req.pools ?? []).map((text) => {
      const byName = all.find((p) => p.name === text);
      if (byName) return { text, pool: byName };
      const asCidr = text.includes('/') ? (() => { try { return parseCidr(text).text; } catch { return undefined; } })() : undefined;
      return { text, pool: asCidr ? all.find((p) => p.cidr.text === asCidr) : undefined };
    });
    for (const r of requested) {
      if (!r.pool) throw new InvalidError('pools', `IP pool "${r.text}" does not exist (by name or CIDR)`);
    }
    const explicit = requested.map((r) => r.pool!).filter((p) => p.cidr.family === family);
    if (explicit.length > 0) {
      for (const p of explicit) {
        if (p.disabled) throw new InvalidError('pools', `IP pool "${p.name}" is disabled`);
        if (!nodeOk(p)) {
          throw new InvalidError('pools', `IP pool "${p.name}" is not for host "${host}" (nodeSelector "${p.resource.spec.nodeSelector}" does not match the Node's labels)`);
        }
      }
      return explicit;
    }
    const ofFamily = all.filter((p) => p.cidr.family === family);
    const usable = ofFamily.filter(
      (p) =>
        !p.disabled &&
        (p.resource.spec.assignmentMode ?? 'Automatic') === 'Automatic' &&
        (p.resource.spec.allowedUses ?? ['Workload', 'Tunnel']).includes(use) &&
        nodeOk(p) &&
        nsOk(p),
    );
    if (usable.length === 0) {
      const why =
        ofFamily.length === 0
          ? `there is no ${familyName(family)} pool`
          : `none of the ${familyName(family)} pools (${quoteList(ofFamily.map((p) => p.name))}) is enabled, automatic, allows ${use} use and matches host "${host}"`;
      throw new IpamExhaustedError(`Cannot allocate an ${familyName(family)} address for handle "${req.handleId}": ${why}`, []);
    }
    return usable;
  }

  async #assignFamily(ctx: Context, family: IpFamily, n: number, out: AssignedAddress[]): Promise<AssignedAddress[]> {
    const need = () => n - out.length;
    const poolOf = (cidr: string) => ctx.pools.find((p) => cidrContains(p.cidr, cidr));

    // 1. Blocks this host already owns, newest claim first (the likeliest to have room).
    const mine = ctx.affinities
      .map((kv) => ({ kv, aff: parseJson<BlockAffinity>(kv, 'block affinity') }))
      .filter(({ aff }) => aff.cidr.includes(':') === (family === 6));
    const usable = mine.filter(({ aff }) => poolOf(aff.cidr) !== undefined).sort((a, b) => b.kv.createRevision - a.kv.createRevision);
    const tryAffine = async (entry: (typeof usable)[number], opts: { speculative?: boolean; prefetched?: KeyValue }) => {
      const { kv, aff } = entry;
      if (aff.state !== 'confirmed' && !(await this.#finishClaim(ctx.host, aff.cidr, kv.key))) return;
      out.push(...(await this.#allocateInBlock(ctx, poolOf(aff.cidr)!, aff.cidr, need(), true, opts)));
    };
    if (usable.length > 0) await tryAffine(usable[0], { speculative: true });
    if (need() > 0 && usable.length > 1) {
      // The newest block is full: read all the others in one round and go to those with room.
      const rest = usable.slice(1);
      const kvs = await Promise.all(rest.map(({ aff }) => this.datastore.get(blockKey(aff.cidr))));
      for (const [i, entry] of rest.entries()) {
        if (need() === 0) break;
        const bkv = kvs[i];
        if (entry.aff.state === 'confirmed') {
          if (!bkv) continue;
          const block = decodeBlock(bkv.key, bkv.value);
          if (affinityHost(block) !== ctx.host || pickFreeOrdinals(block, 1, reservedRanges(block, ctx.reservations)).length === 0) continue;
        }
        await tryAffine(entry, { prefetched: bkv });
      }
    }
    if (need() === 0) return out;

    // 2. Claim new blocks.
    const limit = ctx.config.maxBlocksPerHost;
    let owned = mine.length;
    let limitHit = false;
    if (ctx.config.autoAllocateBlocks) {
      for (const pool of ctx.pools) {
        for (let rounds = 0; need() > 0 && rounds < 10_000; rounds++) {
          if (limit > 0 && owned >= limit) {
            limitHit = true;
            break;
          }
          const claim = await this.#claimFreeBlock(ctx.host, pool);
          if (!claim) break;
          owned++;
          out.push(...(await this.#allocateInBlock(ctx, pool, claim.cidr, need(), true, { prefetched: claim.kv })));
        }
        if (need() === 0) return out;
      }
    }

    // 3. Borrow from anyone's block.
    const names = ctx.pools.map((p) => p.name);
    if (ctx.config.strictAffinity) {
      const why = limitHit ? `host "${ctx.host}" has its ${limit} blocks (maxBlocksPerHost) full` : 'no free address in any block';
      throw new IpamExhaustedError(
        `Cannot allocate from ${poolWord(names)} ${quoteList(names)}: ${why} and borrowing is disabled (strictAffinity)`,
        names,
      );
    }
    const { items } = await this.datastore.list(BLOCKS_PREFIX);
    // Borrowers start at different blocks (hashed by host) so they do not all fight over the first.
    const offset = items.length === 0 ? 0 : Number(createHash('sha256').update(ctx.host).digest().readUInt32BE(0) % items.length);
    for (let i = 0; i < items.length; i++) {
      if (need() === 0) return out;
      const kv = items[(offset + i) % items.length];
      const block = decodeBlock(kv.key, kv.value);
      const pool = poolOf(block.cidr);
      if (!pool) continue;
      if (pickFreeOrdinals(block, 1, reservedRanges(block, ctx.reservations)).length === 0) continue;
      out.push(...(await this.#allocateInBlock(ctx, pool, block.cidr, need(), false, { prefetched: kv })));
    }
    if (need() === 0) return out;
    const details = ctx.pools.map((p) => `"${p.name}" ${p.cidr.text}`).join(', ');
    throw new IpamExhaustedError(
      `Cannot allocate ${n} ${familyName(family)} address${n === 1 ? '' : 'es'} for handle "${ctx.handleId}" on host "${ctx.host}": ` +
        `no free address in any block of ${poolWord(names)} ${details}` +
        (out.length > 0 ? ` (found only ${out.length})` : ''),
      names,
    );
  }

  /**
   * Takes up to n free ordinals from one block. With mustBeMine, stops if the block is no longer
   * affine to this host. Returns [] when the block has no room (or vanished). With speculative, the
   * handle is counted up in parallel with the first read of the block (one round trip less when
   * the block has room, two wasted writes when it has not): used for the likeliest block only.
   * A prefetched value (just listed or created) saves the first read.
   */
  async #allocateInBlock(
    ctx: Context,
    pool: PoolInfo,
    cidr: string,
    n: number,
    mustBeMine: boolean,
    opts: { speculative?: boolean; prefetched?: KeyValue },
  ): Promise<AssignedAddress[]> {
    const key = blockKey(cidr);
    let counted = 0;
    try {
      for (let attempt = 0; attempt < this.#maxRetries; attempt++) {
        let kv: KeyValue | undefined;
        if (attempt === 0 && opts.prefetched) kv = opts.prefetched;
        else if (attempt === 0 && opts.speculative) {
          [kv] = await Promise.all([this.datastore.get(key), this.#countHandle(ctx, cidr, n)]);
          counted = n;
        } else kv = await this.datastore.get(key);
        if (!kv) break;
        const block = decodeBlock(kv.key, kv.value);
        const owner = affinityHost(block);
        if (mustBeMine && owner !== ctx.host) break;
        const ordinals = pickFreeOrdinals(block, n, reservedRanges(block, ctx.reservations));
        if (ordinals.length === 0) break;
        // Count the handle up before the block write: a crash in between leaves an over-counted
        // handle, never an allocated address that its handle does not lead to.
        if (counted < ordinals.length) {
          await this.#countHandle(ctx, cidr, ordinals.length - counted);
          counted = ordinals.length;
        }
        const seq = allocateOrdinals(block, ordinals, ctx.handleId, ctx.attrs);
        try {
          await this.datastore.update(key, encodeBlock(block), kv.modRevision);
        } catch (err) {
          if (err instanceof ConflictError) {
            this.counters.conflicts++;
            await backoff(attempt);
            continue;
          }
          if (err instanceof NotFoundError) break;
          throw err;
        }
        if (owner !== ctx.host) this.counters.borrowed += ordinals.length;
        const extra = counted - ordinals.length;
        counted = 0;
        if (extra > 0) await this.#adjustHandle(ctx.handleId, cidr, -extra);
        return ordinals.map((o) => {
          const ip = ordinalIp(block, o);
          return {
            ip,
            family: pool.cidr.family,
            block: cidr,
            cidr: `${ip}/${parseCidr(cidr).prefixLength}`,
            pool: pool.name,
            handleId: ctx.handleId,
            sequenceNumber: seq,
            borrowed: owner !== ctx.host,
          };
        });
      }
      return [];
    } finally {
      if (counted > 0) await this.#adjustHandle(ctx.handleId, cidr, -counted);
    }
  }

  async #countHandle(ctx: Context, cidr: string, delta: number): Promise<void> {
    await this.#adjustHandle(ctx.handleId, cidr, delta, ctx.attrs, !ctx.handleExists.known);
    ctx.handleExists.known = true;
  }

  /**
   * Adds delta (±) to the handle's count for a block, creating or deleting the handle as needed.
   * createFirst tries a blind create before reading (a new attachment's handle does not exist yet).
   */
  async #adjustHandle(handleId: string, cidr: string, delta: number, attrs?: Record<string, string>, createFirst = false): Promise<void> {
    const key = handleKey(handleId);
    const fresh = (): IpamHandle => ({ handleId, ...(attrs && Object.keys(attrs).length > 0 ? { attrs } : {}), blocks: { [cidr]: delta } });
    if (createFirst && delta > 0) {
      try {
        await this.datastore.create(key, JSON.stringify(fresh()));
        return;
      } catch (err) {
        if (!(err instanceof ExistsError)) throw err;
      }
    }
    for (let attempt = 0; attempt < this.#maxRetries; attempt++) {
      const kv = await this.datastore.get(key);
      try {
        if (!kv) {
          if (delta <= 0) return;
          await this.datastore.create(key, JSON.stringify(fresh()));
          return;
        }
        const handle = parseJson<IpamHandle>(kv, 'handle');
        handle.blocks ??= {};
        const next = (handle.blocks[cidr] ?? 0) + delta;
        if (next > 0) handle.blocks[cidr] = next;
        else delete handle.blocks[cidr];
        if (attrs && Object.keys(attrs).length > 0 && !handle.attrs) handle.attrs = attrs;
        if (Object.keys(handle.blocks).length === 0) await this.datastore.delete(key, kv.modRevision);
        else await this.datastore.update(key, JSON.stringify(handle), kv.modRevision);
        return;
      } catch (err) {
        if (!(err instanceof ConflictError) && !(err instanceof ExistsError) && !(err instanceof NotFoundError)) throw err;
        this.counters.conflicts++;
        await backoff(attempt);
      }
    }
    throw new DatastoreError(`Cannot update IPAM handle "${handleId}": ${this.#maxRetries} conflicting writes in a row`);
  }

  /**
   * Claims the first free block of the pool in this host's candidate order. Returns its CIDR, or
   * undefined when no block of the pool is free.
   */
  async #claimFreeBlock(host: string, pool: PoolInfo): Promise<{ cidr: string; kv?: KeyValue } | undefined> {
    const count = blockCount(pool.cidr, pool.blockSize);
    const taken = new Set<string>();
    const stale = new Map<string, string[]>(); // block → keys of other hosts' stale pending claims
    const nowMs = this.#now().getTime();
    for (const kv of (await this.datastore.list(AFFINITIES_PREFIX)).items) {
      const aff = parseJson<BlockAffinity>(kv, 'block affinity');
      const other = hostOfAffinityKey(kv.key) !== host;
      const age = aff.claimTime ? nowMs - Date.parse(aff.claimTime) : 0;
      if (other && aff.state === 'pending' && age >= STALE_CLAIM_MS) {
        stale.set(aff.cidr, [...(stale.get(aff.cidr) ?? []), kv.key]);
      } else taken.add(aff.cidr);
    }
    // Probing on from the host's hashed start keeps one host's blocks next to each other (fewer
    // routes once aggregated) while different hosts start far apart and rarely race.
    const start = spreadStart(host, pool, count);
    // Blocks that exist without an affinity entry (owner gone, or a race lost) cost one failed
    // create each; past this many the pool is taken to be full.
    let misses = 0;
    for (let i = 0n; i < count && misses < 256; i++) {
      const cidr = nthBlock(pool.cidr, pool.blockSize, (start + i) % count).text;
      if (taken.has(cidr)) continue;
      const claim = await this.#claimBlock(host, cidr);
      if (claim.claimed) {
        // The block is decided: other hosts' abandoned claims on it are just noise now.
        for (const key of stale.get(cidr) ?? []) await this.#dropAffinity(key);
        return { cidr, kv: claim.kv };
      }
      misses++;
    }
    return undefined;
  }

  /**
   * Two-phase claim: pending affinity → create the block (the decision) → confirm the affinity.
   * An existing block is taken over only when nobody owns it. `claimed` when the block is this
   * host's; `kv` is the block as created, when this call created it.
   */
  async #claimBlock(host: string, cidr: string): Promise<{ claimed: boolean; kv?: KeyValue }> {
    const affKey = affinityKey(host, cidr);
    const pending: BlockAffinity = { host, cidr, state: 'pending', claimTime: this.#now().toISOString() };
    try {
      await this.datastore.create(affKey, JSON.stringify(pending));
    } catch (err) {
      if (!(err instanceof ExistsError)) throw err;
      // Another process of this host is claiming the same block: go on, both end up using it.
    }
    try {
      const kv = await this.datastore.create(blockKey(cidr), encodeBlock(newBlock(parseCidr(cidr), host, this.#now())));
      await this.#confirm(affKey, host, cidr);
      this.counters.blocksClaimed++;
      return { claimed: true, kv };
    } catch (err) {
      if (!(err instanceof ExistsError)) {
        await this.#dropAffinity(affKey).catch(() => undefined);
        throw err;
      }
    }
    return { claimed: await this.#settleExisting(host, cidr, affKey) };
  }

  /** The block exists: mine → confirm; unowned → adopt it (CAS); someone else's → drop my affinity. */
  async #settleExisting(host: string, cidr: string, affKey: string): Promise<boolean> {
    const key = blockKey(cidr);
    for (let attempt = 0; attempt < this.#maxRetries; attempt++) {
      const kv = await this.datastore.get(key);
      if (!kv) {
        await this.#dropAffinity(affKey);
        return false; // deleted in between; the caller moves on
      }
      const block = decodeBlock(kv.key, kv.value);
      if (affinityHost(block) === host) {
        await this.#confirm(affKey, host, cidr);
        return true;
      }
      if (block.affinity === null) {
        block.affinity = hostAffinity(host);
        block.affinityClaimTime = this.#now().toISOString();
        try {
          await this.datastore.update(key, encodeBlock(block), kv.modRevision);
        } catch (err) {
          if (err instanceof ConflictError || err instanceof NotFoundError) continue;
          throw err;
        }
        await this.#confirm(affKey, host, cidr);
        return true;
      }
      await this.#dropAffinity(affKey);
      return false;
    }
    throw new DatastoreError(`Cannot claim IPAM block "${cidr}" for host "${host}": ${this.#maxRetries} conflicting writes in a row`);
  }

  /** Resumes a claim left pending (by a concurrent or a crashed process). True when the block is ours. */
  async #finishClaim(host: string, cidr: string, affKey: string): Promise<boolean> {
    const kv = await this.datastore.get(blockKey(cidr));
    if (!kv) {
      try {
        await this.datastore.create(blockKey(cidr), encodeBlock(newBlock(parseCidr(cidr), host, this.#now())));
        await this.#confirm(affKey, host, cidr);
        return true;
      } catch (err) {
        if (!(err instanceof ExistsError)) throw err;
      }
    }
    return this.#settleExisting(host, cidr, affKey);
  }

  async #confirm(affKey: string, host: string, cidr: string): Promise<void> {
    // A blind write is enough: only this host's processes write this key, and they all write the
    // same confirmed value once the block is the host's.
    const confirmed = JSON.stringify({ host, cidr, state: 'confirmed' } satisfies BlockAffinity);
    for (let attempt = 0; attempt < this.#maxRetries; attempt++) {
      try {
        await this.datastore.update(affKey, confirmed);
        return;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
      try {
        await this.datastore.create(affKey, confirmed);
        return;
      } catch (err) {
        if (!(err instanceof ExistsError)) throw err;
      }
    }
    throw new DatastoreError(`Cannot confirm affinity of block "${cidr}" for host "${host}": ${this.#maxRetries} conflicting writes in a row`);
  }

  async #dropAffinity(affKey: string): Promise<void> {
    try {
      await this.datastore.delete(affKey);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }

  /**
   * Read–modify–CAS loop on one key. `change` returns the new value (or none to write nothing) and
   * a result; `before`, if given, runs before each write attempt.
   */
  async #casLoop<T>(
    key: string,
    change: (kv: KeyValue | undefined) => { value?: string; result: T },
    before?: () => Promise<void>,
  ): Promise<T> {
    for (let attempt = 0; attempt < this.#maxRetries; attempt++) {
      const kv = await this.datastore.get(key);
      const { value, result } = change(kv);
      if (value === undefined) return result;
      if (before) await before();
      try {
        if (kv) await this.datastore.update(key, value, kv.modRevision);
        else await this.datastore.create(key, value);
        return result;
      } catch (err) {
        if (!(err instanceof ConflictError) && !(err instanceof ExistsError) && !(err instanceof NotFoundError)) throw err;
        this.counters.conflicts++;
        await backoff(attempt);
      }
    }
    throw new DatastoreError(`Cannot write "${key}": ${this.#maxRetries} conflicting writes in a row`);
  }
}

/** Small jittered pause after a lost compare-and-swap, growing with the attempt, capped at ~20 ms. */
async function backoff(attempt: number): Promise<void> {
  if (attempt < 2) return;
  await sleep(Math.random() * Math.min(20, 2 ** (attempt - 1)));
}

function describeBlock(block: AllocationBlock, pools: PoolInfo[], reservations: Cidr[]): BlockInfo {
  const ranges = reservedRanges(block, reservations);
  const size = block.allocations.length;
  let reserved = 0;
  let allocated = 0;
  let reservedFree = 0;
  for (let o = 0; o < size; o++) {
    const isReserved = ranges.some(([lo, hi]) => o >= lo && o <= hi);
    const isAllocated = block.allocations[o] !== null;
    if (isReserved) reserved++;
    if (isAllocated) allocated++;
    if (isReserved && !isAllocated) reservedFree++;
  }
  return {
    cidr: block.cidr,
    host: affinityHost(block) ?? null,
    pool: pools.find((p) => cidrContains(p.cidr, block.cidr))?.name ?? null,
    size,
    allocated,
    reserved,
    free: size - allocated - reservedFree,
    allocations: blockAllocationsOf(block),
  };
}

function blockAllocationsOf(block: AllocationBlock): BlockAllocation[] {
  const out: BlockAllocation[] = [];
  for (let o = 0; o < block.allocations.length; o++) {
    const a = allocationAt(block, o);
    if (a) out.push(a);
  }
  return out;
}

function clip(r: Cidr, pool: Cidr): [bigint, bigint] {
  const lo = r.network > pool.network ? r.network : pool.network;
  const rHi = r.network + cidrSize(r) - 1n;
  const pHi = pool.network + cidrSize(pool) - 1n;
  return [lo, rHi < pHi ? rHi : pHi];
}

function mergeRanges(ranges: Array<[bigint, bigint]>): Array<[bigint, bigint]> {
  const sorted = [...ranges].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Array<[bigint, bigint]> = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1n) {
      if (hi > last[1]) last[1] = hi;
    } else out.push([lo, hi]);
  }
  return out;
}
