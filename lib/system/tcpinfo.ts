// TCP_INFO, read through the addon, decoded into the TFO outcome of one
// connection. Slot order and flag values come from the addon (C headers).
import { native, type NativeBinding, type TcpInfoField } from '../base/native';

/** The TCP_INFO fields tfo reads (units as the kernel gives them: rtt in µs). */
export type TcpInfo = Record<TcpInfoField, number>;

/** Kernel reason a client's TFO attempt did not carry data (`tcpi_fastopen_client_fail`). */
export type FastOpenFailure = 'cookie-unavailable' | 'data-not-acked' | 'syn-retransmitted';

const FAILURES: Record<number, FastOpenFailure> = {
  1: 'cookie-unavailable',
  2: 'data-not-acked',
  3: 'syn-retransmitted',
};

/** Decodes `tcpi_fastopen_client_fail` (0 = nothing to report). */
export function decodeClientFail(code: number): FastOpenFailure | null {
  return FAILURES[code] ?? null;
}

let scratch: Float64Array | null = null;
let shared: TcpInfo | null = null;

/**
 * TCP_INFO of `fd`, or a negative errno. The object is shared and overwritten
 * by the next call: read what you need at once. (This runs on every connect;
 * a fresh object each time was measurable garbage per connection.)
 */
export function readTcpInfo(binding: NativeBinding, fd: number): TcpInfo | number {
  const fields = binding.TCP_INFO_FIELDS;
  if (!scratch) scratch = new Float64Array(fields.length);
  const r = binding.tcpInfo(fd, scratch);
  if (r < 0) return r;
  const out = shared ?? (shared = {} as TcpInfo);
  for (let i = 0; i < fields.length; i++) out[fields[i]] = scratch[i];
  return out;
}

/** Whether TCP_INFO says the SYN carried data that was accepted (TCPI_OPT_SYN_DATA). */
export function synDataAccepted(info: TcpInfo): boolean {
  const flag = native.binding?.constants.TCPI_OPT_SYN_DATA;
  return flag !== undefined && (info.options & flag) !== 0;
}
