import { expect } from 'chai';
import * as api from '../lib/index.js';

/**
 * What `bittrrt` exports at run time (types are not listed). A change here is a change to the
 * public API: make it on purpose, and update the README with it.
 */
const PUBLIC = [
  // errors
  'AbortedError', 'BackendUnavailableError', 'BittrrtError', 'ConfigError', 'ConnectionRefusedError', 'DecryptError', 'HandshakeTimeoutError',
  'HostKeyMismatchError', 'InvalidInputError', 'InvalidTokenError', 'KeyFileError', 'LowOrderKeyError', 'NoSharedKeyError',
  'OptimisticAckError', 'PingTimeoutError', 'ServerStateError', 'SessionStateError', 'SocketError', 'TokenAgeError',
  'TransferError', 'PeerSilentError', 'TransferFileError',
  // servers and clients
  'DEFAULT_BIND_ADDR', 'DEFAULT_CONNECT_HOST', 'DEFAULT_PORT', 'MAX_PAYLOAD', 'PROTOCOL_VERSION',
  'createServer', 'BittrrtServer', 'connect', 'PersistentClient', 'pingSeries', 'DEFAULT_TIMINGS', 'DEFAULT_RATE_LIMITS',
  'createLogger',
  // sessions
  'Session', 'SecureSession', 'V1Session',
  // file transfer
  'TransferEndpoint', 'sessionPort', 'FileService', 'fileNameProblem', 'ReceiveBudget', 'BandwidthPolicy', 'StreamSink', 'downloadTree', 'listTree', 'PEER_SILENCE_HEARTBEATS',
  // trust
  'X25519KeyPair', 'KnownHosts', 'trustOnFirstUse', 'defaultKnownHostsPath', 'loadIdentity', 'loadOrCreateIdentity', 'fingerprint', 'bittrrtDir',
  'defaultServerKeyPath', 'defaultClientKeyPath', 'readSecretKeyFile', 'writeSecretKeyFile', 'readAuthorizedKeys',
  'toBase64Url', 'fromBase64Url',
  // config
  'loadConfig', 'parseConfig', 'resolveSettings', 'renderDefaultConfig', 'writeDefaultConfig', 'defaultConfigPath',
  // the seed's interface
  'CommEncryptor', 'DoCrypt',
];

describe('public API: bittrrt exports exactly the curated list', () => {
  it('lib/index.ts exports these names and no others', () => {
    expect(Object.keys(api).sort()).to.deep.equal([...PUBLIC].sort());
  });

  it('every error class it exports has a code', () => {
    for (const [name, value] of Object.entries(api)) {
      if (typeof value === 'function' && value.prototype instanceof Error) {
        expect(value.prototype instanceof api.BittrrtError || value === api.BittrrtError, name).to.equal(true);
      }
    }
  });

  it('the internals are a subpath of their own: bittrrt/internals', async () => {
    const internals = await import('bittrrt/internals');
    for (const name of ['readFrameHeader', 'AeadKey', 'hkdfSha256', 'loadSodiumBackend', 'ReplayWindow', 'FRAME_HEADER_BYTES', 'readU32']) {
      expect(internals, name).to.have.property(name);
      expect(api, name).not.to.have.property(name);
    }
  });
});
