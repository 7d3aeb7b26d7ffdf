// Waiting for state that other processes or the kernel produce: poll a probe until it yields a
// truthy value or a deadline passes. Tests, the lab and benchmarks use this instead of fixed sleeps.

export interface PollOptions {
  /** Pause between probes (ms); default 100. */
  intervalMs?: number;
  /** Treat a probe that throws as "not yet" (the last error is quoted on timeout); default false. */
  tolerateErrors?: boolean;
}

/** Resolves with the probe's first truthy value; rejects naming `what` once deadlineMs has passed. */
export async function pollUntil<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  deadlineMs = 5000,
  options: PollOptions = {},
): Promise<T> {
  const end = Date.now() + deadlineMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      if (!options.tolerateErrors) throw err;
      lastError = err;
    }
    if (Date.now() > end) {
      const why = lastError ? `: ${(lastError as Error).message}` : '';
      throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}
