// TCP Fast Open keys as bytes and as the kernel's text: the one parser,
// formatter and redaction of key material. lib/system/sysctl.ts (the
// namespace key) and lib/core/keys.ts (listener keys) both use it.
import { inspect } from 'node:util';

import { invalidArgType, invalidArgValue } from '../base/errors';
import { native } from '../base/native';

/**
 * The kernel's text form of one key, as `net.ipv4.tcp_fastopen_key` shows and
 * takes it (`%08x-%08x-%08x-%08x` in net/ipv4/sysctl_net_ipv4.c): each group
 * is one little-endian 32-bit word of the key bytes.
 */
export const KEY_TEXT_FORM = 'xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx';
const KEY_TEXT = new RegExp(`^${KEY_TEXT_FORM.replace(/x/g, '[0-9a-f]')}$`);
const HEX_DIGITS_PER_BYTE = 2;
const WORD_BYTES = Uint32Array.BYTES_PER_ELEMENT;

/**
 * Bytes in one TFO key: `TCP_FASTOPEN_KEY_LENGTH` from the addon (defined once,
 * in src/addon.cc). Without the addon (not Linux, `TFO_DISABLE_NATIVE=1`) the
 * bytes the text form holds, which is the same number (test/binding.test.js
 * checks that they agree).
 */
export const KEY_LENGTH: number =
  native.binding?.constants.TCP_FASTOPEN_KEY_LENGTH ?? KEY_TEXT_FORM.replace(/-/g, '').length / HEX_DIGITS_PER_BYTE;

/** Bytes of a primary and a backup key together, as `TCP_FASTOPEN_KEY` takes them (32). */
export const KEY_BUF_LENGTH: number = native.binding?.constants.TCP_FASTOPEN_KEY_BUF_LENGTH ?? 2 * KEY_LENGTH;

/** A TFO key: 16 raw bytes, or the kernel's text form (32 hex digits, dashes optional). */
export type FastOpenKeyInput = Buffer | Uint8Array | string;

/** Shown instead of key material in error messages (util.inspect honours this symbol). */
const INSPECT = inspect.custom;

/** Something util.inspect shows as `[<shape>, not shown]` instead of key material. */
export function redacted(shape: string): object {
  return { [INSPECT]: () => `[${shape}, not shown]` };
}

/** What one key must look like, in words (the default expectation of {@link badKey}). */
export const ONE_KEY = `must be ${KEY_LENGTH} bytes, or ${KEY_LENGTH * HEX_DIGITS_PER_BYTE} hex digits as ${KEY_TEXT_FORM} (dashes optional)`;

/** ERR_INVALID_ARG_VALUE for a key, showing its type and length but never its bytes. */
export function badKey(name: string, key: Uint8Array | string, expected = ONE_KEY): Error {
  const shape = typeof key === 'string' ? `a string of ${key.length} characters` : `${key.constructor.name} of ${key.length} bytes`;
  return invalidArgValue(name, redacted(shape), expected);
}

/**
 * The kernel's text form of a TFO key, as `net.ipv4.tcp_fastopen_key`
 * shows it: four groups of 8 hex digits, each group the little-endian 32-bit
 * word of 4 key bytes. So the bytes `00 11 22 33 44 ...` print as
 * `33221100-77665544-...`: the text is not the bytes' hex dump.
 *
 * @throws `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` unless `key` is 16 bytes.
 */
export function formatKey(key: Buffer | Uint8Array): string {
  if (!(key instanceof Uint8Array)) throw invalidArgType('key', ['Buffer', 'Uint8Array'], key);
  if (key.length !== KEY_LENGTH) throw badKey('key', key);
  const buf = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  const words: string[] = [];
  for (let i = 0; i < KEY_LENGTH; i += WORD_BYTES)
    words.push(
      buf
        .readUInt32LE(i)
        .toString(16)
        .padStart(WORD_BYTES * HEX_DIGITS_PER_BYTE, '0'),
    );
  return words.join('-');
}

/**
 * Parses a TFO key into its 16 raw bytes (the bytes the `TCP_FASTOPEN_KEY`
 * socket option takes). A string is the kernel's text form (see
 * {@link formatKey}): `xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx`, or the same 32 hex
 * digits without the dashes; case does not matter. A Buffer or Uint8Array of
 * 16 bytes is copied.
 *
 * @throws `ERR_INVALID_ARG_TYPE` for other types; `ERR_INVALID_ARG_VALUE` for a
 * wrong length or format (the message never shows the key).
 */
export function parseKey(key: FastOpenKeyInput): Buffer {
  return keyBytes(key, 'key');
}

/** @internal {@link parseKey} with the argument's name and what it must be, for error messages. */
export function keyBytes(key: unknown, name: string, expected = ONE_KEY): Buffer {
  if (key instanceof Uint8Array) {
    if (key.length !== KEY_LENGTH) throw badKey(name, key, expected);
    return Buffer.from(key);
  }
  if (typeof key !== 'string') throw invalidArgType(name, ['string', 'Buffer', 'Uint8Array'], key);
  let text = key.trim().toLowerCase();
  const digits = KEY_LENGTH * HEX_DIGITS_PER_BYTE;
  if (text.length === digits && /^[0-9a-f]+$/.test(text))
    text = text.replace(new RegExp(`(.{${WORD_BYTES * HEX_DIGITS_PER_BYTE}})(?!$)`, 'g'), '$1-');
  if (!KEY_TEXT.test(text)) throw badKey(name, key, expected);
  const buf = Buffer.alloc(KEY_LENGTH);
  text.split('-').forEach((word, i) => buf.writeUInt32LE(parseInt(word, 16), i * WORD_BYTES));
  return buf;
}

/**
 * @internal A key given to be used (a listener's, or the namespace's): as
 * {@link keyBytes}, and never all zeros. A zero key is one everybody knows:
 * anyone could compute valid cookies and so send SYN data that is accepted
 * without ever having talked to the server (the replay and flood protection
 * cookies exist for), and the sysctl shows it as "no key yet".
 */
export function usableKey(key: unknown, name: string, expected = ONE_KEY): Buffer {
  const buf = keyBytes(key, name, expected);
  if (buf.every((b) => b === 0))
    throw invalidArgValue(
      name,
      redacted(`${KEY_LENGTH} zero bytes`),
      'must not be all zeros (a key everyone knows: anyone could make valid cookies)',
    );
  return buf;
}

/** @internal Whether a text is one key in the kernel's form (lowercase hex, with dashes). */
export function isKeyText(text: string): boolean {
  return KEY_TEXT.test(text);
}
