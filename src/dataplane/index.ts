// Public face of src/dataplane: the drivers the agent calls with batches of dataplane messages — the
// nftables policy driver (one `inet brindle` table, one transaction per batch, drift repair on resync)
// and the routes and links driver (routes, blackholes, VXLAN devices and entries, workload sysctls) —
// plus the pure renderers behind them and the namespace lab that tests and benchmarks use.
//
//   agent ──DriverMessage[]──► NftablesDriver.apply() / RoutesDriver.apply() ; periodic resync()

export { NftablesDriver } from './nftables-driver.ts';
export type { NftablesDriverOptions, NftProgramResult } from './nftables-driver.ts';
export { RoutesDriver } from './routes-driver.ts';
export type { RoutesDriverOptions, RoutesProgramResult } from './routes-driver.ts';
export type { DriverMessage, HostDataplaneMessage, IpPoolInfo } from './host-messages.ts';
export { NftTableManager } from './nft-table.ts';
export { NftModel, scriptFor, observedChange, changeSummary } from './nft-model.ts';
export type { NftChange, NftChain, NftRule, NftSetDecl } from './nft-model.ts';
export { DEFAULT_FAILSAFE_INBOUND, DEFAULT_FAILSAFE_OUTBOUND, defaultRenderOptions } from './nft-render.ts';
export type { FailsafePort, NftRenderOptions } from './nft-render.ts';
export { renderRuleProgram, ruleMatchVariants } from './nft-rules.ts';
export { parseTable, parseCounters } from './nft-readback.ts';
export type { RuleCounter } from './nft-readback.ts';
export { runNft, listTableJson } from './nft-exec.ts';
export { desiredRoutes, desiredVxlanDevices, desiredVxlanPeers } from './route-model.ts';
export type { KernelRoute, VxlanDevice, VxlanPeer } from './route-model.ts';
// Test and benchmark support (namespaces with Calico-style workloads, probe servers and clients).
export { Lab, createLab, PROBE_TCP_PORTS, PROBE_UDP_PORTS } from './test-lab.ts';
export type { LabPod, LabPodSpec, Probe, ProbeResult } from './test-lab.ts';
