export * from './constants.js';
export * from './errors.js';
export type { CryptoBackend } from './crypto/backend.js';
export { selectBackend, getDefaultBackend, parseBackendPreference, type BackendPreference } from './crypto/select.js';
export { loadSodiumBackend } from './crypto/sodium-backend.js';
export { loadNobleBackend } from './crypto/noble-backend.js';
export { hkdfSha256 } from './crypto/hkdf.js';
export { AeadKey } from './crypto/aead-key.js';
export { CommEncryptor, type CommEncryptorOptions } from './crypto/comm-encryptor.js';
export { Fernet, type FernetEncryptOptions, type FernetDecryptOptions } from './crypto/fernet.js';
export { DoCrypt, type DoCryptForm, type DoCryptOptions, type DoCryptDecrypted, type DoCryptEncryptOptions } from './crypto/docrypt.js';
export { toBase64Url, fromBase64Url } from './encoding.js';
export { encodeHandshake, parseHandshake, type HandshakeMessage, type ParsedHandshake, type HandshakeRejection } from './protocol/handshake.js';
export { Flag, Control, readFrameHeader, writeFrameHeader, encodeFrame, type FrameHeader, type FrameHeaderInput } from './protocol/frame.js';
export { ReplayWindow, REPLAY_WINDOW_SIZE } from './protocol/replay-window.js';
export { BittrrtServer, type BittrrtServerEvents } from './net/server.js';
// createServer and ServerOptions are the server with file transfer plugged in, as before the layers were split.
export {
  createServer, type FileServer, type TransferEventMethods, type FileServerOptions, type FileServerOptions as ServerOptions,
} from './transfer/file-server.js';
export { FileService, type FileServiceOptions, type FileServiceEvents } from './transfer/file-service.js';
export type { FrameHandler } from './net/session.js';
export { sessionPort, type TransferPort } from './transfer/port.js';
export { connect, HandshakeTimeoutError, type ConnectOptions } from './net/client.js';
export { Session, SessionStateError, type SessionEvents, type CloseReason, type PeerAddress, type RttStats } from './net/session.js';
export { SecureSession, PingTimeoutError, type SessionService } from './net/secure-session.js';
export { SeedSession } from './net/seed-session.js';
export { DEFAULT_TIMINGS, type SessionTimings } from './net/timings.js';
export { Counters, type CountersSnapshot, type DropReason } from './net/counters.js';
export { parseHostPort, parsePort, formatAddress, type HostPort } from './net/address.js';
export { createLogger, type Logger, type LogLevel, type LoggerOptions } from './log.js';
export { PersistentClient, type PersistentClientEvents } from './net/persistent.js';
export { pingSeries, type PingSummary, type PingResult } from './net/ping.js';
export { DEFAULT_RATE_LIMITS, type RateLimitOptions } from './net/rate-limit.js';
export { KnownHosts, HostKeyMismatchError, defaultKnownHostsPath, type HostKeyCheck } from './trust/known-hosts.js';
export {
  loadIdentity, loadOrCreateIdentity, fingerprint, bittrrtDir, defaultServerKeyPath, defaultClientKeyPath,
} from './trust/identity.js';
export { readSecretKeyFile, writeSecretKeyFile, KeyFileError } from './trust/key-file.js';
export { readAuthorizedKeys } from './trust/authorized-keys.js';
export { loadConfig, parseConfig, resolveSettings, renderDefaultConfig, writeDefaultConfig, defaultConfigPath, ConfigError, type Settings } from './config.js';
export {
  TransferEndpoint, TransferError, type TransferEndpointOptions, type TransferEvent, type TransferResult, type UploadOptions,
  type DownloadOptions, type BandwidthOptions,
} from './transfer/endpoint.js';
export { TransferFileError } from './transfer/files.js';
export { fileNameProblem } from './transfer/names.js';
export { ReceiveBudget, type Grant } from './transfer/budget.js';
export { BandwidthPolicy, type BandwidthLimits } from './transfer/bandwidth.js';
export { TransferFlags, type TransferMessage, type SenderStats } from './protocol/transfer.js';
