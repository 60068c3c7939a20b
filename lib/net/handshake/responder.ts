import {
  CMD_CONNECT, CMD_CONNECTED, CONNECT_PADDED_LENGTH, FERNET_MAX_CLOCK_SKEW, MAX_HANDSHAKE_DATAGRAM, MAX_REMEMBERED_CONNECTS, NEGOTIATION_DELAY,
  NEGOTIATION_REPEAT,
} from '../../constants.js';
import { CommEncryptor } from '../../crypto/comm-encryptor.js';
import type { X25519KeyPair } from '../../crypto/x25519-key-pair.js';
import { wipeSessionKeys } from '../../crypto/key-schedule.js';
import type { DoCrypt, DoCryptForm } from '../../crypto/docrypt.js';
import { TokenAgeError } from '../../crypto/fernet.js';
import { toBase64Url } from '../../encoding.js';
import { LowOrderKeyError } from '../../errors.js';
import { encodeHandshake, parseHandshake } from '../../protocol/handshake.js';
import { encodeCookieReply, readInitiation } from '../../protocol/handshake-v2.js';
import type { CookieJar } from './cookie.js';
import type { DropReason } from '../counters.js';
import { answerInitiation, type AnswerKeys, type AnswerRequest } from './answer.js';
import type { HandshakeThreads, ThreadOutcome } from './threads.js';
import { TrafficKeys } from '../traffic-keys.js';
import type { HandshakeRateLimiter } from './rate-limit.js';
import { SecureSession } from '../secure-session.js';
import { V1Session } from '../v1-session.js';
import type { PeerAddress, Session } from '../session.js';
import type { SessionTable } from '../session-table.js';
import type { SessionTimings } from '../timings.js';
import { clock } from '../../time.js';

/** Who may complete a handshake with this server, and as whom the server proves itself. */
export interface ResponderTrust {
  /** The server's long-term X25519 identity. */
  identity: X25519KeyPair;
  /** The psk derived from the network key (network-key.ts): an input to every session key. */
  psk?: Uint8Array;
  /** When set, only clients whose identity key is listed (base64) complete a handshake. */
  authorizedKeys?: ReadonlySet<string>;
  /** Whether clients that speak only the original (version 1) are served. */
  allowSeed: boolean;
}

export interface ResponderContext {
  table: SessionTable;
  docrypt: DoCrypt;
  trust: ResponderTrust;
  limiter: HandshakeRateLimiter;
  cookies: CookieJar;
  timings: SessionTimings;
  maxSessions: number;
  /**
   * Set under a network key: a `connect` older than this many seconds is refused (`stale-connect`),
   * and one whose ephemeral key was answered within that age is refused as a replay. Unset without
   * one: anyone can then make a fresh `connect`, and an original peer's clock is not checked.
   */
  connectMaxAgeSeconds?: number;
  /** Most sessions one host (IPv4 /32, IPv6 /64) may hold; a NAT puts many honest clients behind one. */
  maxSessionsPerHost: number;
  /** Where version-2 key agreement runs, when there are threads and they work; inline otherwise. */
  threads(): HandshakeThreads | undefined;
  transmit(datagram: Buffer, to: PeerAddress): void;
  /** The version-1 session a new version-1 session from `peer` would displace (a candidate not yet proven), if any. */
  v1Candidate(peer: PeerAddress): Session | undefined;
  /** Counts (and logs) a drop decided after handle() returned: a handshake a thread answered. */
  dropped(reason: DropReason, datagram: Buffer, from: PeerAddress): void;
}

/** What a `connect` led to: a new session, an answer to a retransmission or a cookie, or a drop. */
export type HandshakeOutcome =
  | { session: Session }
  | { answered: 'retransmission' | 'cookie' }
  /** Out to a handshake thread: the answer goes out (or the drop is counted) when it is back. */
  | { pending: true }
  | { dropped: DropReason };

/** A handshake that checked out: its answer, and the session to open once the answer may be sent. */
interface Accepted {
  reply: Buffer;
  open(now: number): Session;
  discard(): void;
}

/** A `connected` answer, kept while the client may still be retransmitting its `connect`. */
interface Answer {
  session: Session;
  reply: Buffer;
  expires: number;
}

/** A client stops retransmitting `connect` after this long, so its answer can be forgotten. */
const ANSWER_TTL_MS = NEGOTIATION_REPEAT * NEGOTIATION_DELAY;

/**
 * The server's side of the handshake (the control path). Checks run cheapest first: size,
 * rate limit, Fernet MAC, JSON, policy, and only then X25519. Before an address is validated
 * (by a cookie, or by the session it later confirms) no answer is larger than what it sent.
 */
export class HandshakeResponder {
  readonly #ctx: ResponderContext;
  /** Keyed by the client's ephemeral public key, so a retransmitted `connect` finds its session. */
  readonly #answers = new Map<string, Answer>();
  /** Version-2 `connect`s out to a handshake thread, by the same key: where each came from, and its reserved index. */
  readonly #pending = new Map<string, PeerAddress & { index: number }>();
  /**
   * Ephemeral keys of answered `connect`s (connectMaxAgeSeconds only), until a copy would be
   * refused for its age anyway: a replay within the age costs no X25519 either. Oldest first.
   */
  readonly #seen = new Map<string, number>();
  readonly #answerKeys: AnswerKeys;

  constructor(context: ResponderContext) {
    this.#ctx = context;
    this.#answerKeys = { backend: context.table.backend, identity: context.trust.identity, psk: context.trust.psk, docrypt: context.docrypt };
  }

  /** `now` is the monotonic clock; `wallNow` (ms since the epoch) dates only the connect token. */
  handle(datagram: Buffer, rinfo: PeerAddress, now: number, wallNow = Date.now()): HandshakeOutcome {
    const ctx = this.#ctx;
    const { counters } = ctx.table;
    counters.unvalidatedBytesIn += datagram.length;
    if (datagram.length > MAX_HANDSHAKE_DATAGRAM) return { dropped: 'oversized' };
    let decrypted;
    try {
      // Wall clock by design: the token's timestamp is the client's Date.now() (Fernet), so its age
      // (`stale-connect`) can only be measured against ours; `now` is monotonic and dates nothing.
      decrypted = ctx.docrypt.fdecrypt(datagram, { ttlSeconds: ctx.connectMaxAgeSeconds, now: Math.floor(wallNow / 1000) });
    } catch (err) {
      // The age is checked only after the MAC: a token nobody could make never counts as stale.
      return { dropped: err instanceof TokenAgeError ? 'stale-connect' : 'bad-token' };
    }
    const parsed = parseHandshake(decrypted.plaintext, CMD_CONNECT);
    if (!parsed.ok) return { dropped: parsed.reason };
    const init = readInitiation(parsed.message);
    if (init === null && !ctx.trust.allowSeed) return { dropped: 'seed-refused' };
    // A version-2 answer is about 190 characters of JSON: an unpadded `connect` could get more back than it sent.
    if (init && decrypted.plaintext.length < CONNECT_PADDED_LENGTH) return { dropped: 'amplification' };
    if (ctx.trust.authorizedKeys && !(init?.clientStatic && ctx.trust.authorizedKeys.has(toBase64Url(init.clientStatic)))) {
      return { dropped: 'unauthorized' };
    }

    const id = toBase64Url(parsed.message.pubkey);
    const answered = this.#answers.get(id);
    if (answered && !answered.session.closed) {
      // A retransmission comes from where the first copy came from; a copy from elsewhere is a replay.
      if (answered.session.remote.address !== rinfo.address || answered.session.remote.port !== rinfo.port) return { dropped: 'replay' };
      counters.retransmittedConnects++;
      return this.reply(answered.reply, datagram, rinfo) ?? { answered: 'retransmission' };
    }
    const pendingFrom = this.#pending.get(id);
    if (pendingFrom !== undefined) {
      if (pendingFrom.address !== rinfo.address || pendingFrom.port !== rinfo.port) return { dropped: 'replay' };
      // The answer is being computed and goes out when ready.
      counters.retransmittedConnects++;
      return { pending: true };
    }
    // Its answer is forgotten, so no client is still waiting for it: a copy is a replay.
    if (this.#seen.has(id)) return { dropped: 'replay' };

    // Under load, a version-2 client must first prove it receives at its address.
    // An invalid or stale cookie counts as none (a forged cookie reply must not end a handshake).
    const validated = init?.cookie !== undefined && ctx.cookies.verify(init.cookie, rinfo, parsed.message.pubkey, now);
    const underLoad = ctx.limiter.underLoad(now);
    // The original protocol has no cookies: under load, its handshakes wait until the load passes.
    if (!init && underLoad) return { dropped: 'rate-limit' };
    if (init && !validated && underLoad) {
      const cookie = ctx.cookies.issue(rinfo, parsed.message.pubkey, now);
      const reply = Buffer.from(ctx.docrypt.fencrypt(encodeCookieReply(cookie), { form: decrypted.form }), 'ascii');
      const dropped = this.reply(reply, datagram, rinfo);
      if (dropped) return dropped;
      counters.cookiesSent++;
      return { answered: 'cookie' };
    }
    // Before the rate limit, so a host at its cap spends no one's handshake budget.
    if (this.hostFull(rinfo)) return { dropped: 'host-session-limit' };
    if (!ctx.limiter.allow(rinfo.address, now, validated)) return { dropped: 'rate-limit' };

    // A full table with nothing to evict takes no newcomer: refuse before any X25519 work.
    // Handshakes still in a thread will want room too.
    // A version-1 session from a source that has a candidate session displaces it (server.ts): in a full table, that is the room it takes.
    const room = this.room(now, this.#pending.size, init === null ? ctx.v1Candidate(rinfo) : undefined);
    if (room === 'no-room') return { dropped: 'session-limit' };
    if (init === null) return this.settle(id, this.acceptV1(parsed.message.pubkey, rinfo, decrypted.form), datagram.length, rinfo, now, room);
    const responderIndex = ctx.table.reserveIndex();
    const request: AnswerRequest = { init, responderIndex, form: decrypted.form };
    const threads = ctx.threads();
    if (threads?.usable) {
      const submitted = threads.submit(request, (outcome) => {
        this.#pending.delete(id);
        // A thread that failed leaves the work to this thread.
        const answer = outcome === 'failed' ? this.answerInline(request) : outcome;
        const result = this.settle(id, this.acceptV2(request, answer, rinfo), datagram.length, rinfo, clock());
        if ('dropped' in result) ctx.dropped(result.dropped, datagram, rinfo);
      });
      if (!submitted) {
        ctx.table.releaseIndex(responderIndex);
        return { dropped: 'rate-limit' };
      }
      this.#pending.set(id, { address: rinfo.address, port: rinfo.port, index: responderIndex });
      return { pending: true };
    }
    return this.settle(id, this.acceptV2(request, this.answerInline(request), rinfo), datagram.length, rinfo, now, room);
  }

  /** Forgets handshakes still in a thread (the server is closing): they end without an answer. */
  stop(): void {
    for (const { index } of this.#pending.values()) this.#ctx.table.releaseIndex(index);
    this.#pending.clear();
  }

  private answerInline(request: AnswerRequest): ThreadOutcome {
    try {
      return answerInitiation(this.#answerKeys, request);
    } catch (err) {
      return err instanceof LowOrderKeyError ? 'low-order' : 'failed';
    }
  }

  /**
   * Sends the answer of a handshake that checked out and files its session; a full table makes
   * room first. `room` is what handle() found in the same turn; a thread's answer comes later,
   * when the table may have filled, so without it the table is checked again.
   */
  private settle(id: string, accepted: Accepted | { dropped: DropReason }, requestBytes: number, rinfo: PeerAddress,
    now: number, checkedRoom?: ReturnType<HandshakeResponder['room']>): HandshakeOutcome {
    if ('dropped' in accepted) return accepted;
    if (accepted.reply.length > requestBytes) {
      accepted.discard();
      return { dropped: 'amplification' };
    }
    const room = checkedRoom ?? this.room(now, 0);
    // A thread's answer comes later: the host may have reached its cap meanwhile.
    const hostFull = checkedRoom === undefined && this.hostFull(rinfo);
    if (room === 'no-room' || hostFull) {
      accepted.discard();
      return { dropped: hostFull ? 'host-session-limit' : 'session-limit' };
    }
    // Only a handshake that checked out, and will be answered, may push another session out of a full table.
    room?.close('evicted');
    this.send(accepted.reply, rinfo);
    const session = accepted.open(now);
    this.#answers.set(id, { session, reply: accepted.reply, expires: now + ANSWER_TTL_MS });
    this.remember(id, now);
    this.#ctx.table.add(session);
    this.#ctx.table.counters.handshakes++;
    return { session };
  }

  /**
   * Room for one more session beside `waiting` others: yes (undefined), after evicting this
   * session (`displaced`, when the newcomer replaces it anyway), or none.
   */
  private room(now: number, waiting: number, displaced?: Session): Session | 'no-room' | undefined {
    const { table, maxSessions, timings } = this.#ctx;
    if (table.sessions.size + waiting < maxSessions) return undefined;
    return displaced ?? table.evictionCandidate(now, 2 * timings.heartbeatRate) ?? 'no-room';
  }

  /** Whether the host `peer` sends from holds its most sessions (half-open ones count: they hold a slot too). */
  private hostFull(peer: PeerAddress): boolean {
    return this.#ctx.table.sessionsOfHost(peer.address) >= this.#ctx.maxSessionsPerHost;
  }

  /**
   * Remembers an answered `connect`'s key for as long as a copy could still pass the age check:
   * its timestamp is at most FERNET_MAX_CLOCK_SKEW ahead of `now`, and it is fresh through the
   * whole second connectMaxAgeSeconds after that (Fernet ages are whole seconds), so it is
   * remembered until that second ends.
   */
  private remember(id: string, now: number): void {
    const maxAge = this.#ctx.connectMaxAgeSeconds;
    if (maxAge === undefined) return;
    if (this.#seen.size >= MAX_REMEMBERED_CONNECTS) this.#seen.delete(this.#seen.keys().next().value!);
    this.#seen.set(id, (Math.floor(now / 1000) + FERNET_MAX_CLOCK_SKEW + maxAge + 1) * 1000);
  }

  /** Forgets answers no client can still be waiting for, and idle rate-limit sources; called from the table's tick. */
  expire(now: number): void {
    this.#ctx.limiter.sweep(now);
    // Added with increasing expiry, as answers are.
    for (const [id, expires] of this.#seen) {
      if (expires > now) break;
      this.#seen.delete(id);
    }
    // Answers are added with increasing expiry, so the first live one ends the sweep.
    for (const [id, answer] of this.#answers) {
      if (answer.expires > now && !answer.session.closed) break;
      this.#answers.delete(id);
    }
  }

  /** Sends `reply` unless it is larger than the datagram it answers (no amplification). */
  private reply(reply: Buffer, request: Buffer, to: PeerAddress): { dropped: DropReason } | null {
    if (reply.length > request.length) return { dropped: 'amplification' };
    this.send(reply, to);
    return null;
  }

  private send(reply: Buffer, to: PeerAddress): void {
    this.#ctx.table.counters.unvalidatedBytesOut += reply.length;
    this.#ctx.transmit(reply, to);
  }

  private acceptV1(clientPublic: Uint8Array, peer: PeerAddress, form: DoCryptForm): Accepted | { dropped: DropReason } {
    const { table, timings } = this.#ctx;
    const ephemeral = new CommEncryptor({ backend: table.backend });
    try {
      ephemeral.deriveSharedSecret(clientPublic);
    } catch (err) {
      ephemeral.destroy();
      if (err instanceof LowOrderKeyError) return { dropped: 'low-order' };
      throw err;
    }
    return {
      reply: this.answer(encodeHandshake(CMD_CONNECTED, ephemeral.publicKey), form),
      open: (now) => new V1Session(table, 'server', { address: peer.address, port: peer.port }, ephemeral, timings, now),
      discard: () => ephemeral.destroy(),
    };
  }

  private acceptV2(request: AnswerRequest, outcome: ThreadOutcome, peer: PeerAddress): Accepted | { dropped: DropReason } {
    const { table, timings } = this.#ctx;
    const index = request.responderIndex;
    if (typeof outcome === 'string') {
      table.releaseIndex(index);
      return { dropped: outcome === 'low-order' ? 'low-order' : 'handshake-failed' };
    }
    const { keys, reply } = outcome;
    return {
      reply,
      open: (now) => {
        const trafficKeys = new TrafficKeys(table.backend, keys, index, request.init.index, now, timings.rejectAfterMessages);
        const clientIdentity = request.init.clientStatic ? Buffer.from(request.init.clientStatic) : null;
        return new SecureSession(table, 'server', { address: peer.address, port: peer.port }, trafficKeys, timings, now, clientIdentity);
      },
      discard: () => {
        wipeSessionKeys(keys);
        table.releaseIndex(index);
      },
    };
  }

  private answer(json: string, form: DoCryptForm): Buffer {
    return Buffer.from(this.#ctx.docrypt.fencrypt(json, { form }), 'ascii');
  }
}
