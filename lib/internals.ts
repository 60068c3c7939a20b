/**
 * `bittrrt/internals`: the layers below the public API (lib/index.ts), for tools, benchmarks and
 * interoperability tests. No stability promise: these follow the code.
 */
export * from './constants.js';
export * from './bytes.js';
export type { CryptoBackend } from './crypto/backend.js';
export { selectBackend, getDefaultBackend, parseBackendPreference, type BackendPreference } from './crypto/select.js';
export { loadSodiumBackend } from './crypto/sodium-backend.js';
export { loadNobleBackend } from './crypto/noble-backend.js';
export { hkdfSha256 } from './crypto/hkdf.js';
export { AeadKey } from './crypto/aead-key.js';
export { Fernet, type FernetEncryptOptions, type FernetDecryptOptions } from './crypto/fernet.js';
export { encodeHandshake, parseHandshake, type HandshakeMessage, type ParsedHandshake, type HandshakeRejection } from './protocol/handshake.js';
export {
  Flag, Control, readFrameHeader, writeFrameHeader, encodeFrame, frameFlags, frameChannel, frameSafeSequence, frameSafeOffset,
  type FrameHeader, type FrameHeaderInput,
} from './protocol/frame.js';
export { ReplayWindow, REPLAY_WINDOW_SIZE } from './protocol/replay-window.js';
export { TransferFlags, type TransferMessage } from './protocol/transfer.js';
export { Counters } from './net/counters.js';
export { parseHostPort, parsePort, formatAddress, type HostPort } from './net/address.js';
