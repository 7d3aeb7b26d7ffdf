// The CNI error contract: every failure of brindle-cni / brindle-ipam becomes one CniError with the
// spec's code (0–99 reserved by the spec, 100+ ours), a message a person can act on, and optional
// details; cni-main prints it as the spec's error JSON on stdout and exits non-zero.
//
//   handler throws (CniError | BrindleError | anything) ──toCniError──► {"cniVersion","code","msg","details"}

import { BrindleError, CommandError, ConflictError, DatastoreError, ExistsError, InvalidError } from '../lib/index.ts';
import { IpamExhaustedError } from '../ipam/index.ts';

/** Codes from the CNI specification and brindle's own (100+). */
export const CNI_ERROR = {
  /** The config's cniVersion is not one this plugin speaks. */
  INCOMPATIBLE_VERSION: 1,
  /** A field's value is well-formed but not supported; the message names key and value. */
  UNSUPPORTED_FIELD: 2,
  /** The container (its network namespace) does not exist; the runtime need not call DEL. */
  UNKNOWN_CONTAINER: 3,
  /** A CNI_* environment variable is missing or invalid; the message names it. */
  INVALID_ENVIRONMENT: 4,
  /** Reading stdin failed. */
  IO_FAILURE: 5,
  /** stdin is not JSON. */
  DECODE_FAILURE: 6,
  /** The network config is invalid (missing or mistyped field). */
  INVALID_NETWORK_CONFIG: 7,
  /** Transient: the datastore is unreachable or busy; the runtime may retry. */
  TRY_AGAIN_LATER: 11,
  /** STATUS: the plugin cannot serve ADD now. */
  PLUGIN_NOT_AVAILABLE: 50,
  /** No address left in the pools this workload may use. */
  IPAM_EXHAUSTED: 100,
  /** The interface to create already exists in the container. */
  INTERFACE_EXISTS: 101,
  /** A kernel change (ip, sysctl, nsenter) failed. */
  KERNEL_FAILURE: 102,
  /** CHECK found the kernel or the store different from the ADD result. */
  CHECK_FAILED: 103,
  /** The datastore answered with an error that retrying will not fix. */
  DATASTORE_FAILURE: 104,
  /** A requested address (CNI_ARGS IP=, runtimeConfig.ips) belongs to someone else. */
  ADDRESS_IN_USE: 105,
  /** A bug: an error nobody expected. */
  INTERNAL: 999,
} as const;

export class CniError extends Error {
  readonly cniCode: number;
  readonly details: string | undefined;

  constructor(code: number, message: string, details?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CniError';
    this.cniCode = code;
    this.details = details;
  }
}

/** The JSON a failing plugin prints on stdout. */
export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** Maps any thrown value to a CniError, choosing the code from the error family. */
export function toCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof IpamExhaustedError) {
    return new CniError(CNI_ERROR.IPAM_EXHAUSTED, err.message, undefined, { cause: err });
  }
  if (err instanceof ExistsError) return new CniError(CNI_ERROR.ADDRESS_IN_USE, err.message, undefined, { cause: err });
  // Compare-and-swap kept losing to other writers: transient by nature.
  if (err instanceof ConflictError) return new CniError(CNI_ERROR.TRY_AGAIN_LATER, err.message, undefined, { cause: err });
  if (err instanceof DatastoreError) {
    return new CniError(CNI_ERROR.TRY_AGAIN_LATER, `Datastore unavailable: ${err.message}`, undefined, { cause: err });
  }
  if (err instanceof CommandError) return new CniError(CNI_ERROR.KERNEL_FAILURE, err.message, undefined, { cause: err });
  if (err instanceof InvalidError) return new CniError(CNI_ERROR.INVALID_NETWORK_CONFIG, err.message, undefined, { cause: err });
  if (err instanceof BrindleError) return new CniError(CNI_ERROR.DATASTORE_FAILURE, err.message, undefined, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new CniError(CNI_ERROR.INTERNAL, `Internal error: ${message}`, err instanceof Error ? err.stack : undefined, { cause: err });
}

export function errorJson(err: CniError, cniVersion: string): CniErrorJson {
  const out: CniErrorJson = { cniVersion, code: err.cniCode, msg: err.message };
  if (err.details !== undefined) out.details = err.details;
  return out;
}
