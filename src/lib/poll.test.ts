// pollUntil: returns the first truthy probe value, times out naming what it waited for, and
// tolerates throwing probes only when asked.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { pollUntil } from './poll.ts';

it('returns the first truthy value of the probe', async () => {
  let n = 0;
  assert.equal(await pollUntil('third call', () => (++n >= 3 ? n : false), 2000, { intervalMs: 1 }), 3);
});

it('times out with what it waited for and the last error when errors are tolerated', async () => {
  await assert.rejects(pollUntil('a route', () => false, 30, { intervalMs: 5 }), /timed out after 30 ms waiting for a route$/);
  await assert.rejects(
    pollUntil('the agent', () => { throw new Error('connection refused'); }, 30, { intervalMs: 5, tolerateErrors: true }),
    /waiting for the agent: connection refused/,
  );
  await assert.rejects(pollUntil('x', () => { throw new Error('boom'); }, 1000), /^Error: boom$/);
});
