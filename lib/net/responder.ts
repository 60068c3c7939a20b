import { CMD_CONNECT, CMD_CONNECTED, CONNECT_PADDED_LENGTH, MAX_HANDSHAKE_DATAGRAM, NEGOTIATION_DELAY, NEGOTIATION_REPEAT } from '../constants.js';
import { CommEncryptor } from '../crypto/comm-encryptor.js';
import { wipeSessionKeys } from '../crypto/key-schedule.js';
import type { DoCrypt, DoCryptForm } from '../crypto/docrypt.js';
import { toBase64Url } from '../encoding.js';
import { LowOrderKeyError } from '../errors.js';
import { encodeHandshake, parseHandshake } from '../protocol/handshake.js';
import { encodeCookieReply, encodeResponse, readInitiation, respond, type Initiation } from '../protocol/handshake-v2.js';
import type { CookieJar } from './cookie.js';
import type { DropReason } from './counters.js';
import { Keypair } from './keypair.js';
import type { HandshakeRateLimiter } from './rate-limit.js';
import { SecureSession } from './secure-session.js';
import { SeedSession } from './seed-session.js';
import type { PeerAddress, Session } from './session.js';
import type { SessionTable } from './session-table.js';
import type { SessionTimings } from './timings.js';

/** Who may complete a handshake with this server, and as whom the server proves itself. */
export interface ResponderTrust {
  /** The server's long-term X25519 identity. */
  identity: CommEncryptor;
  /** The network key: the Fernet key of the handshake and an input to every session key. */
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
  transmit(datagram: Buffer, to: PeerAddress): void;
}

/** What a `connect` led to: a new session, an answer to a retransmission or a cookie, or a drop. */
export type HandshakeOutcome = { session: Session } | { answered: 'retransmission' | 'cookie' } | { dropped: DropReason };

/** A handshake that checked out: its answer, and the session to open once the answer may be sent. */
interface Accepted {
  reply: Buffer;
  open(): Session;
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

  constructor(context: ResponderContext) {
    this.#ctx = context;
  }

  handle(datagram: Buffer, rinfo: PeerAddress, now: number): HandshakeOutcome {
    const ctx = this.#ctx;
    const { counters } = ctx.table;
    counters.unvalidatedBytesIn += datagram.length;
    if (datagram.length > MAX_HANDSHAKE_DATAGRAM) return { dropped: 'oversized' };
    let decrypted;
    try {
      decrypted = ctx.docrypt.fdecrypt(datagram);
    } catch {
      return { dropped: 'bad-token' };
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
    if (!ctx.limiter.allow(validated ? `cookie|${rinfo.address}|${rinfo.port}` : `${rinfo.address}|${rinfo.port}`, now, validated)) {
      return { dropped: 'rate-limit' };
    }

    // A full table with nothing to evict takes no newcomer: refuse before any X25519 work.
    const full = ctx.table.sessions.size >= ctx.maxSessions;
    if (full && !ctx.table.evictionCandidate(now, 2 * ctx.timings.heartbeatRate)) return { dropped: 'session-limit' };
    const ephemeral = new CommEncryptor({ backend: ctx.table.backend });
    let accepted: Accepted;
    try {
      accepted = init
        ? this.acceptV2(init, ephemeral, rinfo, decrypted.form, now)
        : this.acceptSeed(parsed.message.pubkey, ephemeral, rinfo, decrypted.form, now);
    } catch (err) {
      ephemeral.destroy();
      if (err instanceof LowOrderKeyError) return { dropped: 'low-order' };
      throw err;
    }
    // Only a handshake that checked out may push another session out of a full table.
    if (full) ctx.table.evictionCandidate(now, 2 * ctx.timings.heartbeatRate)?.close('evicted');
    const dropped = this.reply(accepted.reply, datagram, rinfo);
    if (dropped) {
      accepted.discard();
      return dropped;
    }
    const session = accepted.open();
    this.#answers.set(id, { session, reply: accepted.reply, expires: now + ANSWER_TTL_MS });
    ctx.table.add(session);
    counters.handshakes++;
    return { session };
  }

  /** Forgets answers no client can still be waiting for, and idle rate-limit sources; called from the table's tick. */
  expire(now: number): void {
    this.#ctx.limiter.sweep(now);
    // Answers are added with increasing expiry, so the first live one ends the sweep.
    for (const [id, answer] of this.#answers) {
      if (answer.expires > now && !answer.session.closed) break;
      this.#answers.delete(id);
    }
  }

  /** Sends `reply` unless it is larger than the datagram it answers (no amplification). */
  private reply(reply: Buffer, request: Buffer, to: PeerAddress): { dropped: DropReason } | null {
    if (reply.length > request.length) return { dropped: 'amplification' };
    this.#ctx.table.counters.unvalidatedBytesOut += reply.length;
    this.#ctx.transmit(reply, to);
    return null;
  }

  private acceptSeed(clientPublic: Uint8Array, ephemeral: CommEncryptor, peer: PeerAddress, form: DoCryptForm, now: number): Accepted {
    ephemeral.deriveSharedSecret(clientPublic);
    return {
      reply: this.answer(encodeHandshake(CMD_CONNECTED, ephemeral.publicKey), form),
      open: () => new SeedSession(this.#ctx.table, 'server', { address: peer.address, port: peer.port }, ephemeral, this.#ctx.timings, now),
      discard: () => ephemeral.destroy(),
    };
  }

  private acceptV2(init: Initiation, ephemeral: CommEncryptor, peer: PeerAddress, form: DoCryptForm, now: number): Accepted {
    const { table, trust, timings } = this.#ctx;
    const { keys, response } = respond(init, ephemeral, trust.identity, table.allocateIndex(), trust.psk);
    ephemeral.destroy();
    return {
      reply: this.answer(encodeResponse(response), form),
      open: () => {
        const keypair = new Keypair(table.backend, keys, response.index, init.index, now, timings.rejectAfterMessages);
        return new SecureSession(table, 'server', { address: peer.address, port: peer.port }, keypair, timings, now);
      },
      discard: () => wipeSessionKeys(keys),
    };
  }

  private answer(json: string, form: DoCryptForm): Buffer {
    return Buffer.from(this.#ctx.docrypt.fencrypt(json, { form }), 'ascii');
  }
}
