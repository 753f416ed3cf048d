// TCP_INFO, read through the addon, decoded into the TFO outcome of one
// connection. Slot order and flag values come from the addon (C headers).
import { native, type NativeBinding, type TcpInfoField } from '../base/native';

/** The TCP_INFO fields tfo reads (units as the kernel gives them: rtt in µs). */
export type TcpInfo = Record<TcpInfoField, number>;

/** Kernel reason a client's TFO attempt did not carry data (`tcpi_fastopen_client_fail`). */
export type FastOpenFailure = 'cookie-unavailable' | 'data-not-acked' | 'syn-retransmitted';

/**
 * @internal The kernel's codes of `tcpi_fastopen_client_fail`, by tfo's name:
 * `enum tcp_fastopen_client_fail` of <linux/tcp.h>, from the addon
 * (`TFO_STATUS_UNSPEC`, 0, means nothing to report and has no name). Empty
 * without the addon, where no TCP_INFO is read.
 */
export const FAILURE_CODES: Readonly<Partial<Record<FastOpenFailure, number>>> = Object.freeze(
  native.binding
    ? {
        'cookie-unavailable': native.binding.constants.TFO_COOKIE_UNAVAILABLE,
        'data-not-acked': native.binding.constants.TFO_DATA_NOT_ACKED,
        'syn-retransmitted': native.binding.constants.TFO_SYN_RETRANSMITTED,
      }
    : {},
);

const FAILURES = new Map<number, FastOpenFailure>(
  (Object.entries(FAILURE_CODES) as [FastOpenFailure, number][]).map(([name, code]) => [code, name]),
);

/** Decodes `tcpi_fastopen_client_fail` (`TFO_STATUS_UNSPEC` = nothing to report). */
export function decodeClientFail(code: number): FastOpenFailure | null {
  return FAILURES.get(code) ?? null;
}

/** @internal The kernel's code of a failure (`TFO_STATUS_UNSPEC` for none); the inverse of {@link decodeClientFail}. */
export function clientFailCode(failure: FastOpenFailure | null | undefined): number {
  const unspec = native.binding?.constants.TFO_STATUS_UNSPEC ?? 0;
  return failure ? (FAILURE_CODES[failure] ?? unspec) : unspec;
}

/**
 * @internal Width in bits of `tcpi_fastopen_client_fail` in struct tcp_info
 * (from the addon): every code fits in it. 0 without the addon (no codes).
 */
export const CLIENT_FAIL_BITS: number = native.binding?.constants.TCPI_FASTOPEN_CLIENT_FAIL_BITS ?? 0;

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
