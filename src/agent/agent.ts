// The agent's composition root and main loop: registers this host's Node, follows the datastore with
// the syncer, feeds the calc graph and hands its messages (plus the host-level pool and local-block
// messages the drivers need) to the nftables and routes drivers in coalesced batches.
//
//   Datastore ──ResourceSyncer──► updates ──(batch ~5 ms)──► CalcGraph.apply ──► DataplaneMessage[]
//       │  IPPool puts/deletes ──► IpPoolUpdate/Remove ───────────────────────┤ + HostDataplaneMessage[]
//       └─ IPAM blocks (list + watch) ──► LocalBlockUpdate/Remove ────────────┤
//                                            (held until the first in-sync)   ▼
//                    retry with backoff ◄── fail ── NftablesDriver.apply ; RoutesDriver.apply
//                    every resyncInterval ──► driver.resync() (repairs drift) ; nft counters ──► metrics
//
// Awkward cases handled: nothing reaches the drivers before the first in-sync; an apply that fails
// never throws out of the loop (the drivers keep the failed work dirty, the agent calls them again with
// backoff); the Node is created or CAS-updated keeping fields others set; stop() leaves the kernel as is.
// While an enabled IPv4 pool uses VXLAN, the host holds a tunnel address from IPAM (handle
// `vxlan-tunnel-addr-<node>`) and publishes it with its VTEP MAC on its Node; other hosts' VXLAN routes need it.

import { ConflictError, ExistsError, vxlanMacFor } from '../lib/index.ts';
import { CalcGraph } from '../calc/index.ts';
import { ResourceStore, ResourceSyncer } from '../datastore/index.ts';
import type { Datastore, ResourceUpdate, SyncStatus, WatchHandle } from '../datastore/index.ts';
import type { DriverMessage, IpPoolInfo, RuleCounter } from '../dataplane/index.ts';
import { BLOCKS_PREFIX, Ipam } from '../ipam/index.ts';
import type { AnyResource, IPPool, Node } from '../model/index.ts';
import { Counter, Gauge, Histogram, MetricsRegistry } from './metrics.ts';
import type { HealthSource } from './health-server.ts';

/** What the agent needs of a driver (NftablesDriver and RoutesDriver fit; tests pass fakes). */
export interface AgentDriver {
  apply(messages: Iterable<DriverMessage>): Promise<unknown>;
  resync(): Promise<unknown>;
}

export interface AgentNftDriver extends AgentDriver {
  counters(): Promise<RuleCounter[]>;
}

export interface AgentRoutesDriver extends AgentDriver {
  /** Items the kernel refused and that wait for another apply. */
  pendingRetries?(): number;
}

export type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface NodeAddresses {
  ipv4?: string;
  ipv6?: string;
}

export interface AgentOptions {
  datastore: Datastore;
  nodename: string;
  /** This host's addresses in CIDR form (from --ip or autodetection), written to its Node. */
  addresses: () => Promise<NodeAddresses>;
  nft: AgentNftDriver;
  routes: AgentRoutesDriver;
  log?: LogFn;
  metrics?: MetricsRegistry;
  /** Updates arriving within this window are applied as one batch (default 5 ms). */
  batchDelayMs?: number;
  /** Periodic resync against the kernel (default 90 s). */
  resyncIntervalMs?: number;
  /** Rule counters are read this often (default 15 s; also after every resync). */
  countersIntervalMs?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Allocate and publish a VXLAN tunnel address while a VXLAN pool exists (default true). */
  vxlanTunnelAddress?: boolean;
}

/** IPAM handle of a host's IPv4 VXLAN tunnel address. */
export function vxlanTunnelHandle(nodename: string): string {
  return `vxlan-tunnel-addr-${nodename}`;
}

/** Enabled IPv4 pools that carry traffic over VXLAN (Always or CrossSubnet). */
export function vxlanPools(pools: Iterable<IPPool>): IPPool[] {
  return [...pools].filter((p) => !p.spec.disabled && !p.spec.cidr.includes(':') && poolInfo(p).vxlanMode !== 'Never');
}

function inCidr(ip: string, cidr: string): boolean {
  const toNum = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const [base, len] = cidr.split('/');
  const size = 2 ** (32 - Number(len));
  return Math.floor(toNum(ip) / size) === Math.floor(toNum(base) / size);
}

export const DEFAULT_RESYNC_INTERVAL_MS = 90_000;

/** Pool info the drivers need, from an IPPool resource. */
export function poolInfo(pool: IPPool): IpPoolInfo {
  const mode = pool.spec.vxlanMode;
  return {
    cidr: pool.spec.cidr,
    natOutgoing: pool.spec.natOutgoing === true,
    vxlanMode: mode === 'Always' || mode === 'CrossSubnet' ? mode : 'Never',
    ...(pool.spec.disabled ? { disabled: true } : {}),
  };
}

/** Labels of an nft rule counter from its comment `<tier>/[<ns>/]<name> <dir>#<i> <action>`, or undefined. */
export function counterLabels(comment: string): Record<string, string> | undefined {
  const m = /^(.+) (ingress|egress)#(\d+) (\S+)$/.exec(comment);
  if (!m) return undefined;
  const [, owner, direction, rule, action] = m;
  if (owner.startsWith('profile ')) return { tier: '', policy: `profile:${owner.slice(8)}`, rule, action, direction };
  const slash = owner.indexOf('/');
  if (slash < 0) return undefined;
  return { tier: owner.slice(0, slash), policy: owner.slice(slash + 1), rule, action, direction };
}

/** How much a driver's resync result says it rewrote (nft script lines, ip/bridge lines, sysctls). */
function repairsIn(result: unknown): number {
  if (!result || typeof result !== 'object') return 0;
  const r = result as { script?: unknown; ipLines?: unknown; bridgeLines?: unknown; sysctls?: unknown };
  let n = typeof r.script === 'string' && r.script !== '' ? r.script.split('\n').filter(Boolean).length : 0;
  for (const a of [r.ipLines, r.bridgeLines, r.sysctls]) if (Array.isArray(a)) n += a.length;
  return n;
}

const SYNC_STATES: SyncStatus[] = ['listing', 'in-sync', 'resyncing', 'down'];

export class Agent {
  readonly metrics: MetricsRegistry;
  readonly graph: CalcGraph;
  readonly #o: Required<Pick<AgentOptions, 'batchDelayMs' | 'resyncIntervalMs' | 'countersIntervalMs' | 'retryInitialMs' | 'retryMaxMs'>> & AgentOptions;
  readonly #log: LogFn;
  readonly #store: ResourceStore;
  readonly #syncer: ResourceSyncer;
  readonly #applySeconds: Histogram;
  readonly #applyErrors: Counter;
  readonly #syncStatus: Gauge;
  readonly #localEndpoints: Gauge;
  readonly #rulePackets: Counter;

  #pendingUpdates: ResourceUpdate[] = [];
  #pendingHost: DriverMessage[] = [];
  /** Messages computed before the first in-sync: held, then applied as one batch. */
  #held: DriverMessage[] = [];
  #inSyncSeen = false;
  #programmedOnce = false;
  #status: SyncStatus | undefined;
  #statusDetail = '';
  #stopped = false;
  #batchTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryMs: number;
  #resyncTimer: NodeJS.Timeout | undefined;
  #countersTimer: NodeJS.Timeout | undefined;
  #busy: Promise<void> = Promise.resolve();
  #localBlocks = new Set<string>();
  #blockWatch: WatchHandle | undefined;
  #lastLoop = Date.now();
  #nodeRegistered = false;
  #tunnelDirty = false;
  #tunnelRunning: Promise<void> | undefined;

  constructor(options: AgentOptions) {
    this.#o = {
      batchDelayMs: 5, resyncIntervalMs: DEFAULT_RESYNC_INTERVAL_MS, countersIntervalMs: 15_000,
      retryInitialMs: 100, retryMaxMs: 10_000, ...options,
    };
    this.#retryMs = this.#o.retryInitialMs;
    this.#log = options.log ?? (() => undefined);
    this.metrics = options.metrics ?? new MetricsRegistry();
    this.#store = new ResourceStore(options.datastore);
    this.graph = new CalcGraph({ hostname: options.nodename });
    this.#applySeconds = this.metrics.register(new Histogram('brindle_dataplane_apply_seconds', 'Time to program one batch into the dataplane'));
    this.#applyErrors = this.metrics.register(new Counter('brindle_dataplane_apply_errors_total', 'Dataplane applies or resyncs that failed'));
    this.#syncStatus = this.metrics.register(new Gauge('brindle_sync_status', 'Datastore sync state (1 for the current one)'));
    this.#localEndpoints = this.metrics.register(new Gauge('brindle_active_local_endpoints', 'Workload and host endpoints on this host'));
    this.#rulePackets = this.metrics.register(new Counter('brindle_policy_rule_packets_total', 'Packets counted by each policy or profile rule'));
    this.#syncer = new ResourceSyncer(options.datastore, {
      onUpdates: (updates) => this.#onUpdates(updates),
      onStatus: (status, detail) => this.#onStatus(status, detail),
      onProblem: (key, message) => this.#log('warn', 'skipped an invalid stored value', { key, message }),
    });
  }

  get inSync(): boolean {
    return this.#status === 'in-sync';
  }

  get programmedOnce(): boolean {
    return this.#programmedOnce;
  }

  get nodeRegistered(): boolean {
    return this.#nodeRegistered;
  }

  start(): void {
    this.#log('info', 'agent starting', { nodename: this.#o.nodename, datastore: this.#o.datastore.url });
    void this.#registerNodeLoop();
    this.#syncer.start();
    this.#resyncTimer = setInterval(() => this.#periodicResync(), this.#o.resyncIntervalMs);
    this.#countersTimer = setInterval(() => void this.refreshCounters(), this.#o.countersIntervalMs);
    this.#resyncTimer.unref();
    this.#countersTimer.unref();
  }

  /** Stops following the datastore and programming; the kernel keeps the last state. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of [this.#batchTimer, this.#retryTimer]) if (t) clearTimeout(t);
    for (const t of [this.#resyncTimer, this.#countersTimer]) if (t) clearInterval(t);
    await this.#syncer.stop();
    await this.#blockWatch?.close();
    await this.#busy;
    await this.#tunnelRunning;
    this.#log('info', 'agent stopped; dataplane left in place');
  }

  live(): { ok: boolean; detail: string } {
    return { ok: !this.#stopped, detail: this.#stopped ? 'stopped' : `loop turned ${Date.now() - this.#lastLoop} ms ago` };
  }

  ready(): { ok: boolean; detail: string } {
    const ok = this.inSync && this.#programmedOnce;
    const detail = `sync=${this.#status ?? 'starting'}${this.#statusDetail ? ` (${this.#statusDetail})` : ''} programmed=${this.#programmedOnce}`;
    return { ok, detail };
  }

  metricsText(): string {
    this.#localEndpoints.set(this.graph.stats().localEndpoints);
    return this.metrics.render();
  }

  // The registry is the `metrics` field, so the health server gets an adapter.
  get healthSource(): HealthSource {
    return { live: () => this.live(), ready: () => this.ready(), metrics: () => this.metricsText() };
  }

  // ---- node registration ----

  async #registerNodeLoop(): Promise<void> {
    let delay = this.#o.retryInitialMs;
    while (!this.#stopped) {
      try {
        await this.registerNode();
        this.#kickTunnel();
        return;
      } catch (err) {
        this.#log('warn', 'node registration failed; retrying', { error: (err as Error).message, retryMs: delay });
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, this.#o.retryMaxMs);
      }
    }
  }

  /** Creates this host's Node or CAS-updates its addresses, keeping every other field. */
  async registerNode(): Promise<Node> {
    const addrs = await this.#o.addresses();
    const name = this.#o.nodename;
    for (;;) {
      const existing = await this.#store.get<Node>({ kind: 'Node', name });
      if (!existing) {
        const node: Node = {
          apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name },
          spec: { bgp: { ...(addrs.ipv4 ? { ipv4Address: addrs.ipv4 } : {}), ...(addrs.ipv6 ? { ipv6Address: addrs.ipv6 } : {}) } },
        };
        try {
          const created = await this.#store.create(node);
          this.#nodeRegistered = true;
          this.#log('info', 'node created', { name, ...addrs });
          return created;
        } catch (err) {
          if (err instanceof ExistsError) continue;
          throw err;
        }
      }
      const bgp = { ...(existing.spec?.bgp ?? {}) };
      if (addrs.ipv4) bgp.ipv4Address = addrs.ipv4;
      if (addrs.ipv6) bgp.ipv6Address = addrs.ipv6;
      if (bgp.ipv4Address === existing.spec?.bgp?.ipv4Address && bgp.ipv6Address === existing.spec?.bgp?.ipv6Address) {
        this.#nodeRegistered = true;
        return existing;
      }
      try {
        const updated = await this.#store.update<Node>({ ...existing, spec: { ...existing.spec, bgp } });
        this.#nodeRegistered = true;
        this.#log('info', 'node updated', { name, ...addrs });
        return updated;
      } catch (err) {
        if (err instanceof ConflictError) continue;
        throw err;
      }
    }
  }

  // ---- VXLAN tunnel address ----

  /** Runs the tunnel reconcile until nothing new asked for it; failures retry with backoff. */
  #kickTunnel(): void {
    if (this.#o.vxlanTunnelAddress === false || !this.#nodeRegistered) return;
    this.#tunnelDirty = true;
    if (this.#tunnelRunning) return;
    this.#tunnelRunning = (async () => {
      let delay = this.#o.retryInitialMs;
      while (this.#tunnelDirty && !this.#stopped) {
        this.#tunnelDirty = false;
        try {
          await this.reconcileTunnelAddress();
          delay = this.#o.retryInitialMs;
        } catch (err) {
          this.#log('warn', 'VXLAN tunnel address not reconciled; retrying', { error: (err as Error).message, retryMs: delay });
          this.#tunnelDirty = true;
          await new Promise((r) => setTimeout(r, delay).unref());
          delay = Math.min(delay * 2, this.#o.retryMaxMs);
        }
      }
      this.#tunnelRunning = undefined;
    })();
  }

  /**
   * Makes this host's VXLAN tunnel address match the pools: while an enabled IPv4 VXLAN pool exists the
   * handle holds one address from such a pool (kept across restarts) and the Node carries it with the
   * VTEP MAC; otherwise the address is released and both fields cleared. Returns the address, if any.
   */
  async reconcileTunnelAddress(): Promise<string | undefined> {
    const name = this.#o.nodename;
    const handleId = vxlanTunnelHandle(name);
    const ipam = new Ipam(this.#o.datastore, { host: name });
    const pools = vxlanPools((await this.#store.list<IPPool>('IPPool')).items);
    let ip: string | undefined;
    if (pools.length > 0) {
      const held = await ipam.handleAddresses(handleId);
      const keep = held.find((a) => pools.some((p) => inCidr(a.ip, p.spec.cidr)));
      const stale = held.filter((a) => a !== keep);
      if (stale.length) await ipam.releaseIPs(stale.map((a) => ({ ip: a.ip, handleId, sequenceNumber: a.sequenceNumber })));
      if (keep) {
        ip = keep.ip;
      } else {
        const got = await ipam.autoAssign({
          handleId, num4: 1, pools: pools.map((p) => p.metadata.name), use: 'Tunnel',
          attrs: { node: name, type: 'vxlanTunnelAddress' },
        });
        ip = got.ipv4[0].ip;
        this.#log('info', 'VXLAN tunnel address allocated', { ip });
      }
    } else if ((await ipam.getHandle(handleId)) !== undefined) {
      const released = await ipam.releaseByHandle(handleId);
      this.#log('info', 'VXLAN tunnel address released (no VXLAN pool)', { released });
    }
    const mac = ip ? vxlanMacFor(name, 4) : undefined;
    for (;;) {
      const node = await this.#store.get<Node>({ kind: 'Node', name });
      if (!node) throw new Error(`Node "${name}" is not registered; cannot publish its VXLAN tunnel address`);
      const spec = { ...node.spec };
      if (spec.ipv4VXLANTunnelAddr === ip && spec.vxlanTunnelMACAddr === mac) return ip;
      if (ip) {
        spec.ipv4VXLANTunnelAddr = ip;
        spec.vxlanTunnelMACAddr = mac;
      } else {
        delete spec.ipv4VXLANTunnelAddr;
        delete spec.vxlanTunnelMACAddr;
      }
      try {
        await this.#store.update<Node>({ ...node, spec });
        this.#log('info', 'node VXLAN tunnel fields written', { ip: ip ?? null, mac: mac ?? null });
        return ip;
      } catch (err) {
        if (err instanceof ConflictError) continue;
        throw err;
      }
    }
  }

  // ---- datastore side ----

  #onStatus(status: SyncStatus, detail?: string): void {
    this.#status = status;
    this.#statusDetail = detail ?? '';
    for (const s of SYNC_STATES) this.#syncStatus.set(s === status ? 1 : 0, { status: s });
    this.#log(status === 'down' ? 'warn' : 'info', 'sync status', { status, ...(detail ? { detail } : {}) });
  }

  #onUpdates(updates: ResourceUpdate[]): void {
    for (const u of updates) {
      this.#pendingUpdates.push(u);
      if (u.type === 'put' && u.resource.kind === 'IPPool') {
        this.#pendingHost.push({ type: 'IpPoolUpdate', id: u.resource.metadata.name, pool: poolInfo(u.resource as IPPool) });
        this.#kickTunnel();
      } else if (u.type === 'delete' && u.kind === 'IPPool') {
        this.#pendingHost.push({ type: 'IpPoolRemove', id: u.name });
        this.#kickTunnel();
      } else if (u.type === 'in-sync') {
        void this.#startBlockWatch();
      }
    }
    this.#scheduleBatch();
  }

  #scheduleBatch(): void {
    if (this.#batchTimer || this.#stopped) return;
    this.#batchTimer = setTimeout(() => {
      this.#batchTimer = undefined;
      this.#enqueue(() => this.#flushBatch());
    }, this.#o.batchDelayMs);
  }

  /** Serialises loop work; a failure of one step is logged, never thrown. */
  #enqueue(step: () => Promise<void>): void {
    this.#busy = this.#busy.then(async () => {
      if (this.#stopped) return;
      this.#lastLoop = Date.now();
      try {
        await step();
      } catch (err) {
        this.#log('error', 'agent loop step failed', { error: (err as Error).message });
      }
    });
  }

  async #flushBatch(): Promise<void> {
    const updates = this.#pendingUpdates;
    this.#pendingUpdates = [];
    const out: DriverMessage[] = [];
    if (updates.length) {
      const messages = this.graph.apply(updates);
      // Pool and block messages go before the calc graph's, so InSync arrives with them in place.
      out.push(...this.#pendingHost, ...messages);
      this.#pendingHost = [];
      for (const p of this.graph.problems()) this.#log('warn', 'calc problem', { resource: p.resource, message: p.message });
    } else {
      out.push(...this.#pendingHost);
      this.#pendingHost = [];
    }
    if (!this.#inSyncSeen) {
      const inSync = out.findIndex((m) => m.type === 'InSync');
      if (inSync < 0) {
        this.#held.push(...out);
        return;
      }
      // The block listing is read once before the first programming, so blackholes come with it.
      await this.#refreshBlocks();
      const hostNow = this.#pendingHost;
      this.#pendingHost = [];
      const rest = out.filter((m) => m.type !== 'InSync');
      out.length = 0;
      out.push(...this.#held, ...hostNow, ...rest, { type: 'InSync' });
      this.#held = [];
      this.#inSyncSeen = true;
    }
    if (out.length) await this.#program(out, 'apply');
  }

  async #program(messages: DriverMessage[], why: 'apply' | 'retry' | 'resync'): Promise<boolean> {
    const t0 = performance.now();
    const results = await Promise.allSettled(why === 'resync'
      ? [this.#o.nft.resync(), this.#o.routes.resync()]
      : [this.#o.nft.apply(messages), this.#o.routes.apply(messages)]);
    const seconds = (performance.now() - t0) / 1000;
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (why === 'resync') {
      const repaired = results.map((r) => (r.status === 'fulfilled' ? repairsIn(r.value) : 0));
      if (repaired.some((n) => n > 0)) this.#log('info', 'dataplane drift repaired', { nft: repaired[0], routes: repaired[1] });
    }
    // Route lines the kernel refused (an interface not there yet, a stale endpoint) stay dirty in the
    // driver: they are retried with backoff but do not make the batch a failure or block readiness.
    const pending = this.#o.routes.pendingRetries?.() ?? 0;
    if (failed.length === 0) {
      this.#applySeconds.observe(seconds);
      if (!this.#programmedOnce) this.#log('info', 'dataplane programmed', { seconds, messages: messages.length, routePending: pending });
      else this.#log('debug', 'dataplane programmed', { why, seconds, messages: messages.length, routePending: pending });
      this.#programmedOnce = true;
      if (pending === 0) {
        this.#retryMs = this.#o.retryInitialMs;
        return true;
      }
      this.#scheduleRetry();
      return false;
    }
    this.#applyErrors.inc();
    const errors = failed.map((f) => (f.reason instanceof Error ? f.reason.message : String(f.reason)));
    this.#log('warn', 'dataplane programming failed; retrying', { why, errors, routePending: pending, retryMs: this.#retryMs });
    this.#scheduleRetry();
    return false;
  }

  #scheduleRetry(): void {
    if (this.#retryTimer || this.#stopped) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, this.#o.retryMaxMs);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      // The drivers kept the failed work; an empty apply re-runs it (nft reads the kernel back first).
      this.#enqueue(async () => {
        await this.#program([], 'retry');
      });
    }, delay);
  }

  #periodicResync(): void {
    if (!this.#inSyncSeen) return;
    this.#enqueue(async () => {
      await this.#refreshBlocks();
      const blocks = this.#pendingHost;
      this.#pendingHost = [];
      if (blocks.length) await this.#program(blocks, 'apply');
      await this.#program([], 'resync');
      await this.refreshCounters();
    });
  }

  // ---- IPAM blocks affine to this host ----

  /** Lists IPAM blocks and queues LocalBlockUpdate/Remove for the difference with what the drivers have. */
  async #refreshBlocks(): Promise<number> {
    let listing;
    try {
      listing = await this.#o.datastore.list(BLOCKS_PREFIX);
    } catch (err) {
      this.#log('warn', 'could not list IPAM blocks', { error: (err as Error).message });
      return 0;
    }
    const mine = new Set<string>();
    for (const kv of listing.items) {
      try {
        const b = JSON.parse(kv.value) as { cidr?: string; affinity?: string | null };
        if (b.cidr && b.affinity === `host:${this.#o.nodename}`) mine.add(b.cidr);
      } catch {
        this.#log('warn', 'undecodable IPAM block', { key: kv.key });
      }
    }
    for (const c of mine) if (!this.#localBlocks.has(c)) this.#pendingHost.push({ type: 'LocalBlockUpdate', cidr: c });
    for (const c of this.#localBlocks) if (!mine.has(c)) this.#pendingHost.push({ type: 'LocalBlockRemove', cidr: c });
    this.#localBlocks = mine;
    return listing.revision;
  }

  async #startBlockWatch(): Promise<void> {
    if (this.#blockWatch || this.#stopped) return;
    let revision: number;
    try {
      revision = await this.#o.datastore.revision();
    } catch {
      return; // the periodic resync relists blocks; the watch is an optimisation
    }
    if (this.#stopped) return;
    this.#blockWatch = this.#o.datastore.watch(BLOCKS_PREFIX, revision, {
      onEvents: () => {
        this.#enqueue(async () => {
          await this.#refreshBlocks();
          this.#scheduleBatch();
        });
      },
      onError: (err) => {
        this.#blockWatch = undefined;
        this.#log('warn', 'IPAM block watch ended; blocks are relisted on resync and the watch restarted', { error: err.message });
        if (!this.#stopped) setTimeout(() => void this.#startBlockWatch(), this.#o.retryMaxMs).unref();
      },
    });
  }

  // ---- rule counters ----

  /** Reads nft rule counters into brindle_policy_rule_packets_total (series of deleted rules dropped). */
  async refreshCounters(): Promise<void> {
    if (!this.#programmedOnce || this.#stopped) return;
    let counters: RuleCounter[];
    try {
      counters = await this.#o.nft.counters();
    } catch (err) {
      this.#log('warn', 'could not read rule counters', { error: (err as Error).message });
      return;
    }
    const sums = new Map<string, { labels: Record<string, string>; packets: number }>();
    for (const c of counters) {
      const labels = counterLabels(c.comment);
      if (!labels) continue;
      const key = JSON.stringify(labels);
      const e = sums.get(key) ?? { labels, packets: 0 };
      e.packets += c.packets;
      sums.set(key, e);
    }
    this.#rulePackets.retain(() => false);
    for (const { labels, packets } of sums.values()) this.#rulePackets.set(labels, packets);
  }
}
