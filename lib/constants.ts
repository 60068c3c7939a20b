/**
 * Every protocol constant in one place. Values marked "original" are fixed by the Python bittrrt
 * and must not change, or a bittrrt peer that speaks only the original stops understanding us.
 */

/** Default UDP port of `serve` and target port of `connect` (original). */
export const DEFAULT_PORT = 6711;
/** Default bind address of `serve` (original `bind_addr`). */
export const DEFAULT_BIND_ADDR = '0.0.0.0';
/** Default target host of `connect` (original). */
export const DEFAULT_CONNECT_HOST = '127.0.0.1';

/** How many times a client sends its `connect` before giving up (original). */
export const NEGOTIATION_REPEAT = 50;
/** Milliseconds the client waits for `connected` after each send (original). */
export const NEGOTIATION_DELAY = 100;

/** The Fernet key that obfuscates the handshake (original; public, so it authenticates nothing). */
export const NET_OBS_KEY = 'OdiXEOXdvwgWfIizYjdEguhN-IP7eyqp9oITq_0MiBs=';

/** HKDF-SHA256 parameters of the channel key (original: no salt, this info, 32 bytes). */
export const HKDF_INFO = 'bittrrt-chacha20poly1305';
export const HKDF_KEY_BYTES = 32;

/** X25519 key sizes. */
export const X25519_KEY_BYTES = 32;

/** ChaCha20-Poly1305 (IETF) sizes; a sealed message is nonce || ciphertext || tag (original). */
export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;
export const AEAD_OVERHEAD = AEAD_NONCE_BYTES + AEAD_TAG_BYTES;

/** Random bytes fetched per CSPRNG call for small requests (keys, IVs, nonces, indices), and the largest request served so. */
export const RANDOM_POOL_BYTES = 4096;
export const RANDOM_POOL_MAX_REQUEST = 64;

/** Fernet token layout: version(1) || timestamp(8) || iv(16) || ciphertext(16n) || hmac(32). */
export const FERNET_VERSION = 0x80;
export const FERNET_IV_BYTES = 16;
export const FERNET_HMAC_BYTES = 32;
export const FERNET_BLOCK_BYTES = 16;
export const FERNET_HEADER_BYTES = 1 + 8 + FERNET_IV_BYTES;
export const FERNET_MIN_BYTES = FERNET_HEADER_BYTES + FERNET_BLOCK_BYTES + FERNET_HMAC_BYTES;
/** Seconds a token's timestamp may lie in the future when a TTL is checked (as Python's Fernet). */
export const FERNET_MAX_CLOCK_SKEW = 60;
/**
 * Under a network key, a `connect`'s Fernet timestamp may be at most this many seconds old (and at
 * most FERNET_MAX_CLOCK_SKEW ahead), so a captured handshake cannot be replayed forever: a client
 * clock may lag a minute, as Fernet lets it lead one, plus the 5 s a client resends one token.
 */
export const CONNECT_MAX_AGE_SECONDS = FERNET_MAX_CLOCK_SKEW + (NEGOTIATION_REPEAT * NEGOTIATION_DELAY) / 1000;
/**
 * Most answered `connect` ephemeral keys a server remembers, to refuse a replay within that age.
 * The default handshake budget (2000/s unvalidated, 2000/s validated, GLOBAL_HANDSHAKE_RATE) over
 * CONNECT_MAX_AGE_SECONDS plus the skew is about 500,000; this holds a quarter of that (about 20 MB),
 * the oldest forgotten first: a replay of a forgotten key costs one rate-limited handshake, as before.
 */
export const MAX_REMEMBERED_CONNECTS = 131_072;
/** Length of the big-endian counter that later versions of the original put before the JSON. */
export const DOCRYPT_SALT_BYTES = 8;

/** Handshake commands (original). */
export const CMD_CONNECT = 'connect';
export const CMD_CONNECTED = 'connected';
/** Version 2's answer under load: "prove your address by echoing this cookie". */
export const CMD_COOKIE = 'cookie';

/**
 * Largest handshake datagram the server will even look at. A real `connect` token is about
 * 200 bytes; anything far larger is junk and is dropped before any decoding work.
 */
export const MAX_HANDSHAKE_DATAGRAM = 1024;

/** Largest UDP payload we ever read or send (IPv4 limit). */
export const MAX_DATAGRAM = 65507;

/** Original frame flags, as bit positions in the first header byte. */
export const FRAME_FLAG_BITS = {
  URGENT: 0,
  HEARTBEAT: 1,
  FLOW_CONTROL: 2,
  UNLOSSY: 3,
  BINARY: 4,
  DATA: 5,
  ACK: 6,
} as const;
/** Original frame header: flags(1) || channel(3, BE) || sequence(8, BE) || offset(8, BE). */
export const FRAME_HEADER_BYTES = 20;
/**
 * A short data frame's header (ours, PROTOCOL.md §8): flags(1) || channel(3, BE) || packet number,
 * its low 32 bits (4, BE) || offset (6, BE). Six bytes fewer on every datagram of file data.
 */
export const SHORT_FRAME_HEADER_BYTES = 14;
/** Largest frame channel: the header's channel field is 3 bytes. */
export const MAX_CHANNEL = 0xff_ffff;

/* ---- Protocol version 2 (negotiated with fields the original ignores) ---- */

/** Highest protocol version this implementation speaks; the seed's protocol is version 1. */
export const PROTOCOL_VERSION = 2;
/**
 * HKDF-SHA256 info labels of the keys derived from a network key (network-key.ts; no salt): the
 * handshake's Fernet signing key (16 bytes), its Fernet encryption key (16 bytes) and the psk of
 * the version-2 key schedule (32 bytes). One secret, three uses: each gets a key of its own, so no
 * use can ever be turned against another. The network key is bittrrt's own; the original has none.
 */
export const NETWORK_KEY_FERNET_SIGNING_INFO = 'bittrrt network key: fernet signing';
export const NETWORK_KEY_FERNET_ENCRYPTION_INFO = 'bittrrt network key: fernet encryption';
export const NETWORK_KEY_PSK_INFO = 'bittrrt network key: v2 psk';
/** Bytes of a network key (bittrrt keygen). */
export const NETWORK_KEY_BYTES = 32;

/** HKDF info of version-2 session keys (key-schedule.ts; salt: SHA-256 of both ephemeral keys and the transcript). */
export const HKDF_V2_INFO = 'bittrrt-v2-session-keys';
/** A version-2 nonce: receiver index (4 bytes, BE) || message counter (8 bytes, BE). */
export const RECEIVER_INDEX_BYTES = 4;
/**
 * The first byte of every Fernet token's text ('g', from the 0x80 version byte). Receiver indices
 * never start with it, so a datagram's first byte tells a handshake from version-2 data.
 */
export const TOKEN_FIRST_BYTE = 0x67;
/** Smallest possible version-2 packet: nonce, the shortest frame header (a short data frame's) with no payload, tag. */
export const MIN_V2_PACKET = AEAD_OVERHEAD + SHORT_FRAME_HEADER_BYTES;
/** Largest payload one `send()` can carry in one datagram. */
export const MAX_PAYLOAD = MAX_DATAGRAM - AEAD_OVERHEAD - FRAME_HEADER_BYTES;

/** Start a key rotation after this long (WireGuard's REKEY_AFTER_TIME). */
export const REKEY_AFTER_MS = 120_000;
/**
 * Start a key rotation after this many messages under one key. WireGuard uses 2^60; our counters
 * are JS numbers, exact to 2^53, so we rotate at 2^52 and refuse to send at 2^53 - 2^13 — both
 * unreachable in practice (2^52 packets is 14 years at 10 million packets per second).
 */
export const REKEY_AFTER_MESSAGES = 2 ** 52;
export const REJECT_AFTER_MESSAGES = 2 ** 53 - 2 ** 13;
/** How long keys of a finished rotation still decrypt packets that were in flight. */
export const PREVIOUS_KEYS_GRACE_MS = 10_000;
/** A rotation request unanswered this long is sent again. */
export const REKEY_RETRY_MS = 250;
/**
 * A server answers at most one rotation per session in this time (each costs a key pair, an
 * X25519 and an HKDF on the socket thread). It is the shortest `rekey_after` a config accepts, so
 * no honest client is ever slowed; a faster one waits, retrying every REKEY_RETRY_MS.
 */
export const REKEY_MIN_INTERVAL_MS = 1000;
/** HMAC label for the secret each set of traffic keys passes on to the next rotation's key derivation. */
export const REKEY_CHAIN_LABEL = 'bittrrt-v2 rekey chain';

/** Path validation (RFC 9000 §8.2): a challenge is 8 unpredictable bytes the new address must echo. */
export const PATH_CHALLENGE_BYTES = 8;
/** An address not yet validated gets at most 3 times the bytes it sent (RFC 9000 §8.1's factor). */
export const PATH_AMPLIFICATION_LIMIT = 3;
/** A path challenge is sent again at most this often while packets keep coming from the new address. */
export const PATH_CHALLENGE_RETRY_MS = 250;

/** Heartbeat interval (original `heartbeat_rate`, milliseconds). */
export const HEARTBEAT_RATE = 5000;
/** A session with no authenticated packet for this many heartbeat intervals is dead (original). */
export const STALE_HEARTBEATS = 10;
/** Default bound of the server's session table: about 20 MB of state at most. */
export const DEFAULT_MAX_SESSIONS = 10_000;
/** Handshake threads a server starts by default: one per core beyond the socket thread's, at most this many. */
export const MAX_DEFAULT_HANDSHAKE_THREADS = 4;
/** Version-2 handshakes a server lets wait for its threads at once; more are dropped (rate-limit) until they catch up. */
export const MAX_QUEUED_HANDSHAKES = 1024;
/** How long a closing server waits for a handshake thread to wipe its keys and exit before terminating it. */
export const HANDSHAKE_THREAD_STOP_MS = 500;
/** A version-2 session whose client has sent nothing authenticated this long after the handshake is freed. */
export const HALF_OPEN_TIMEOUT_MS = NEGOTIATION_REPEAT * NEGOTIATION_DELAY;

/** A version-2 `connect` is padded to this many JSON characters, so the answer is never larger. */
export const CONNECT_PADDED_LENGTH = 320;
/** Bytes of a handshake cookie, and how often the secret behind cookies rotates (a cookie lives up to two periods). */
export const COOKIE_BYTES = 16;
export const COOKIE_SECRET_PERIOD_MS = 120_000;
/**
 * Handshake rate limits: per source host (IPv4 /32, IPv6 /64, as WireGuard's ratelimiter: ports
 * cost an attacker nothing), and for the whole server (per second, and bursts).
 */
export const SOURCE_HANDSHAKE_RATE = 10;
export const SOURCE_HANDSHAKE_BURST = 20;
export const GLOBAL_HANDSHAKE_RATE = 2000;
export const GLOBAL_HANDSHAKE_BURST = 4000;
/** Most handshake sources whose rate is tracked at once. */
export const MAX_RATE_LIMITED_SOURCES = 65_536;
/**
 * Default most sessions one host (IPv4 /32, IPv6 /64) may hold on a server: a tenth of
 * DEFAULT_MAX_SESSIONS, so filling the table takes ten hosts rather than one, while a NAT (or a
 * carrier-grade NAT) with hundreds of active clients behind one public address still fits.
 */
export const DEFAULT_MAX_SESSIONS_PER_HOST = 1000;
/** The frame flag bit the original never sets, which marks bittrrt's control frames. */
export const FRAME_CONTROL_BIT = 7;
/** Payloads of version-2 frames: a heartbeat's timestamp, a rotation's new public key and index. */
export const HEARTBEAT_TIMESTAMP_BYTES = 8;
export const REKEY_PAYLOAD_BYTES = X25519_KEY_BYTES + RECEIVER_INDEX_BYTES;
/**
 * Every session frame (heartbeats, their answers, rotation, path checks, close) carries exactly
 * this many payload bytes, its fields first and zeros after: the largest of them, the rotation's.
 * A dropper on the path then cannot pick the rotation requests out by size and keep old keys
 * alive; the key age limit (rejectAfterMs) ends what it could still do.
 */
export const SESSION_FRAME_PAYLOAD_BYTES = REKEY_PAYLOAD_BYTES;
/**
 * Keys this old (ms) are refused and the session closes (WireGuard's REJECT_AFTER_TIME): a
 * rotation that never completes, whoever suppresses it, cannot stretch one key over the whole
 * session. Fixed, not derived from `rekey_after`, so that peers configured differently still
 * agree; `rekey_after` is at most MAX_REKEY_AFTER_MS, which leaves a minute for a rotation.
 */
export const REJECT_AFTER_MS = 180_000;
/** The longest rotation interval a config may ask for (WireGuard's REKEY_AFTER_TIME, our default). */
export const MAX_REKEY_AFTER_MS = 120_000;
/** The server's handshake confirmation: HMAC-SHA256 under the confirmation key of this label, truncated. */
export const CONFIRM_LABEL = 'bittrrt-v2 server confirmation';
export const CONFIRM_BYTES = 16;
/** Largest cookie a `connect` may carry. */
export const COOKIE_MAX_BYTES = 32;
/** The replay window's ring of 32-bit blocks; one block is always being reused, so the window is one block less. */
export const REPLAY_RING_BLOCKS = 80;

/* ---- File transfer (lib/transfer), carried in UNLOSSY frames of version-2 sessions ---- */

/**
 * Default largest UDP payload of a session datagram during transfers: a 1452-byte IPv4 payload
 * (1500-byte MTU, less 20 for IPv4 and 28 of slack for PPPoE or a tunnel) less the 8-byte UDP header.
 */
export const DEFAULT_MAX_DATAGRAM = 1444;
/** Smallest datagram a transfer may be configured to: room for the largest control message and acknowledgement. */
export const MIN_TRANSFER_DATAGRAM = 1100;
/** Bytes of every transfer datagram that are not file data: AEAD nonce and tag, frame header. */
export const TRANSFER_OVERHEAD = AEAD_OVERHEAD + FRAME_HEADER_BYTES;
/** The same with short data frames, to a peer that reads them. */
export const SHORT_TRANSFER_OVERHEAD = AEAD_OVERHEAD + SHORT_FRAME_HEADER_BYTES;
/** Transfer ids are frame channels; the side that starts a transfer picks odd (client) or even (server). */
export const MAX_TRANSFER_ID = MAX_CHANNEL;
/** Longest control message (JSON) accepted. */
export const MAX_TRANSFER_MESSAGE_BYTES = 1024;
/** Longest file name, in UTF-8 bytes: file systems' 255, less room for the `.part` suffix. */
export const MAX_FILE_NAME_BYTES = 250;
/**
 * Most names a server reads from its directory to answer one `list` request: a directory with
 * more is listed in part, and the listing says so. Bounds the work one small request causes.
 */
export const LIST_SCAN_NAMES = 100_000;
/** Most entries a server examines (lstat) for one `list` page; the page then ends early, with a cursor. */
export const LIST_PAGE_STATS = 256;
/** Longest relative path an upload may name (a file in a directory tree), in UTF-8 bytes: an offer stays within one control message. */
export const MAX_PATH_BYTES = 768;
/** Most components of such a path (directories deep, plus the file). */
export const MAX_PATH_COMPONENTS = 32;
/** Suffix of the file that receives data until its hash is checked. */
export const PART_SUFFIX = '.part';

/** Retransmission timeout (RFC 6298): initial, floor and ceiling in ms. The floor is below RFC 6298's 1 s, as in Linux (200 ms) and QUIC: SACK finds most losses first. */
export const INITIAL_RTO_MS = 250;
export const MIN_RTO_MS = 40;
export const MAX_RTO_MS = 8_000;
/**
 * The RTO's margin over SRTT is never less than this share of SRTT, so RTO >= 2 SRTT (Linux keeps
 * RTTVAR at 200 ms or more; its tail-loss probe waits 2 SRTT). Per-datagram samples from one
 * steady flight drive RTTVAR towards zero, and RFC 6298's SRTT + 4 RTTVAR then fell to SRTT plus a
 * few milliseconds: a queue that grew by a third within a round trip (another flow's Startup)
 * fired a spurious timeout, which takes the window to 4 datagrams and resends the whole flight.
 * In simulation (100 Mbit/s x 50 ms, Node-like hosts, a flow starting 1 s after another), Jain's
 * index over 20 s was under 0.95 in 5 of 24 seeds, down to 0.66 in one where the newcomer had
 * 4-23% of the link throughout; with the floor, 3 of 24 under 0.95 and none under 0.92.
 */
export const RTO_MIN_MARGIN_SHARE = 1;
/** A datagram is lost when one sent this many later is acknowledged (RFC 9002 kPacketThreshold), or it is this much of an RTT older (kTimeThreshold). */
export const LOSS_PACKET_THRESHOLD = 3;
export const LOSS_TIME_THRESHOLD = 9 / 8;
/** Data datagrams a receiver takes before it acknowledges at once, rather than at the end of the event-loop turn. */
export const ACK_EVERY_PACKETS = 16;
/** The same while a gap is open: often enough for the sender's three-packet loss rule. */
export const ACK_EVERY_REORDERED = 3;
/**
 * The most of a receiver's reported ack delay a sender subtracts from an RTT sample (RFC 9000's
 * default max_ack_delay; our receivers acknowledge within an event-loop turn). An RTT sample is
 * never lowered below the minimum RTT either (RFC 9002 §5.3), so a peer cannot report its way to
 * zero RTT and hide a queue from the sender.
 */
export const MAX_ACK_DELAY_MS = 25;
/**
 * Optimistic-acknowledgement detection (as QUIC stacks skip packet numbers, RFC 9000 §21.4): a
 * sender leaves one packet number unused every SKIP_MIN + random(SKIP_SPREAD) packets, and its
 * first packet number is random below PACKET_NUMBER_START_RANGE. A receiver that reports a number
 * never sent is acknowledging what it did not receive.
 */
export const PACKET_NUMBER_SKIP_MIN = 64;
export const PACKET_NUMBER_SKIP_SPREAD = 256;
export const PACKET_NUMBER_START_RANGE = 2 ** 24;
/** Smallest data segment, except one that ends a read block or the stream: the payload of the smallest transfer datagram. */
export const MIN_SEGMENT_BYTES = MIN_TRANSFER_DATAGRAM - TRANSFER_OVERHEAD;
/** A window probe is answered at most this often (an empty frame must not buy a full acknowledgement each). */
export const PROBE_ANSWER_MS = 10;
/** Most SACK spans a sender keeps from acknowledgements; past it, SACK information is ignored until the cumulative offset catches up. */
export const MAX_SACKED_SPANS = 4096;
/** Most SACK ranges in one acknowledgement. */
export const MAX_SACK_RANGES = 32;
/** Receive window: bytes a receiver holds (out of order, or waiting for the disk) before it stops the sender. */
export const RECEIVE_WINDOW_BYTES = 8 * 1024 * 1024;
/**
 * Files of a tree (`--send DIR`, `--get DIR`) moved at once. One after another, each file costs
 * its request's round trip and its result's with the path idle between: 50 files of 4 KiB took
 * 6.0 s over a 50 ms path, 2.3 round trips each. Fewer than a peer takes at once from one session
 * (16, MAX_TRANSFERS_PER_SESSION), so the tree never crowds out the session's other transfers.
 */
export const TREE_FILES_IN_FLIGHT = 8;
/**
 * …and the most bytes of files a tree has in flight together (beyond the first, which always
 * goes): each upload reserves up to one receive window of the server's receive budget, which
 * grants a client host at least one window, so a tree's files together never ask for more than a
 * lone file would. Small files go together; a big one goes alone, as before.
 */
export const TREE_BYTES_IN_FLIGHT = RECEIVE_WINDOW_BYTES;
/**
 * Most a receive window grows to (see ReceiveCore's auto-tuning): two bandwidth-delay products of a
 * 1 Gbit/s × 200 ms path (25 MB each), what a lossy path that long needs to stay full.
 */
export const RECEIVE_WINDOW_MAX_BYTES = 64 * 1024 * 1024;
/**
 * A server's budget for received data it holds in memory (out of order, or waiting for the disk),
 * over all transfers: 8 full receive windows, so 8 uploads at full speed at once. Each receiving
 * transfer reserves its window from it when it starts and is refused when the window does not fit.
 * 64 MiB is what a small server can spare; the measured attack this bounds held 200 MiB with two sessions.
 */
export const DEFAULT_RECEIVE_BUDGET_BYTES = 64 * 1024 * 1024;
/**
 * The share of the budget one host (hostKey: IPv4 /32, IPv6 /64) may hold: a quarter, so three
 * other hosts can still upload at full speed while one holds its share, but never less than one
 * receive window, so a lone client always gets full speed.
 */
export const RECEIVE_BUDGET_HOST_DIVISOR = 4;
/** The sender reads the file in blocks of this size, counted from the start offset; no segment straddles two. */
export const READ_BLOCK_BYTES = 1024 * 1024;
/**
 * A received file's part is flushed to disk (fdatasync, off the event loop) after every this many
 * bytes written, while the transfer goes on. The final fsync before the hash check then waits for
 * the last few MiB, not the whole file: 64 MiB held dirty in the page cache took 0.1 s to sync
 * here, a tenth of a second the sender waited for its answer. The kernel would start writing them
 * back only after 30 s (dirty_expire_centisecs).
 */
export const BACKGROUND_SYNC_BYTES = 8 * 1024 * 1024;
/**
 * Pacing: how far sends may run ahead of the paced schedule (Node's timers are good to about a
 * millisecond, so one millisecond of sends goes out as one burst: 9 datagrams at 100 Mbit/s).
 */
export const PACING_SLACK_MS = 1;
/** Most datagrams sent in one event-loop turn, so acknowledgements are read in between. */
export const SEND_BURST_PACKETS = 64;
/** A control message unanswered this long is sent again (then 1.5 times longer each time, up to 2 s, for the stall time at most). */
export const CONTROL_RETRY_MS = 200;
/** Longest bandwidth test. */
export const MAX_BANDWIDTH_SECONDS = 3600;
/**
 * A server's default policy for bandwidth tests its clients ask for: at most 4 at once in all, 1
 * per host (hostKey), 60 s each. A test makes the server send (or take) as fast as the path allows
 * for as long as it lasts, to an address that only completed a handshake; these limits keep that
 * to a small, known share of the server's link (a quarter each for 4 hosts, none for long)
 * while `bittrrt connect --bwup/--bwdown` still works against a default server. PROTOCOL.md §8.
 */
export const DEFAULT_BANDWIDTH_LIMITS = { inAll: 4, perHost: 1, maxSeconds: 60 } as const;
/** A transfer whose peer acknowledges nothing this long has failed (the session may still live). */
export const TRANSFER_STALL_MS = 30_000;
/**
 * Finished uploads whose maker a server remembers, so that maker alone may have a copy it sends
 * again compared (ifChanged). Every upload adds one; past this many the oldest is forgotten, and
 * its maker is then told "already exists", as anyone else is: memory stays bounded (about 150 B
 * an entry) however many files a client uploads.
 */
export const REMEMBERED_FILE_MAKERS = 10_000;
/**
 * Prefix hashes (a resume's proof of a file's start: a `get` with an offset, an `offer` with
 * `resume`) running at once in this process, and per peer host. Each reads up to the whole file,
 * one small message apiece: a review measured 4 KiB of requests making a server hash 8 GiB. Two in
 * all leaves a core of a two-core server free for everyone else; one per host means a client
 * resumes one file at a time, and a second request waits for nothing: it is refused with a reason.
 */
export const HASH_JOBS_IN_ALL = 2;
export const HASH_JOBS_PER_HOST = 1;
/**
 * After `done`, the sender waits for `result` at most the stall time plus the file's size at this
 * rate (the receiver syncs and hashes it all: SHA-256 runs at over 300 MiB/s on one core of a
 * small machine, a disk reads at 50 MiB/s or more), never more than MAX_CHECK_WAIT_MS. `checking`
 * answers restart only the stall time within that total, so a receiver cannot keep a sender
 * (an unattended script) waiting forever.
 */
export const MIN_CHECK_BYTES_PER_SECOND = 8 * 1024 * 1024;
/** Hard ceiling on the wait for `result` after `done`: 10 minutes, whatever the size. */
export const MAX_CHECK_WAIT_MS = 10 * 60_000;
/**
 * Default share of the server's `--dir` one client (an identity, or an anonymous client's host:
 * the part-file owner, PROTOCOL.md §8) may fill with its uploads: 16 GiB, room for large files
 * (a disk image) while one admitted client cannot fill the disk of a small server alone.
 * `client_quota` changes it; 0 means none.
 */
export const DEFAULT_CLIENT_QUOTA_BYTES = 16 * 1024 * 1024 * 1024;
/**
 * Part files whose hash state is remembered after their receive stopped, so resuming one does not
 * read it again (a hash's state is about 100 bytes; 64 covers every upload a server takes at once).
 */
export const PART_HASHES_REMEMBERED = 64;
/**
 * Prefix hashes of files being sent that are remembered (with the file's version and length), so
 * a peer asking again and again to resume a download of one file costs one read, not one each.
 */
export const PREFIX_HASHES_REMEMBERED = 64;
