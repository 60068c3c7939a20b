import {
  HEARTBEAT_RATE, PREVIOUS_KEYS_GRACE_MS, REJECT_AFTER_MESSAGES, REJECT_AFTER_MS, REKEY_AFTER_MESSAGES, REKEY_AFTER_MS, REKEY_RETRY_MS,
  STALE_HEARTBEATS,
} from '../constants.js';
import { InvalidInputError } from '../errors.js';

/** Every timer and limit of a session; the defaults are the constants of the same names. */
export interface SessionTimings {
  /** Milliseconds between heartbeats. */
  heartbeatRate: number;
  /** Heartbeat intervals without an authenticated packet after which a session is dead. */
  staleHeartbeats: number;
  /** Rotate keys after this many milliseconds (the client starts the rotation). */
  rekeyAfterMs: number;
  /** Rotate keys after this many messages sent under one key. */
  rekeyAfterMessages: number;
  /** Never send more than this many messages under one key. */
  rejectAfterMessages: number;
  /** Keys this old (milliseconds) are refused and the session closes (REJECT_AFTER_MS). */
  rejectAfterMs: number;
  /** How long the keys of a finished rotation still decrypt late packets. */
  previousKeysGraceMs: number;
  /** Resend an unanswered rotation request after this many milliseconds. */
  rekeyRetryMs: number;
}

export const DEFAULT_TIMINGS: Readonly<SessionTimings> = Object.freeze({
  heartbeatRate: HEARTBEAT_RATE,
  staleHeartbeats: STALE_HEARTBEATS,
  rekeyAfterMs: REKEY_AFTER_MS,
  rekeyAfterMessages: REKEY_AFTER_MESSAGES,
  rejectAfterMessages: REJECT_AFTER_MESSAGES,
  rejectAfterMs: REJECT_AFTER_MS,
  previousKeysGraceMs: PREVIOUS_KEYS_GRACE_MS,
  rekeyRetryMs: REKEY_RETRY_MS,
});

/** Fills in defaults and checks every value is a positive integer. */
export function resolveTimings(overrides: Partial<SessionTimings> = {}): SessionTimings {
  const timings = { ...DEFAULT_TIMINGS, ...overrides };
  // Old keys must outlive a lost confirmation: at least two heartbeats, whatever the rate.
  if (overrides.previousKeysGraceMs === undefined) timings.previousKeysGraceMs = Math.max(PREVIOUS_KEYS_GRACE_MS, 2 * timings.heartbeatRate);
  for (const [name, value] of Object.entries(timings)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidInputError(`${name} must be a positive integer, got ${value}`);
  }
  if (timings.rejectAfterMs <= timings.rekeyAfterMs) {
    throw new InvalidInputError(`rejectAfterMs (${timings.rejectAfterMs}) must be longer than rekeyAfterMs (${timings.rekeyAfterMs}), or no rotation could finish`);
  }
  if (timings.rejectAfterMessages > REJECT_AFTER_MESSAGES) {
    throw new InvalidInputError(`rejectAfterMessages may not exceed ${REJECT_AFTER_MESSAGES}`);
  }
  return timings;
}
