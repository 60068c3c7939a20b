import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import fc from 'fast-check';
import { ConfigError, loadConfig, parseConfig, renderDefaultConfig, resolveSettings, type Settings, writeDefaultConfig } from '../lib/config.js';
import { DEFAULT_BIND_ADDR, DEFAULT_MAX_DATAGRAM, DEFAULT_MAX_SESSIONS, DEFAULT_MAX_SESSIONS_PER_HOST, DEFAULT_PORT, HEARTBEAT_RATE, REKEY_AFTER_MS, STALE_HEARTBEATS } from '../lib/constants.js';
import { DEFAULT_RATE_LIMITS } from '../lib/net/handshake/rate-limit.js';

const PATH = '/etc/bittrrt/test.conf';

const DEFAULTS: Settings = {
  bind_addr: DEFAULT_BIND_ADDR,
  bind_port: DEFAULT_PORT,
  heartbeat_rate: HEARTBEAT_RATE,
  stale_heartbeats: STALE_HEARTBEATS,
  rekey_after: REKEY_AFTER_MS / 1000,
  max_sessions: DEFAULT_MAX_SESSIONS,
  max_sessions_per_host: DEFAULT_MAX_SESSIONS_PER_HOST,
  handshake_rate: DEFAULT_RATE_LIMITS.globalRate,
  source_handshake_rate: DEFAULT_RATE_LIMITS.perSourceRate,
  handshake_threads: 'auto',
  log_format: 'text',
  key_file: '',
  identity_file: '',
  authorized_keys: '',
  known_hosts: '',
  files_dir: '',
  max_datagram: DEFAULT_MAX_DATAGRAM,
  allow_unauthenticated: false,
  receive_budget: 64,
  bandwidth_tests: '4,1,60',
  overwrite: 'allow',
  max_size: 0,
  client_quota: 16384,
};

const KEYS = Object.keys(DEFAULTS) as Array<keyof Settings>;

/** Asserts `fn` throws a ConfigError whose message contains every fragment; returns the message. */
function expectConfigError(fn: () => unknown, ...fragments: string[]): string {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected a ConfigError containing ${JSON.stringify(fragments)}`).to.be.instanceOf(ConfigError);
  const err = caught as ConfigError;
  expect(err.code).to.equal('ERR_CONFIG');
  for (const f of fragments) expect(err.message, err.message).to.include(f);
  return err.message;
}

interface Case {
  key: keyof Settings;
  good: Array<[string, string | number | boolean]>;
  bad: string[];
}

const CASES: Case[] = [
  {
    key: 'bind_addr',
    good: [['0.0.0.0', '0.0.0.0'], ['127.0.0.1', '127.0.0.1'], ['::', '::'], ['::1', '::1'], ['fe80::1', 'fe80::1'], [' 10.1.2.3 ', '10.1.2.3']],
    bad: ['', 'localhost', '256.0.0.1', '1.2.3', 'example.org', '0.0.0.0:6711', '[::1]'],
  },
  {
    key: 'bind_port',
    good: [['0', 0], ['1', 1], ['6711', 6711], ['65535', 65535]],
    bad: ['', '65536', '-1', '+80', '80.0', '1e3', '0x50', 'eighty', '99999999999999999999', '80 81'],
  },
  {
    key: 'heartbeat_rate',
    good: [['10', 10], ['5000', 5000], ['3600000', 3_600_000]],
    bad: ['', '9', '0', '3600001', '-10', '1.5', 'fast'],
  },
  {
    key: 'stale_heartbeats',
    good: [['2', 2], ['10', 10], ['1000', 1000]],
    bad: ['', '0', '1', '1001', '-2', '2.0'],
  },
  {
    key: 'rekey_after',
    good: [['1', 1], ['60', 60], ['120', 120]],
    bad: ['', '0', '121', '86400', '-1', '1s', '2m'],
  },
  {
    key: 'max_sessions_per_host',
    good: [['1', 1], ['1000', 1000], ['1000000', 1_000_000]],
    bad: ['', '0', '1000001', '-5', 'many'],
  },
  {
    key: 'max_sessions',
    good: [['1', 1], ['10000', 10_000], ['1000000', 1_000_000]],
    bad: ['', '0', '1000001', '-5', 'many'],
  },
  ...(['handshake_rate', 'source_handshake_rate'] as const).map((key): Case => ({
    key,
    good: [['1', 1], ['10', 10], ['2000', 2000], ['1000000', 1_000_000]],
    bad: ['', '0', '1000001', '-1', '2.5', '1k'],
  })),
  {
    key: 'handshake_threads',
    good: [['auto', 'auto'], ['0', 0], ['1', 1], ['64', 64]],
    bad: ['', 'AUTO', '-1', '65', '1.5', 'two'],
  },
  {
    key: 'allow_unauthenticated',
    good: [['true', true], ['false', false], [' true ', true]],
    bad: ['', 'yes', '1', 'TRUE', 'on'],
  },
  {
    key: 'log_format',
    good: [['text', 'text'], ['json', 'json'], ['  json  ', 'json']],
    bad: ['', 'TEXT', 'Json', 'yaml', 'text json', 'true'],
  },
  ...(['key_file', 'identity_file', 'authorized_keys', 'known_hosts'] as const).map((key): Case => ({
    key,
    good: [['', ''], ['/home/me/.bittrrt/x.key', '/home/me/.bittrrt/x.key'], ['relative/path', 'relative/path'],
      ['/path with spaces/k', '/path with spaces/k'], ['C:\\keys\\k=1', 'C:\\keys\\k=1']],
    bad: ['bad\0path'],
  })),
];

describe('config', () => {
  describe('renderDefaultConfig', () => {
    it('parses back to the defaults', () => {
      const text = renderDefaultConfig();
      const file = parseConfig(text, PATH);
      expect(file).to.deep.equal(DEFAULTS);
      expect(resolveSettings(file, {})).to.deep.equal(DEFAULTS);
    });

    it('mentions every key once, with a comment above it', () => {
      const text = renderDefaultConfig();
      const lines = text.split('\n');
      for (const key of KEYS) {
        const at = lines.findIndex((l) => l.startsWith(`${key}=`));
        expect(at, key).to.be.greaterThan(0);
        expect(lines.filter((l) => l.startsWith(`${key}=`)), key).to.have.length(1);
        expect(lines[at - 1]!.startsWith('#'), `${key} has a comment`).to.equal(true);
      }
    });
  });

  describe('resolveSettings', () => {
    it('with no file and no flags gives the defaults', () => {
      expect(resolveSettings({}, {})).to.deep.equal(DEFAULTS);
    });

    it('file values override defaults, flags override file values', () => {
      const file = parseConfig('bind_port=7000\nlog_format=json\nmax_sessions=5\nkey_file=/from/file\n', PATH);
      const settings = resolveSettings(file, {
        bind_port: { name: '--port', value: '8000' },
        key_file: { name: '--key-file', value: '/from/flag' },
        log_format: { name: '--log-format', value: undefined },
        bind_addr: { name: '--bind', value: '127.0.0.1' },
      });
      expect(settings.bind_port, 'flag over file').to.equal(8000);
      expect(settings.key_file, 'flag over file').to.equal('/from/flag');
      expect(settings.log_format, 'file (flag without value)').to.equal('json');
      expect(settings.max_sessions, 'file').to.equal(5);
      expect(settings.bind_addr, 'flag over default').to.equal('127.0.0.1');
      expect(settings.heartbeat_rate, 'default').to.equal(HEARTBEAT_RATE);
    });

    it('a flag may set an empty path, overriding the file', () => {
      const settings = resolveSettings({ known_hosts: '/from/file' }, { known_hosts: { name: '--known-hosts', value: '' } });
      expect(settings.known_hosts).to.equal('');
    });

    it('validates flags like config values, naming the flag', () => {
      for (const c of CASES) {
        for (const bad of c.bad) {
          const message = expectConfigError(() => resolveSettings({}, { [c.key]: { name: `--flag-${c.key}`, value: bad } }), `--flag-${c.key}`);
          expect(message).to.include(JSON.stringify(bad));
        }
        for (const [text, value] of c.good) {
          expect(resolveSettings({}, { [c.key]: { name: '--x', value: text.trim() } })[c.key], `${c.key}=${text}`)
            .to.equal(value);
        }
      }
    });

    it('a bad flag fails even when the file has a good value', () => {
      expectConfigError(() => resolveSettings({ bind_port: 7000 }, { bind_port: { name: '--port', value: '70000' } }), '--port', '70000');
    });
  });

  describe('parseConfig', () => {
    it('an empty text gives no settings', () => {
      expect(parseConfig('', PATH)).to.deep.equal({});
      expect(parseConfig('\n\n  \n# only a comment\n', PATH)).to.deep.equal({});
    });

    for (const c of CASES) {
      it(`${c.key}: accepts good values`, () => {
        for (const [text, value] of c.good) {
          const parsed = parseConfig(`${c.key}=${text}\n`, PATH);
          expect(parsed, `${c.key}=${JSON.stringify(text)}`).to.deep.equal({ [c.key]: value });
        }
      });

      it(`${c.key}: rejects bad values with a ConfigError naming path:line and the key`, () => {
        for (const bad of c.bad) {
          const text = `# header\n\nlog_format=json\n${c.key}=${bad}\nbind_port=1\n`;
          expectConfigError(() => parseConfig(text, PATH), `${PATH}:4`, c.key);
        }
      });
    }

    it('ignores comments, trailing comments, blank lines, surrounding whitespace and CRLF', () => {
      const text = [
        '# bittrrt config',
        '',
        '   ',
        '  bind_port = 7000   # the port',
        '\tlog_format=json\t',
        '# bind_port=1',
        'max_sessions=42 #',
        'heartbeat_rate=250\r',
        '   # indented comment',
        '',
      ].join('\n');
      expect(parseConfig(text, PATH)).to.deep.equal({ bind_port: 7000, log_format: 'json', max_sessions: 42, heartbeat_rate: 250 });
      expect(parseConfig('bind_port=9\r\nrekey_after=60\r\n', PATH)).to.deep.equal({ bind_port: 9, rekey_after: 60 });
    });

    it('a later line for the same key wins', () => {
      expect(parseConfig('bind_port=1\nbind_port=2\n', PATH)).to.deep.equal({ bind_port: 2 });
    });

    it('rejects an unknown key, naming path:line and the key', () => {
      const message = expectConfigError(() => parseConfig('bind_port=1\n\nbind_prot=2\n', PATH), `${PATH}:3`, 'bind_prot');
      expect(message).to.include('unknown key');
      expectConfigError(() => parseConfig('=5\n', PATH), `${PATH}:1`, 'unknown key');
      expectConfigError(() => parseConfig('BIND_PORT=5\n', PATH), `${PATH}:1`, 'BIND_PORT');
    });

    it('rejects Object.prototype names as unknown keys (ConfigError, not a TypeError)', () => {
      for (const key of ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__', '__defineGetter__']) {
        expectConfigError(() => parseConfig(`${key}=1\n`, PATH), `${PATH}:1`, key);
      }
    });

    it('rejects a line without =, naming path:line', () => {
      expectConfigError(() => parseConfig('bind_port=1\nbind_port 2\n', PATH), `${PATH}:2`, 'key=value');
      expectConfigError(() => parseConfig('garbage', 'other.conf'), 'other.conf:1');
    });

    it('accepts and ignores the original-only keys port_ranges and port_parallelability', () => {
      const text = 'port_ranges=6000-7000,8000-9000\nport_parallelability=4\nbind_port=7000\nport_ranges=anything at all\n';
      expect(parseConfig(text, PATH)).to.deep.equal({ bind_port: 7000 });
      expect(parseConfig('port_parallelability=\n', PATH)).to.deep.equal({});
    });

    it('the line number counts every line (blank, comment, CRLF)', () => {
      expectConfigError(() => parseConfig('# a\r\n\r\n# b\r\nbind_port=1\r\nbind_port=x\r\n', PATH), `${PATH}:5`, 'bind_port');
    });

    it('never throws anything but ConfigError on arbitrary text (fast-check)', () => {
      const line = fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.tuple(fc.constantFrom(...KEYS, 'port_ranges', 'unknown'), fc.string({ maxLength: 20 })).map(([k, v]) => `${k}=${v}`),
      );
      fc.assert(fc.property(fc.array(line, { maxLength: 10 }), (lines) => {
        try {
          const parsed = parseConfig(lines.join('\n'), PATH);
          for (const key of Object.keys(parsed)) expect(KEYS, key).to.include(key);
        } catch (err) {
          expect(err).to.be.instanceOf(ConfigError);
        }
      }), { numRuns: 300 });
    });
  });

  describe('loadConfig / writeDefaultConfig (temp dir)', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'bittrrt-config-test-'));
    });
    afterEach(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it('writeDefaultConfig writes a 0600 file that loads back to the defaults, and refuses to overwrite without force', () => {
      const path = join(dir, 'sub', 'config');
      writeDefaultConfig(path, false);
      expect((statSync(path).mode & 0o777).toString(8)).to.equal('600');
      expect(readFileSync(path, 'utf8')).to.equal(renderDefaultConfig());
      expect(resolveSettings(loadConfig(path), {})).to.deep.equal(DEFAULTS);
      writeFileSync(path, 'bind_port=1\n');
      expectConfigError(() => writeDefaultConfig(path, false), path, '--force');
      expect(readFileSync(path, 'utf8')).to.equal('bind_port=1\n');
      writeDefaultConfig(path, true);
      expect(readFileSync(path, 'utf8')).to.equal(renderDefaultConfig());
    });

    it('loadConfig: an explicit missing path is an error; errors in the file name the real path', () => {
      expectConfigError(() => loadConfig(join(dir, 'missing')), join(dir, 'missing'));
      const path = join(dir, 'config');
      writeFileSync(path, 'bind_port=1\nlog_format=xml\n');
      chmodSync(path, 0o600);
      expectConfigError(() => loadConfig(path), `${path}:2`, 'log_format');
    });
  });
});
