// Network namespace facts the plugins need before acting: does a path name a namespace at all
// (CNI_NETNS may be stale or mistyped), and the /run/netns path of a named namespace.
//
//   cni ADD/CHECK ──netnsState(CNI_NETNS)──► 'netns' | 'missing' | 'not-a-namespace'

import { statfs } from 'node:fs/promises';

/** statfs() f_type of nsfs, the file system of /proc/PID/ns/* and of their bind mounts in /run/netns. */
export const NSFS_MAGIC = 0x6e736673;

export const NETNS_RUN_DIR = '/run/netns';

export function namedNetnsPath(name: string): string {
  return `${NETNS_RUN_DIR}/${name}`;
}

export type NetnsState = 'netns' | 'missing' | 'not-a-namespace';

/**
 * Whether `path` is a namespace file. nsfs does not tell a network namespace from another kind;
 * iproute2 rejects those when it is asked to use one.
 */
export async function netnsState(path: string): Promise<NetnsState> {
  try {
    const st = await statfs(path);
    return Number(st.type) === NSFS_MAGIC ? 'netns' : 'not-a-namespace';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    return 'not-a-namespace';
  }
}
