// Public face of src/ipam: block IPAM over the Datastore interface (allocate, release, inspect),
// the `ipam check` report with release-from-report, and the leak garbage collector. The CNI plugin
// and brindlectl import IPAM only through this file.

export { Ipam, IpamExhaustedError, DEFAULT_IPAM_CONFIG, STALE_CLAIM_MS } from './ipam.ts';
export type {
  AssignedAddress,
  AssignIpRequest,
  AutoAssignRequest,
  AutoAssignResult,
  BlockAffinity,
  BlockInfo,
  IpamConfig,
  IpamCounters,
  IpamHandle,
  IpamOptions,
  IpamUsage,
  IpInfo,
  PoolUsage,
  ReleaseRequest,
  ReleaseResult,
} from './ipam.ts';
export type { AllocationBlock, BlockAllocation, BlockAttribute } from './block.ts';
export { checkIpam, inspectIpam, leakId, parseCheckReport, releaseFromReport, CHECK_REPORT_KIND } from './check.ts';
export type {
  DeletedHostBlock,
  EndpointWithoutAllocation,
  IpamCheckReport,
  IpamInspection,
  LeakedAllocation,
  ReleaseFromReportResult,
  SharedAddress,
} from './check.ts';
export { IpamGarbageCollector, DEFAULT_LEAK_GRACE_MS } from './gc.ts';
export type { IpamGcOptions, IpamGcResult } from './gc.ts';
export { AFFINITIES_PREFIX, BLOCKS_PREFIX, HANDLES_PREFIX, IPAM_CONFIG_KEY, IPAM_PREFIX, blockName } from './keys.ts';
