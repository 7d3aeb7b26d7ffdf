// Public face of src/agent: the per-host agent (composition root and main loop), its command line,
// node address autodetection, metrics registry and health server. src/bin/brindle-agent.ts runs
// runAgentCli; the lab and tests use Agent directly.

export { Agent, counterLabels, poolInfo, vxlanPools, vxlanTunnelHandle, DEFAULT_RESYNC_INTERVAL_MS } from './agent.ts';
export type { AgentDriver, AgentNftDriver, AgentRoutesDriver, AgentOptions, LogFn, NodeAddresses } from './agent.ts';
export { runAgentCli, parseAgentFlags, parseDuration, jsonLogger, AGENT_USAGE, DEFAULT_HEALTH_PORT } from './agent-cli.ts';
export type { AgentFlags, AgentCliIo } from './agent-cli.ts';
export { detectNodeAddress, parseAutodetectMethod, DEFAULT_SKIPPED_INTERFACES } from './node-address.ts';
export type { AutodetectMethod } from './node-address.ts';
export { MetricsRegistry, Counter, Gauge, Histogram, DEFAULT_SECONDS_BUCKETS } from './metrics.ts';
export { startHealthServer } from './health-server.ts';
export type { HealthSource, HealthServer } from './health-server.ts';
