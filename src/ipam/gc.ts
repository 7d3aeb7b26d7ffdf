// IPAM garbage collector: runs the `ipam check` inspection periodically and frees a leaked address
// only after it has been seen leaked, unchanged, for a grace period — a CNI ADD that has allocated
// but not yet written its WorkloadEndpoint looks exactly like a leak for a moment. Blocks of
// deleted hosts get the same grace before their affinity is given up.
//
//   runOnce: inspectIpam ──► first-seen times (memory) ──► due leaks, whole handles only ──► Ipam.releaseIPs (sequence-checked)
//
// Awkward cases handled: a leak that disappears (endpoint written, or released) is forgotten and
// starts over if it comes back; an address re-allocated between scan and release is not freed (the
// release carries the sequence number seen); a handle with one address in use and one not is left
// alone (all-or-nothing per handle, as Calico does); the clock is injected for tests.

import { inspectIpam, leakId } from './check.ts';
import type { IpamCheckReport, LeakedAllocation } from './check.ts';
import type { Ipam } from './ipam.ts';

/** Calico's default leakGracePeriod. */
export const DEFAULT_LEAK_GRACE_MS = 15 * 60 * 1000;

export interface IpamGcOptions {
  gracePeriodMs?: number;
  /** Milliseconds since the epoch; Date.now by default. */
  now?: () => number;
  /** Give up the blocks of hosts whose Node is gone (after the grace period); default true. */
  releaseDeletedHosts?: boolean;
}

export interface IpamGcResult {
  report: IpamCheckReport;
  released: LeakedAllocation[];
  /**
   * Leaks not released in this run, with when they become due (ms since the epoch); `heldBy` says
   * why a due leak stays (its handle still has an address in use).
   */
  waiting: Array<{ leak: LeakedAllocation; dueAt: number; heldBy?: string }>;
  /** Hosts whose blocks were given up in this run. */
  hostsReleased: string[];
}

export class IpamGarbageCollector {
  readonly #ipam: Ipam;
  readonly #grace: number;
  readonly #now: () => number;
  readonly #releaseHosts: boolean;
  readonly #leakSeen = new Map<string, number>();
  readonly #hostSeen = new Map<string, number>();

  constructor(ipam: Ipam, options: IpamGcOptions = {}) {
    this.#ipam = ipam;
    this.#grace = options.gracePeriodMs ?? DEFAULT_LEAK_GRACE_MS;
    this.#now = options.now ?? Date.now;
    this.#releaseHosts = options.releaseDeletedHosts ?? true;
  }

  async runOnce(): Promise<IpamGcResult> {
    const now = this.#now();
    const { report, allocationsPerHandle } = await inspectIpam(this.#ipam, new Date(now));
    const result: IpamGcResult = { report, released: [], waiting: [], hostsReleased: [] };

    const current = new Set<string>();
    const due: LeakedAllocation[] = [];
    for (const leak of report.leakedAllocations) {
      const id = leakId(leak);
      current.add(id);
      const seen = this.#leakSeen.get(id) ?? now;
      this.#leakSeen.set(id, seen);
      if (now - seen >= this.#grace) due.push(leak);
      else result.waiting.push({ leak, dueAt: seen + this.#grace });
    }
    for (const id of this.#leakSeen.keys()) if (!current.has(id)) this.#leakSeen.delete(id);

    // All or nothing per handle: release a handle's leaks only when every address it holds is due.
    const dueByHandle = new Map<string, LeakedAllocation[]>();
    const toRelease: LeakedAllocation[] = [];
    for (const leak of due) {
      if (leak.handleId === null) {
        toRelease.push(leak);
        continue;
      }
      const list = dueByHandle.get(leak.handleId) ?? [];
      list.push(leak);
      dueByHandle.set(leak.handleId, list);
    }
    for (const [handleId, list] of dueByHandle) {
      if (list.length === (allocationsPerHandle.get(handleId) ?? 0)) toRelease.push(...list);
      else {
        for (const leak of list) {
          const dueAt = this.#leakSeen.get(leakId(leak))! + this.#grace;
          result.waiting.push({ leak, dueAt, heldBy: `handle "${handleId}" still has an address that is not a due leak` });
        }
      }
    }
    if (toRelease.length > 0) {
      const r = await this.#ipam.releaseIPs(toRelease.map((l) => ({ ip: l.ip, handleId: l.handleId, sequenceNumber: l.sequenceNumber })));
      const freed = new Set(r.released);
      for (const leak of toRelease) {
        if (freed.has(leak.ip)) {
          result.released.push(leak);
          this.#leakSeen.delete(leakId(leak));
        }
      }
    }

    if (this.#releaseHosts) {
      const gone = new Set(report.blocksOfDeletedHosts.map((b) => b.host));
      for (const host of this.#hostSeen.keys()) if (!gone.has(host)) this.#hostSeen.delete(host);
      for (const host of gone) {
        const seen = this.#hostSeen.get(host) ?? now;
        this.#hostSeen.set(host, seen);
        if (now - seen < this.#grace) continue;
        await this.#ipam.releaseHostAffinities(host);
        this.#hostSeen.delete(host);
        result.hostsReleased.push(host);
      }
    }
    return result;
  }
}
