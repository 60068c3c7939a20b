/**
 * The public API: servers and clients, sessions, file transfer, trust, config and errors, and the
 * seed's CommEncryptor / DoCrypt. The layers below (constants, crypto backends, codecs) are
 * `bittrrt/internals` (lib/internals.ts). test/public-api.test.ts pins this list.
 */

// Errors: every class the API throws or rejects with (README, "Errors").
export * from './errors.js';
export { ConnectionRefusedError, HandshakeTimeoutError } from './net/client.js';
export { SessionStateError } from './net/session.js';
export { PingTimeoutError } from './net/secure-session.js';
export { HostKeyMismatchError } from './trust/known-hosts.js';
export { KeyFileError } from './trust/key-file.js';
export { ConfigError } from './config.js';
export { PeerSilentError, TransferError, type PeerWords, type TransferErrorOrigin } from './transfer/transfer-error.js';
export { TransferFileError } from './transfer/files.js';
export { OptimisticAckError } from './transfer/send-core.js';
export { TokenAgeError } from './crypto/fernet.js';

// Servers and clients.
export { DEFAULT_PORT, DEFAULT_CONNECT_HOST, DEFAULT_BIND_ADDR, MAX_PAYLOAD, PROTOCOL_VERSION } from './constants.js';
// createServer and ServerOptions are the server with file transfer plugged in, as before the layers were split.
export {
  createServer, type FileServer, type TransferEventMethods, type FileServerOptions, type FileServerOptions as ServerOptions,
} from './transfer/file-server.js';
export { BittrrtServer, type BittrrtServerEvents } from './net/server.js';
export type { DatagramPath } from './net/io/native-binding.js';
export type { DatagramIoStats } from './net/io/datagram-socket.js';
export { connect, type ConnectOptions } from './net/client.js';
export { PersistentClient, type PersistentClientEvents } from './net/persistent.js';
export { pingSeries, type PingSummary, type PingResult } from './net/ping.js';
export { DEFAULT_TIMINGS, type SessionTimings } from './net/timings.js';
export { DEFAULT_RATE_LIMITS, type RateLimitOptions } from './net/handshake/rate-limit.js';
export type { CryptoBackend } from './crypto/backend.js';
export { createLogger, type Logger, type LogLevel, type LoggerOptions } from './log.js';

// Sessions.
export { Session, type SessionEvents, type CloseReason, type PeerAddress, type RttStats, type FrameHandler } from './net/session.js';
export { SecureSession, type SessionService } from './net/secure-session.js';
export { V1Session } from './net/v1-session.js';
export type { Counters, CountersSnapshot, DropReason } from './net/counters.js';

// File transfer.
export {
  TransferEndpoint, type TransferEndpointOptions, type TransferEvent, type TransferResult, type UploadOptions,
  type DownloadOptions, type BandwidthOptions,
} from './transfer/endpoint.js';
export type { SenderStats, ListEntry, FileMetadata } from './protocol/transfer.js';
export { sessionPort, type TransferPort } from './transfer/port.js';
export { FileService, type FileServiceOptions, type FileServiceEvents } from './transfer/file-service.js';
export { fileNameProblem } from './transfer/names.js';
export { StreamSink } from './transfer/stream-sink.js';
export { downloadTree, listTree, type RemoteTree, type TreeDownloadOptions } from './transfer/tree-download.js';
export { PEER_SILENCE_HEARTBEATS } from './transfer/peer-silence.js';
export { ReceiveBudget, type Grant } from './transfer/budget.js';
export { BandwidthPolicy, type BandwidthLimits } from './transfer/bandwidth.js';

// Trust: identities (an X25519 key pair each), key files, known hosts, authorized keys.
export { X25519KeyPair, type X25519KeyPairOptions } from './crypto/x25519-key-pair.js';
export { KnownHosts, trustOnFirstUse, defaultKnownHostsPath, type HostKeyCheck } from './trust/known-hosts.js';
export type { ServerVerifier, ServerVerdict } from './trust/server-verifier.js';
export {
  loadIdentity, loadOrCreateIdentity, fingerprint, bittrrtDir, defaultServerKeyPath, defaultClientKeyPath,
} from './trust/identity.js';
export { readSecretKeyFile, writeSecretKeyFile } from './trust/key-file.js';
export { readAuthorizedKeys } from './trust/authorized-keys.js';
export { toBase64Url, fromBase64Url } from './encoding.js';

// Config.
export { loadConfig, parseConfig, resolveSettings, renderDefaultConfig, writeDefaultConfig, defaultConfigPath, type Settings } from './config.js';

// The seed's interface.
export { CommEncryptor, type CommEncryptorOptions } from './crypto/comm-encryptor.js';
export { DoCrypt, type DoCryptForm, type DoCryptOptions, type DoCryptDecrypted, type DoCryptEncryptOptions } from './crypto/docrypt.js';
