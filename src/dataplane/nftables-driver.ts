// The nftables driver the agent calls: apply(messages) programs what a batch changed as ONE `nft -f -`
// transaction (set elements, a chain flush+refill, map elements — never a reload); resync() reads the
// table back and repairs drift (a flushed chain, a deleted table, foreign rules in our chains).
//
//   agent ──apply(batch)──► NftTableManager (render dirty) ──journal──► script ──► nft -f -
//         ──resync()─────► nft -j list table ──parseTable──► observedChange ──► repair script ──► nft -f -
//
// Awkward cases handled: nothing touches the kernel before the first InSync; the first programming after
// start reads the kernel and repairs in place (a restart keeps unchanged chains, their counters and
// live flows); a failed transaction changes nothing in the kernel, so the next call reconciles from a
// readback instead of trusting the journal; calls are serialised.

import type { CommandRunner } from '../os/index.ts';
import { changeSummary, isEmptyChange, observedChange, scriptFor } from './nft-model.ts';
import type { NftChange } from './nft-model.ts';
import { listTableJson, runNft } from './nft-exec.ts';
import { parseCounters, parseTable } from './nft-readback.ts';
import type { RuleCounter } from './nft-readback.ts';
import { NftTableManager } from './nft-table.ts';
import type { NftRenderOptions } from './nft-render.ts';
import type { DriverMessage } from './host-messages.ts';

export interface NftablesDriverOptions extends Partial<NftRenderOptions> {
  runner: CommandRunner;
  /** Network namespace path to program; null = this process's own (a real host). Explicit so tests cannot forget it. */
  netns: string | null;
  timeoutMs?: number;
}

export interface NftProgramResult {
  /** Nothing was written: waiting for the first InSync. */
  deferred: boolean;
  /** What the transaction did (all zero when the kernel already matched). */
  summary: Record<string, number>;
  /** The transaction text ('' when none ran). */
  script: string;
  /** True when this call read the kernel back (first programming, resync, or after a failure). */
  readBack: boolean;
  durationMs: number;
}

export class NftablesDriver {
  readonly manager: NftTableManager;
  private readonly runner: CommandRunner;
  private readonly netns: string | undefined;
  private readonly timeoutMs: number | undefined;
  private needsReadback = true;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: NftablesDriverOptions) {
    const { runner, netns, timeoutMs, ...render } = options;
    this.runner = runner;
    this.netns = netns ?? undefined;
    this.timeoutMs = timeoutMs;
    this.manager = new NftTableManager(render);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Applies a batch of messages and programs its effect; throws CommandFailure when nft refuses. */
  apply(messages: Iterable<DriverMessage>): Promise<NftProgramResult> {
    const batch = [...messages];
    return this.serial(async () => {
      this.manager.applyAll(batch);
      return this.program(false);
    });
  }

  /** Reads the table back and repairs any difference from the desired state. */
  resync(): Promise<NftProgramResult> {
    return this.serial(() => this.program(true));
  }

  private async program(forceReadback: boolean): Promise<NftProgramResult> {
    const t0 = performance.now();
    if (!this.manager.inSync) return { deferred: true, summary: {}, script: '', readBack: false, durationMs: 0 };
    this.manager.render();
    const model = this.manager.model;
    let change: NftChange;
    const readBack = forceReadback || this.needsReadback;
    if (readBack) {
      const doc = await listTableJson(this.runner, { netns: this.netns, timeoutMs: this.timeoutMs });
      change = observedChange(model, doc === undefined ? undefined : parseTable(doc));
    } else {
      change = model.takeChange();
    }
    let script = '';
    if (!isEmptyChange(change)) {
      script = scriptFor(change, model);
      try {
        await runNft(this.runner, script, { netns: this.netns, timeoutMs: this.timeoutMs });
      } catch (err) {
        this.needsReadback = true;
        throw err;
      }
    }
    model.commit();
    this.needsReadback = false;
    return { deferred: false, summary: changeSummary(change), script, readBack, durationMs: performance.now() - t0 };
  }

  /** The whole desired table as one script (what a full reload would load). */
  fullScript(): string {
    this.manager.render();
    return this.manager.model.fullScript();
  }

  /** Per-rule packet and byte counters, attributed by the rule comments. */
  async counters(): Promise<RuleCounter[]> {
    const doc = await listTableJson(this.runner, { netns: this.netns, timeoutMs: this.timeoutMs });
    return doc === undefined ? [] : parseCounters(doc);
  }
}
