// The allocation block: one power-of-two slice of a pool (default /26 or /122) stored as one JSON
// value, so that a single compare-and-swap on its key allocates or frees addresses atomically. This
// file is the pure part (shape, decoding, picking and freeing ordinals); ipam.ts does the I/O.
//
// Awkward cases handled: ordinals inside an IPReservation are skipped but never freed; freed ordinals
// go to the back of the free FIFO so a just-released address is not handed out again at once; every
// change bumps the block's sequence number and each allocation remembers the sequence it was made
// at, so a release computed from an old scan cannot free an address someone re-used since.

import { cidrSize, DatastoreError, ipToString, parseCidr, parseIp } from '../lib/index.ts';
import type { Cidr, IpFamily } from '../lib/index.ts';

/** Owner of one or more allocations in a block; allocations of one handle share one entry. */
export interface BlockAttribute {
  handleId: string | null;
  attrs: Record<string, string>;
}

export interface AllocationBlock {
  cidr: string;
  /** `host:<name>` for a block claimed by a host; null for a block nobody owns any more. */
  affinity: string | null;
  affinityClaimTime?: string;
  /** ordinal → index into attributes, or null when free. */
  allocations: Array<number | null>;
  /** Free ordinals, in the order they will be handed out. */
  unallocated: number[];
  attributes: BlockAttribute[];
  sequenceNumber: number;
  /** ordinal (as text) → block sequence number at the time it was allocated. */
  sequenceNumberForAllocation: Record<string, number>;
}

export interface BlockAllocation {
  ordinal: number;
  ip: string;
  handleId: string | null;
  attrs: Record<string, string>;
  sequenceNumber: number;
}

export const HOST_AFFINITY_PREFIX = 'host:';

export function hostAffinity(host: string): string {
  return `${HOST_AFFINITY_PREFIX}${host}`;
}

/** Host name of a `host:` affinity, undefined for none or another affinity type. */
export function affinityHost(block: AllocationBlock): string | undefined {
  return block.affinity?.startsWith(HOST_AFFINITY_PREFIX) ? block.affinity.slice(HOST_AFFINITY_PREFIX.length) : undefined;
}

export function newBlock(cidr: Cidr, host: string | null, now: Date): AllocationBlock {
  const size = Number(cidrSize(cidr));
  return {
    cidr: cidr.text,
    affinity: host === null ? null : hostAffinity(host),
    ...(host === null ? {} : { affinityClaimTime: now.toISOString() }),
    allocations: new Array<number | null>(size).fill(null),
    unallocated: Array.from({ length: size }, (_, i) => i),
    attributes: [],
    sequenceNumber: 0,
    sequenceNumberForAllocation: {},
  };
}

/** Parses a stored block, refusing values whose shape would make allocation unsafe. */
export function decodeBlock(key: string, value: string): AllocationBlock {
  let b: AllocationBlock;
  try {
    b = JSON.parse(value) as AllocationBlock;
  } catch (err) {
    throw new DatastoreError(`IPAM block "${key}" is not valid JSON`, { cause: err });
  }
  const bad = (what: string): never => {
    throw new DatastoreError(`IPAM block "${key}" is malformed: ${what}`);
  };
  if (!b || typeof b !== 'object') bad('not an object');
  if (typeof b.cidr !== 'string') bad('"cidr" missing');
  const size = Number(cidrSize(parseCidr(b.cidr)));
  if (!Array.isArray(b.allocations) || b.allocations.length !== size) bad(`"allocations" must have ${size} entries`);
  if (!Array.isArray(b.unallocated) || !Array.isArray(b.attributes)) bad('"unallocated" and "attributes" must be arrays');
  if (typeof b.sequenceNumber !== 'number') b.sequenceNumber = 0;
  if (!b.sequenceNumberForAllocation || typeof b.sequenceNumberForAllocation !== 'object') b.sequenceNumberForAllocation = {};
  if (b.affinity === undefined) b.affinity = null;
  return b;
}

export function encodeBlock(block: AllocationBlock): string {
  return JSON.stringify(block);
}

export function blockFamily(block: AllocationBlock): IpFamily {
  return block.cidr.includes(':') ? 6 : 4;
}

/** Offsets [lo, hi] inside the block covered by reserved CIDRs, for quick per-ordinal checks. */
export function reservedRanges(block: AllocationBlock, reserved: readonly Cidr[]): Array<[number, number]> {
  const c = parseCidr(block.cidr);
  const size = cidrSize(c);
  const out: Array<[number, number]> = [];
  for (const r of reserved) {
    if (r.family !== c.family) continue;
    const rLo = r.network;
    const rHi = r.network + cidrSize(r) - 1n;
    if (rHi < c.network || rLo > c.network + size - 1n) continue;
    const lo = rLo > c.network ? rLo - c.network : 0n;
    const hi = rHi < c.network + size - 1n ? rHi - c.network : size - 1n;
    out.push([Number(lo), Number(hi)]);
  }
  return out;
}

const inRanges = (ordinal: number, ranges: ReadonlyArray<[number, number]>) => ranges.some(([lo, hi]) => ordinal >= lo && ordinal <= hi);

/** Up to n free ordinals in FIFO order, skipping reserved ones. */
export function pickFreeOrdinals(block: AllocationBlock, n: number, reserved: ReadonlyArray<[number, number]>): number[] {
  const out: number[] = [];
  for (const o of block.unallocated) {
    if (out.length >= n) break;
    if (block.allocations[o] !== null || inRanges(o, reserved)) continue;
    out.push(o);
  }
  return out;
}

export function ordinalIp(block: AllocationBlock, ordinal: number): string {
  const c = parseCidr(block.cidr);
  return ipToString(c.network + BigInt(ordinal), c.family);
}

/** Ordinal of an address in the block, or undefined when it lies outside. */
export function ipOrdinal(block: AllocationBlock, ip: string): number | undefined {
  const c = parseCidr(block.cidr);
  const a = parseIp(ip);
  if (a.family !== c.family) return undefined;
  const off = a.value - c.network;
  if (off < 0n || off >= cidrSize(c)) return undefined;
  return Number(off);
}

function attributeIndex(block: AllocationBlock, handleId: string | null, attrs: Record<string, string>): number {
  const wanted = JSON.stringify(attrs);
  const found = block.attributes.findIndex((a) => a.handleId === handleId && JSON.stringify(a.attrs) === wanted);
  if (found >= 0) return found;
  block.attributes.push({ handleId, attrs });
  return block.attributes.length - 1;
}

/** Marks the ordinals allocated to the handle (mutates); returns the sequence number they got. */
export function allocateOrdinals(block: AllocationBlock, ordinals: readonly number[], handleId: string | null, attrs: Record<string, string>): number {
  const idx = attributeIndex(block, handleId, attrs);
  const taken = new Set(ordinals);
  for (const o of ordinals) {
    if (block.allocations[o] !== null) throw new Error(`block ${block.cidr}: ordinal ${o} is already allocated`);
    block.allocations[o] = idx;
  }
  block.unallocated = block.unallocated.filter((o) => !taken.has(o));
  block.sequenceNumber += 1;
  for (const o of ordinals) block.sequenceNumberForAllocation[String(o)] = block.sequenceNumber;
  return block.sequenceNumber;
}

export function allocationAt(block: AllocationBlock, ordinal: number): BlockAllocation | undefined {
  const idx = block.allocations[ordinal];
  if (idx === null || idx === undefined) return undefined;
  const attr = block.attributes[idx] ?? { handleId: null, attrs: {} };
  return {
    ordinal,
    ip: ordinalIp(block, ordinal),
    handleId: attr.handleId,
    attrs: attr.attrs,
    sequenceNumber: block.sequenceNumberForAllocation[String(ordinal)] ?? 0,
  };
}

export function blockAllocations(block: AllocationBlock): BlockAllocation[] {
  const out: BlockAllocation[] = [];
  for (let o = 0; o < block.allocations.length; o++) {
    const a = allocationAt(block, o);
    if (a) out.push(a);
  }
  return out;
}

export function allocatedCount(block: AllocationBlock): number {
  let n = 0;
  for (const a of block.allocations) if (a !== null) n++;
  return n;
}

/**
 * Frees the given ordinals (mutates). Ordinals already free are ignored. Returns how many of the
 * freed ordinals belonged to each handle, so the caller can shrink the handles' block counts.
 */
export function releaseOrdinals(block: AllocationBlock, ordinals: readonly number[]): Map<string, number> {
  const perHandle = new Map<string, number>();
  let changed = false;
  for (const o of ordinals) {
    const idx = block.allocations[o];
    if (idx === null || idx === undefined) continue;
    const handleId = block.attributes[idx]?.handleId;
    if (handleId) perHandle.set(handleId, (perHandle.get(handleId) ?? 0) + 1);
    block.allocations[o] = null;
    delete block.sequenceNumberForAllocation[String(o)];
    block.unallocated.push(o);
    changed = true;
  }
  if (changed) {
    block.sequenceNumber += 1;
    compactAttributes(block);
  }
  return perHandle;
}

/** Drops attribute entries no allocation refers to any more and renumbers the rest. */
function compactAttributes(block: AllocationBlock): void {
  const used = new Set<number>();
  for (const a of block.allocations) if (a !== null) used.add(a);
  if (used.size === block.attributes.length) return;
  const remap = new Map<number, number>();
  const kept: BlockAttribute[] = [];
  block.attributes.forEach((attr, i) => {
    if (used.has(i)) {
      remap.set(i, kept.length);
      kept.push(attr);
    }
  });
  block.attributes = kept;
  block.allocations = block.allocations.map((a) => (a === null ? null : remap.get(a)!));
}

/** Ordinals held by a handle. */
export function handleOrdinals(block: AllocationBlock, handleId: string): number[] {
  const out: number[] = [];
  for (let o = 0; o < block.allocations.length; o++) {
    const idx = block.allocations[o];
    if (idx !== null && block.attributes[idx]?.handleId === handleId) out.push(o);
  }
  return out;
}
