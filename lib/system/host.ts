// Facts about where this process runs that diagnostics need: its
// capabilities and the identity of the initial network namespace. The numbers
// come from the addon (C headers); without it the answers are "unknown".
import * as fs from 'node:fs';

import { native } from '../base/native';

/**
 * Whether CAP_NET_ADMIN is in this process's effective capability set (read
 * from /proc/self/status), which writing net.* sysctls needs; null when
 * unknown (no addon, or the file is unreadable).
 */
export function capNetAdmin(): boolean | null {
  const bit = native.binding?.constants.CAP_NET_ADMIN;
  if (bit === undefined) return null;
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'latin1'));
    return m ? ((BigInt(`0x${m[1]}`) >> BigInt(bit)) & 1n) === 1n : null;
  } catch {
    return null;
  }
}

/**
 * The inode of the initial network namespace on Linux >= 6.18, where it is
 * fixed (`NET_NS_INIT_INO`); null without the addon.
 */
export const initialNetnsInode: number | null = native.binding?.constants.NET_NS_INIT_INO ?? null;
