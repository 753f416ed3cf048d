// The one place that builds errors. System errors look exactly like Node's own
// (`connect ECONNREFUSED 127.0.0.1:9` with code, negative errno, syscall,
// address, port); argument misuse throws Node's `ERR_*` codes with Node's
// wording, so code that checks `err.code` cannot tell tfo from net.
import { inspect, getSystemErrorName } from 'node:util';

/** An error from a system call, shaped like Node's `ErrnoException`. */
export interface SystemError extends Error {
  /** Negative errno, as in Node (`-111` for ECONNREFUSED on Linux). */
  errno: number;
  /** Symbolic code, e.g. `'ECONNREFUSED'`. */
  code: string;
  /** The system call that failed, e.g. `'connect'`. */
  syscall: string;
  address?: string;
  port?: number;
  /** Extra context that is not part of Node's shape (e.g. the file a sysctl write used). */
  path?: string;
}

/** Symbolic name of a negative (or positive) errno: `-111` → `'ECONNREFUSED'`. */
export function errnoName(errno: number): string {
  const n = errno > 0 ? -errno : errno;
  try {
    return getSystemErrorName(n);
  } catch {
    return `Unknown system error ${n}`;
  }
}

/** `new Error('<syscall> <CODE>[ <extra>]')` with errno, code and syscall set. */
export function errnoException(errno: number, syscall: string, extra?: string): SystemError {
  const n = errno > 0 ? -errno : errno;
  const code = errnoName(n);
  const err = new Error(`${syscall} ${code}${extra ? ` ${extra}` : ''}`) as SystemError;
  err.errno = n;
  err.code = code;
  err.syscall = syscall;
  Error.captureStackTrace(err, errnoException);
  return err;
}

/** Like Node's `exceptionWithHostPort`: `connect ECONNREFUSED 127.0.0.1:9`. */
export function exceptionWithHostPort(errno: number, syscall: string, address: string, port?: number, localDetails?: string): SystemError {
  let details = port && port > 0 ? `${address}:${port}` : address;
  if (localDetails) details += ` - Local (${localDetails})`;
  const err = errnoException(errno, syscall, details);
  err.address = address;
  if (port) err.port = port;
  Error.captureStackTrace(err, exceptionWithHostPort);
  return err;
}

type ErrorClass = typeof Error | typeof TypeError | typeof RangeError;

/** An error carrying one of Node's `ERR_*` codes, printed as Node prints them. */
export interface NodeCodedError extends Error {
  code: string;
}

function coded(Base: ErrorClass, code: string, message: string, skip: (...args: never[]) => unknown): NodeCodedError {
  const err = new Base(message) as NodeCodedError;
  Object.defineProperty(err, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  // Node prints `TypeError [ERR_X]: message` in stacks and toString().
  Object.defineProperty(err, 'toString', {
    value() {
      return `${err.name} [${code}]: ${err.message}`;
    },
    enumerable: false,
    writable: true,
    configurable: true,
  });
  const name = err.name;
  err.name = `${name} [${code}]`;
  Error.captureStackTrace(err, skip);
  void err.stack; // materialise the stack with the code in its first line
  err.name = name;
  return err;
}

/** Node's wording for "what was received", as in `Received type string ('x')`. */
export function describeReceived(value: unknown): string {
  if (value == null) return ` Received ${value}`;
  if (typeof value === 'function' && value.name) return ` Received function ${value.name}`;
  if (typeof value === 'object') {
    const ctor = (value as { constructor?: { name?: string } }).constructor;
    if (ctor?.name) return ` Received an instance of ${ctor.name}`;
    return ` Received ${inspect(value, { depth: -1 })}`;
  }
  let shown = inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return ` Received type ${typeof value} (${shown})`;
}

function formatList(items: string[], word: string): string {
  if (items.length <= 2) return items.join(` ${word} `);
  return `${items.slice(0, -1).join(', ')}, ${word} ${items[items.length - 1]}`;
}

function argName(name: string): string {
  if (name.endsWith(' argument')) return `The ${name}`;
  return `The "${name}" ${name.includes('.') ? 'property' : 'argument'}`;
}

const TYPE_NAMES = new Set(['string', 'function', 'number', 'object', 'boolean', 'bigint', 'symbol']);

/** `ERR_INVALID_ARG_TYPE`: `The "port" argument must be of type number. Received ...` */
export function invalidArgType(name: string, expected: string | string[], actual: unknown): NodeCodedError {
  const list = Array.isArray(expected) ? expected : [expected];
  // Node lowercases 'Function' and 'Object' into type names.
  const isType = (t: string) => TYPE_NAMES.has(t) || t === 'Function' || t === 'Object';
  const types = list.filter(isType).map((t) => t.toLowerCase());
  const instances = list.filter((t) => !isType(t));
  const parts: string[] = [];
  if (types.length > 0) parts.push(`${types.length > 1 ? 'one of type' : 'of type'} ${formatList(types, 'or')}`);
  if (instances.length > 0) parts.push(`an instance of ${formatList(instances, 'or')}`);
  const msg = `${argName(name)} must be ${parts.join(' or ')}.${describeReceived(actual)}`;
  return coded(TypeError, 'ERR_INVALID_ARG_TYPE', msg, invalidArgType);
}

/** `ERR_INVALID_ARG_VALUE`: `The argument 'x' is invalid. Received ...` */
export function invalidArgValue(name: string, value: unknown, reason = 'is invalid'): NodeCodedError {
  const kind = name.includes('.') ? 'property' : 'argument';
  const msg = `The ${kind} '${name}' ${reason}. Received ${inspect(value)}`;
  return coded(TypeError, 'ERR_INVALID_ARG_VALUE', msg, invalidArgValue);
}

/** `ERR_OUT_OF_RANGE`: `The value of "x" is out of range. It must be ... Received ...` */
export function outOfRange(name: string, range: string, received: unknown): NodeCodedError {
  const msg = `The value of "${name}" is out of range. It must be ${range}. Received ${inspect(received)}`;
  return coded(RangeError, 'ERR_OUT_OF_RANGE', msg, outOfRange);
}

/** `ERR_SOCKET_BAD_PORT`: `Port should be >= 0 and < 65536. Received ...` */
export function socketBadPort(name: string, port: unknown, allowZero = true): NodeCodedError {
  const op = allowZero ? '>=' : '>';
  const msg = `${name} should be ${op} 0 and < 65536.${describeReceived(port)}.`;
  return coded(RangeError, 'ERR_SOCKET_BAD_PORT', msg, socketBadPort);
}

/** `ERR_SOCKET_CLOSED_BEFORE_CONNECTION`, given to writes pending when a connecting socket closes. */
export function socketClosedBeforeConnection(): NodeCodedError {
  return coded(
    Error,
    'ERR_SOCKET_CLOSED_BEFORE_CONNECTION',
    'Socket closed before the connection was established',
    socketClosedBeforeConnection,
  );
}

/** A tfo-specific error with a `TFO_*` code, for conditions Node has no code for. */
export function tfoError(code: string, message: string, props: Record<string, unknown> = {}): NodeCodedError {
  const err = coded(Error, code, message, tfoError);
  Object.assign(err, props);
  return err;
}

// ---- validators (Node's semantics and codes) ----

export function validateObject(value: unknown, name: string): asserts value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidArgType(name, 'object', value);
}

export function validateBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') throw invalidArgType(name, 'boolean', value);
}

export function validateInteger(value: unknown, name: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, 'number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
}

export function validateFunction(value: unknown, name: string): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalidArgType(name, 'Function', value);
}
