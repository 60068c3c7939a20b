import { hostKey } from '../net/address.js';
import type { DropReason } from '../net/counters.js';
import type { SecureSession } from '../net/secure-session.js';
import type { FrameHandler, Session } from '../net/session.js';
import type { FrameHeaderInput } from '../protocol/frame.js';
import { TransferError } from './transfer-error.js';

/**
 * All the transfer layer needs of the session under it: a way to send its frames, whether the
 * session still works, which side it is, who the peer is, and where to count what it drops.
 * The session's close reaches the layer as FrameHandler.sessionClosed. Anything that offers this
 * can carry transfers (a test can drive an endpoint with no session at all).
 */
export interface TransferPort {
  /** Which end of the session this is: the transfer ids this end allocates have its parity (client odd, server even). */
  readonly role: 'client' | 'server';
  /** True once the session has ended: sends fail and nothing more arrives. */
  readonly closed: boolean;
  /**
   * Sends one frame of the transfer layer (its flags carry UNLOSSY: the session does not resend
   * it, the transfer layer does). False when the session is closed, or has just closed.
   */
  sendFrame(header: FrameHeaderInput, payload?: Uint8Array): boolean;
  /** Counts a frame the transfer layer dropped (in the session's socket counters). */
  drop(reason: Extract<DropReason, 'bad-transfer' | 'optimistic-ack'>): void;
  /** The identity key the handshake proved for the peer, or null for an anonymous client. */
  readonly peerIdentity: Uint8Array | null;
  /** The peer's host (hostKey of its address now: IPv4 /32, IPv6 /64), what per-host limits count by. */
  readonly peerHost: string;
  /** Makes `handler` the receiver of the session's transfer frames and of its close. */
  attach(handler: FrameHandler): void;
  /** When the last datagram came from the peer (the monotonic clock, lib/time.ts), where the port knows it: a silent peer is then noticed (peerSilenceMs). */
  readonly lastReceived?: number;
}

/** The port of a version-2 session; a TransferError for a version-1 one, which has no frames. */
export function sessionPort(session: Session): TransferPort {
  if (session.version !== 2) throw new TransferError('file transfer needs a version-2 session; this peer speaks only the original protocol');
  const secure = session as SecureSession;
  return {
    role: secure.role,
    get closed() {
      return secure.closed;
    },
    sendFrame: (header, payload) => secure.sendUnlossy(header, payload),
    drop: (reason) => secure.counters.drop(reason),
    peerIdentity: secure.peerIdentity,
    get peerHost() {
      return hostKey(secure.remote.address);
    },
    attach: (handler) => {
      secure.frameHandler = handler;
    },
    get lastReceived() {
      return secure.lastReceived;
    },
  };
}
