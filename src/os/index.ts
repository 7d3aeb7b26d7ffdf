// Public face of src/os, the only layer that touches the host: the command runner and its fake,
// iproute2 batch/JSON helpers, sysctl through /proc/sys, network namespace checks, and throwaway
// namespaces for root tests and benchmarks. Other folders import os only through this file.

export { ProcessRunner, CommandFailure, formatCommandLine, shellQuote, DEFAULT_COMMAND_TIMEOUT_MS } from './command-runner.ts';
export type { CommandRunner, CommandResult, RunOptions } from './command-runner.ts';
export { FakeRunner } from './fake-runner.ts';
export type { RecordedCall, FakeReply } from './fake-runner.ts';
export {
  inNetns,
  ipBatch,
  ipJson,
  getLink,
  linkPresentHere,
  listLinks,
  listAddresses,
  listRoutes,
  isNoSuchDevice,
  isAlreadyExists,
  isBadNetns,
  IP_BINARY,
  NSENTER_BINARY,
} from './ip.ts';
export type { NetnsOption, IpLink, IpAddrInfo, IpAddrLink, IpRoute } from './ip.ts';
export { sysctlPath, writeSysctls, readSysctl, readSysctlIn, PROC_SYS } from './sysctl.ts';
export type { SysctlEntries } from './sysctl.ts';
export { netnsState, namedNetnsPath, NSFS_MAGIC, NETNS_RUN_DIR } from './netns.ts';
export type { NetnsState } from './netns.ts';
export {
  createThrowawayNetns,
  createTestHost,
  deleteAllThrowawayNetns,
  isRoot,
  missingTools,
  rootTestSkipReason,
  ThrowawayNetns,
  TEST_HOST_UPLINK,
} from './throwaway-netns.ts';
