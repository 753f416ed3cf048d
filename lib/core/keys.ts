// TFO keys: what issues and checks a listener's cookies.
//
// The kernel keeps one key context per listening socket (TCP_FASTOPEN_KEY: a
// 16-byte primary that issues and validates cookies, optionally a 16-byte
// backup that only validates), falling back to the namespace's key
// (net.ipv4.tcp_fastopen_key) when a listener has none of its own. Setting a
// listener's key needs no privilege; the namespace key needs root.
//
// A fleet shares cookies when every server uses the same key at the same
// time. Here each server derives the key of each time window from a shared
// secret (HKDF-SHA256 over the window number), so no daemon and no root is
// needed. With period P and window w = floor(t / P):
//
//   first half of w:   primary K(w), backup K(w-1)   (cookies of the last window still work)
//   second half of w:  primary K(w), backup K(w+1)   (a server whose clock is ahead already issues K(w+1))
//
// So any two servers whose clocks differ by less than P/2 accept each other's
// cookies, and a cookie stays valid between 0.5 P and 1.5 P after it was
// issued (the scheme tofurkey uses for the namespace key).
//
// Key material never leaves this module except through the functions that
// are asked for it (deriveFastOpenKey, fastOpenKeysAt): states say which key
// is in use, never its bytes; the secret is held as a KeyObject.
import { createSecretKey, hkdfSync, KeyObject } from 'node:crypto';
import type * as net from 'node:net';

import { errnoName, invalidArgType, invalidArgValue, validateFunction, validateInteger, validateObject } from '../base/errors';
import { fdOfHandle, type FdHolder } from '../base/internals';
import { native } from '../base/native';
import { badKey, KEY_BUF_LENGTH, KEY_LENGTH, KEY_TEXT_FORM, redacted, usableKey } from '../system/keyformat';
import * as sysctl from '../system/sysctl';
import { keysRotated } from './diagnostics';

/** Default rotation period: one day, so a cookie stays valid 12 to 36 hours (tofurkey's default interval). */
export const DEFAULT_KEY_PERIOD_MS = 24 * 60 * 60 * 1000;
const MIN_PERIOD_MS = 1000;
const MAX_PERIOD_MS = 366 * 24 * 60 * 60 * 1000;
/** Longest sleep between checks of the clock (bounds the effect of clock steps and suspends). */
const MAX_TIMER_MS = 60 * 1000;
/** The least secret tfo takes: as many bytes as the key derived from it. */
const MIN_SECRET_BYTES = KEY_LENGTH;

// HKDF-SHA256(ikm = secret, salt = SALT, info = INFO || int64be(window), L = 16).
// Documented in the README so other implementations in a fleet can match it.
const SALT = Buffer.from('tfo TCP_FASTOPEN_KEY', 'latin1');
const INFO = Buffer.from('window', 'latin1');

/** A shared secret: at least 16 bytes (32 random bytes recommended). A string is taken as its UTF-8 bytes. */
export type FastOpenSecret = string | Buffer | ArrayBufferView | ArrayBuffer | KeyObject;

/** Keys derived from a shared secret and the clock, rotating every `periodMs`. */
export interface KeyRotationOptions {
  /** The fleet's shared secret (the same on every server). Kept inside tfo as a KeyObject; never logged. */
  secret: FastOpenSecret;
  /** Length of a key window in ms (the same on every server). Default one day ({@link DEFAULT_KEY_PERIOD_MS}). */
  periodMs?: number;
  /** Wall clock in ms since the epoch. Default `Date.now`. Fleets rely on roughly synchronised clocks (NTP). */
  clock?: () => number;
}

/** A static key: 16 bytes (primary), 32 bytes (primary then backup), or the kernel's text form (`'k1'` or `'k1,k2'`). */
export type FastOpenKeyOption = Buffer | Uint8Array | string;

/** The keys a listener uses at one instant under {@link KeyRotationOptions}. */
export interface FastOpenKeySchedule {
  /** The window whose key is primary: `Math.floor(time / periodMs)`. */
  window: number;
  /** K(window): issues and validates cookies. */
  primary: Buffer;
  /** `window - 1` in the first half of the window, `window + 1` in the second. */
  backupWindow: number;
  /** K(backupWindow): validates cookies only. */
  backup: Buffer;
  /** When (by the same clock) the keys change next: the middle or the end of the window. */
  nextChangeAt: number;
}

/** Which key a listener's cookies come from; never the key itself. Live. */
export interface ListenerKeyState {
  /**
   * `'namespace'`: the namespace's key (`net.ipv4.tcp_fastopen_key`, shared by
   * every listener without its own); `'own'`: a key given with `fastOpen.key` /
   * `setFastOpenKey`; `'derived'`: rotated from a shared secret (`fastOpen.keyRotation`).
   */
  source: 'namespace' | 'own' | 'derived';
  /** For `'derived'`: the window whose key issues cookies now. Null otherwise. */
  window: number | null;
  /** What the backup key accepts: the `'previous'` or `'next'` window, a given (`'own'`) backup, or null for none. */
  backup: 'previous' | 'next' | 'own' | null;
  /** For `'derived'`: the period in ms. Null otherwise. */
  periodMs: number | null;
  /** For `'derived'`: when the keys change next (ms since the epoch, by the rotation's clock). Null otherwise. */
  nextChangeAt: number | null;
  /** Why the key asked for is not (fully) in effect on the listening socket; null when it is. */
  reason: string | null;
}

/** A listener's key source after validation (not part of the public API). */
export type KeySource =
  { kind: 'own'; primary: Buffer; backup: Buffer | null } | { kind: 'derived'; secret: KeyObject; periodMs: number; clock: () => number };

// ---- validation ----

function secretKey(value: unknown, name: string): KeyObject {
  let key: KeyObject;
  if (value instanceof KeyObject) {
    if (value.type !== 'secret') throw invalidArgValue(name, redacted('a non-secret KeyObject'), 'must be a secret key');
    key = value;
  } else if (typeof value === 'string') {
    key = createSecretKey(Buffer.from(value, 'utf8'));
  } else if (value instanceof ArrayBuffer) {
    key = createSecretKey(Buffer.from(new Uint8Array(value)));
  } else if (ArrayBuffer.isView(value)) {
    key = createSecretKey(Buffer.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)));
  } else {
    throw invalidArgType(name, ['string', 'Buffer', 'TypedArray', 'DataView', 'ArrayBuffer', 'KeyObject'], value);
  }
  const size = key.symmetricKeySize ?? 0;
  if (size < MIN_SECRET_BYTES)
    throw invalidArgValue(
      name,
      redacted(`a secret of ${size} bytes`),
      `must be at least ${MIN_SECRET_BYTES} bytes (32 random bytes recommended: \`openssl rand -base64 32\`)`,
    );
  return key;
}

/** @internal validates `keyRotation` options. */
export function normalizeRotation(value: unknown, name: string): KeySource {
  validateObject(value, name);
  const { secret, periodMs = DEFAULT_KEY_PERIOD_MS, clock = Date.now } = value as unknown as KeyRotationOptions;
  const key = secretKey(secret, `${name}.secret`);
  validateInteger(periodMs, `${name}.periodMs`, MIN_PERIOD_MS, MAX_PERIOD_MS);
  validateFunction(clock, `${name}.clock`);
  return { kind: 'derived', secret: key, periodMs, clock };
}

/** What a listener's static key must look like, in words. */
const OWN_KEY =
  `must be ${KEY_LENGTH} bytes (primary), ${KEY_BUF_LENGTH} bytes (primary and backup), or the text form ` + `${KEY_TEXT_FORM}[,backup]`;

/** One key of a listener: parsed by system/keyformat (the one parser), never all zeros. */
function ownKey(value: unknown, name: string): Buffer {
  return usableKey(value, name, OWN_KEY);
}

/** @internal validates a static key: 16 or 32 bytes, or text `k1[,k2]`; or a primary and a backup. */
export function normalizeOwnKey(primary: unknown, backup: unknown, name: string): KeySource {
  if (backup !== undefined && backup !== null) {
    return { kind: 'own', primary: ownKey(primary, name), backup: ownKey(backup, 'backup') };
  }
  if (primary instanceof Uint8Array && primary.length === KEY_BUF_LENGTH) {
    const both = Buffer.from(primary);
    return { kind: 'own', primary: ownKey(both.subarray(0, KEY_LENGTH), name), backup: ownKey(both.subarray(KEY_LENGTH), name) };
  }
  if (typeof primary === 'string' && primary.includes(',')) {
    const parts = primary.split(',');
    if (parts.length !== 2) throw badKey(name, primary, OWN_KEY);
    return { kind: 'own', primary: ownKey(parts[0], name), backup: ownKey(parts[1], name) };
  }
  return { kind: 'own', primary: ownKey(primary, name), backup: null };
}

// ---- derivation ----

function derive(secret: KeyObject, window: number): Buffer {
  const info = Buffer.alloc(INFO.length + 8);
  INFO.copy(info, 0);
  info.writeBigInt64BE(BigInt(window), INFO.length);
  return Buffer.from(hkdfSync('sha256', secret, SALT, info, KEY_LENGTH));
}

/**
 * The TFO key of one time window: HKDF-SHA256 with the secret as input key
 * material, salt `"tfo TCP_FASTOPEN_KEY"`, info `"window"` followed by the
 * window number as a big-endian signed 64-bit integer, 16 bytes long. The
 * result is in the byte order `TCP_FASTOPEN_KEY` and {@link sysctl.setKey} take.
 *
 * @param window - An integer, usually `Math.floor(Date.now() / periodMs)`.
 */
export function deriveFastOpenKey(secret: FastOpenSecret, window: number): Buffer {
  const key = secretKey(secret, 'secret');
  validateInteger(window, 'window', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  return derive(key, window);
}

function schedule(source: Extract<KeySource, { kind: 'derived' }>, time: number): Omit<FastOpenKeySchedule, 'primary' | 'backup'> {
  const P = source.periodMs;
  const window = Math.floor(time / P);
  const into = time - window * P;
  const secondHalf = 2 * into >= P;
  return {
    window,
    backupWindow: secondHalf ? window + 1 : window - 1,
    nextChangeAt: secondHalf ? (window + 1) * P : window * P + Math.ceil(P / 2),
  };
}

/**
 * The keys a listener using `rotation` has at `time` (default: the rotation's
 * clock, now): the window's key as primary and a neighbouring window's key as
 * backup (see the README, "Fleets"). For operators and tests; the Buffers are
 * key material.
 */
export function fastOpenKeysAt(rotation: KeyRotationOptions, time?: number): FastOpenKeySchedule {
  const source = normalizeRotation(rotation, 'rotation') as Extract<KeySource, { kind: 'derived' }>;
  const t = time === undefined ? source.clock() : time;
  validateInteger(t, 'time', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const s = schedule(source, t);
  return { ...s, primary: derive(source.secret, s.window), backup: derive(source.secret, s.backupWindow) };
}

// ---- the rotation loop ----

type DerivedSource = Extract<KeySource, { kind: 'derived' }>;
type Schedule = ReturnType<typeof schedule>;

/** Which neighbour the backup key of a schedule is. */
const backupSide = (s: Schedule): 'previous' | 'next' => (s.backupWindow < s.window ? 'previous' : 'next');

/** A clock reading that can be a window number (an integer of at most 2^53), else null. */
function usableTime(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER ? Math.floor(value) : null;
}

/**
 * The one clock-and-timer loop of derived keys, for a listener's keys and the
 * namespace key alike. Each tick reads the clock, works out the schedule of
 * now and hands it to `install` (which puts the keys where they go and says
 * whether to keep rotating), then sleeps until the keys change next, and at
 * most MAX_TIMER_MS, so clock steps and suspends are noticed within a minute.
 * A clock that throws or gives no usable time leaves the keys as they were
 * (said in `state.reason`) and is asked again a minute later. The timer never
 * keeps the event loop alive.
 */
class Rotation {
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly source: DerivedSource,
    private readonly state: ListenerKeyState,
    private readonly install: (s: Schedule) => boolean,
  ) {}

  /**
   * One tick now. With `strict`, a bad clock and an error of `install` throw
   * (a first tick, whose caller is there to hear it); otherwise they are
   * recorded in `state.reason` and the loop goes on.
   */
  tick(strict = false): void {
    this.stop();
    let raw: unknown;
    let clockError: string | null = null;
    try {
      raw = this.source.clock();
    } catch (e) {
      clockError = `threw ${(e as Error)?.message ?? String(e)}`;
    }
    const time = clockError === null ? usableTime(raw) : null;
    if (time === null) {
      const why = clockError ?? `returned ${typeof raw === 'number' ? raw : typeof raw}`;
      if (strict) throw invalidArgValue('rotation.clock', this.source.clock, `must return the time in ms (it ${why})`);
      this.state.reason = `the rotation clock ${why}, not a time in ms; keys left as they were`;
      this.#arm(MAX_TIMER_MS);
      return;
    }
    const s = schedule(this.source, time);
    let more: boolean;
    try {
      more = this.install(s);
    } catch (e) {
      if (strict) throw e;
      this.state.reason = (e as Error).message;
      more = true;
    }
    if (more) this.#arm(Math.min(Math.max(s.nextChangeAt - time + 1, 1), MAX_TIMER_MS));
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.tick();
    }, ms);
    this.#timer.unref();
  }
}

// ---- per-listener keys ----

function namespaceState(): ListenerKeyState {
  return { source: 'namespace', window: null, backup: null, periodMs: null, nextChangeAt: null, reason: null };
}

/**
 * @internal The keys of one listener (a server, or a cluster primary's
 * round-robin handle): what was asked for, and a {@link Rotation} for derived
 * keys, which stops once the handle is closed.
 */
export class ListenerKeys {
  readonly state: ListenerKeyState = namespaceState();
  #source: KeySource | null = null;
  #handle: FdHolder | null = null;
  #rotation: Rotation | null = null;
  #applied = '';
  /** The result of the last setsockopt (0 or a negative errno). */
  #result = 0;
  /** Set when the kernel took the primary key only: why there is no backup. */
  #noBackup: string | null = null;

  /** The listener's server, named in diagnostics. */
  readonly #server: net.Server | null;

  constructor(server: net.Server | null = null) {
    this.#server = server;
  }

  /** Sets what the listener should use; applied by the next {@link apply}. */
  configure(source: KeySource): void {
    this.stop();
    this.#source = source;
    this.#applied = '';
    this.#noBackup = null;
    this.#rotation = source.kind === 'derived' ? new Rotation(source, this.state, (s) => this.#install(s)) : null;
    this.#describe(null);
  }

  get configured(): boolean {
    return this.#source !== null;
  }

  /**
   * Puts the keys on the handle's socket now and, for derived keys, keeps them
   * rotating. Returns 0, or a negative errno when the kernel refused the key.
   */
  apply(handle: FdHolder | null | undefined): number {
    this.#handle = handle ?? null;
    this.#applied = '';
    this.#noBackup = null;
    this.#result = 0;
    this.stop();
    if (!this.#source) return 0;
    if (this.#rotation) this.#rotation.tick();
    else this.#install(null);
    return this.#result;
  }

  /** Stops rotating (the listener closed). */
  stop(): void {
    this.#rotation?.stop();
  }

  #describe(s: Schedule | null): void {
    const src = this.#source;
    const st = this.state;
    if (!src) return;
    st.source = src.kind;
    st.reason = null;
    if (src.kind === 'own') {
      st.window = null;
      st.backup = src.backup ? 'own' : null;
      st.periodMs = null;
      st.nextChangeAt = null;
    } else {
      st.periodMs = src.periodMs;
      st.window = s ? s.window : null;
      st.backup = s ? backupSide(s) : null;
      st.nextChangeAt = s ? s.nextChangeAt : null;
    }
    if (this.#noBackup) {
      st.backup = null;
      st.reason = this.#noBackup;
    }
  }

  /** Puts the keys of `s` (null: the own keys) on the socket when they changed; false: stop rotating. */
  #install(s: Schedule | null): boolean {
    const src = this.#source!;
    const fd = fdOfHandle(this.#handle);
    if (fd < 0 && this.#applied !== '') return false; // closed since: stop rotating
    this.#describe(s);
    if (fd < 0) {
      this.state.reason = 'no listening socket in this process yet';
      return false;
    }
    const id = s ? `${fd}:${s.window}:${s.backupWindow}` : `${fd}`;
    if (id !== this.#applied) {
      this.#result = this.#set(fd, src, s);
      if (this.#result === 0) this.#applied = id;
    }
    return true;
  }

  #set(fd: number, src: KeySource, s: Schedule | null): number {
    const b = native.binding;
    if (!b) {
      this.state.reason = native.error;
      return 0;
    }
    const c = b.constants;
    if (c.TCP_FASTOPEN_KEY === undefined) {
      this.state.reason = 'the addon was built without TCP_FASTOPEN_KEY (old kernel headers); the namespace key is used';
      this.state.source = 'namespace';
      return 0;
    }
    let primary: Buffer;
    let backup: Buffer | null;
    if (src.kind === 'own') {
      primary = src.primary;
      backup = src.backup;
    } else {
      primary = derive(src.secret, s!.window);
      backup = derive(src.secret, s!.backupWindow);
    }
    const both = backup ? Buffer.concat([primary, backup]) : Buffer.from(primary);
    let r = b.setsockoptBytes(fd, c.IPPROTO_TCP, c.TCP_FASTOPEN_KEY, both);
    if (r < 0 && backup && errnoName(r) === 'EINVAL') {
      // Older kernels take one key per listener (16 bytes): keep the primary.
      r = b.setsockoptBytes(fd, c.IPPROTO_TCP, c.TCP_FASTOPEN_KEY, primary);
      if (r === 0) {
        this.#noBackup = 'this kernel takes no backup key (TCP_FASTOPEN_KEY of 32 bytes): only cookies of the primary key are accepted';
        this.state.backup = null;
        this.state.reason = this.#noBackup;
      }
    }
    both.fill(0);
    if (src.kind === 'derived') {
      primary.fill(0);
      backup?.fill(0);
    }
    if (r < 0) {
      this.state.reason = `setsockopt(TCP_FASTOPEN_KEY) failed (${errnoName(r)}); the namespace key is used`;
      this.state.source = 'namespace';
      this.state.window = null;
      this.state.backup = null;
      this.state.nextChangeAt = null;
    } else keysRotated('listener', this.#server, this.state, s);
    return r;
  }
}

// ---- the namespace key, rotated ----

/** A running rotation of the namespace key (see {@link rotateNamespaceFastOpenKey}). */
export interface NamespaceKeyRotation {
  /** The window, backup and next change of the namespace key, as for a listener (never the bytes). */
  readonly state: ListenerKeyState;
  /** Stops rotating; the namespace key stays as last written. */
  stop(): void;
}

/**
 * Rotates the network namespace's key (`net.ipv4.tcp_fastopen_key`, used by
 * every listener without its own key) on the same schedule as a listener's
 * `keyRotation`: the in-process equivalent of a tofurkey daemon, for
 * operators who prefer one key for the whole namespace. Needs root
 * (CAP_NET_ADMIN in the namespace); the first write happens now and throws
 * when it is not allowed (or when the clock gives no time). Later failures are
 * recorded in `state.reason`. The timer never keeps the event loop alive.
 */
export function rotateNamespaceFastOpenKey(rotation: KeyRotationOptions): NamespaceKeyRotation {
  const src = normalizeRotation(rotation, 'rotation') as DerivedSource;
  const state: ListenerKeyState = {
    source: 'derived',
    window: null,
    backup: null,
    periodMs: src.periodMs,
    nextChangeAt: null,
    reason: null,
  };
  const loop = new Rotation(src, state, (s) => {
    if (s.window !== state.window || state.backup !== backupSide(s)) {
      const primary = derive(src.secret, s.window);
      const backup = derive(src.secret, s.backupWindow);
      try {
        sysctl.setKey(primary, backup);
        state.reason = null;
        state.window = s.window;
        state.backup = backupSide(s);
        keysRotated('namespace', null, state, s);
      } finally {
        primary.fill(0);
        backup.fill(0);
      }
    } else {
      state.reason = null;
    }
    state.nextChangeAt = s.nextChangeAt;
    return true;
  });
  loop.tick(true);
  return {
    state,
    stop() {
      loop.stop();
    },
  };
}
