import { Command, Option } from 'clipanion';
import { loadConfig, resolveSettings } from '../config.js';
import { fromBase64Url } from '../encoding.js';
import { formatAddress, parseHostPort } from '../net/address.js';
import { fingerprint } from '../trust/identity.js';
import { defaultKnownHostsPath, KnownHosts } from '../trust/known-hosts.js';
import { userInput } from './errors.js';

/** The known_hosts file `connect` uses: --known-hosts, else the config's known_hosts, else ~/.bittrrt/known_hosts. */
abstract class KnownHostsCommand extends Command {
  configPath = Option.String('--config', { description: 'config file (default: $BITTRRT_CONFIG, else ~/.bittrrt/config)' });
  knownHostsFile = Option.String('--known-hosts', { description: 'the file (default ~/.bittrrt/known_hosts)' });

  protected knownHosts(): KnownHosts {
    const file = loadConfig(this.configPath ?? (process.env.BITTRRT_CONFIG || undefined));
    const settings = resolveSettings(file, { known_hosts: { name: '--known-hosts', value: this.knownHostsFile } });
    return new KnownHosts(settings.known_hosts || defaultKnownHostsPath());
  }
}

export class KnownHostsListCommand extends KnownHostsCommand {
  static override paths = [['known-hosts', 'list']];
  static override usage = Command.Usage({
    description: 'list the servers whose identity connect has recorded',
    details: 'Prints one line per entry of the known_hosts file: host:port, the fingerprint of its identity key, and the line number.',
    examples: [['List the recorded servers', '$0 known-hosts list']],
  });

  override async execute(): Promise<number> {
    const knownHosts = this.knownHosts();
    const entries = knownHosts.list();
    if (entries.length === 0) this.context.stdout.write(`no servers recorded in ${knownHosts.path}\n`);
    for (const { host, key, line } of entries) {
      const decoded = fromBase64Url(key);
      this.context.stdout.write(`${host} ${decoded ? fingerprint(decoded) : '(malformed key)'} line=${line}\n`);
    }
    return 0;
  }
}

export class KnownHostsRemoveCommand extends KnownHostsCommand {
  static override paths = [['known-hosts', 'remove']];
  static override usage = Command.Usage({
    description: 'forget the recorded identity of a server',
    details: `
      Removes HOST's entries (host:port as you typed it to connect, the port 6711 when you typed
      none; any case, trailing dot or spelling of an IPv6 address) from the known_hosts file. The next \`connect\` records the
      identity the server shows then: do this only when you know the server's key was replaced.
    `,
    examples: [['Forget a server whose key was replaced', '$0 known-hosts remove example.org:6711']],
  });

  host = Option.String({ name: 'host:port' });

  override async execute(): Promise<number> {
    // The entry connect made: host:port, with the default port when none was typed.
    const { host, port } = userInput(() => parseHostPort(this.host));
    const label = formatAddress(host, port);
    const knownHosts = this.knownHosts();
    if (knownHosts.remove(label) === 0) {
      this.context.stderr.write(`bittrrt: ${label} is not in ${knownHosts.path}\n`);
      return 1;
    }
    this.context.stdout.write(`removed ${label} from ${knownHosts.path}\n`);
    return 0;
  }
}
