/**
 * What each option's value is, for --help (clipanion would print `#0`). An option missing here
 * shows VALUE; the test of --help checks that none does.
 */
const PLACEHOLDERS: Readonly<Record<string, string>> = {
  '--config': 'PATH',
  '--heartbeat-rate': 'MS',
  '--stale-heartbeats': 'N',
  '--rekey-after': 'SECONDS',
  '--key-file': 'FILE',
  '--identity': 'FILE',
  '--ping': 'N',
  '--interval': 'MS',
  '--server-key': 'KEY',
  '--known-hosts': 'FILE',
  '--send': 'FILE',
  '--as': 'NAME',
  '--get': 'NAME',
  '--out': 'PATH',
  '--bwup': 'SECONDS',
  '--bwdown': 'SECONDS',
  '--max-datagram': 'BYTES',
  '--max-size': 'MIB',
  '--bind': 'ADDRESS',
  '--port': 'PORT',
  '--max-sessions': 'N',
  '--max-sessions-per-host': 'N',
  '--stats-interval': 'SECONDS',
  '--authorized-keys': 'FILE',
  '--handshake-rate': 'N',
  '--dir': 'DIR',
  '--bandwidth-tests': 'off|IN_ALL,PER_HOST,SECONDS',
  '--receive-budget': 'MIB',
  '--client-quota': 'MIB',
  '--source-handshake-rate': 'N',
  '--handshake-threads': 'auto|N',
};

/** The placeholder for an option's value (`--send` -> FILE). */
export function placeholder(option: string): string {
  return PLACEHOLDERS[option] ?? 'VALUE';
}

/** An option definition as clipanion writes it (`-o,--out #0`), with its placeholder for `#0`. */
export function withPlaceholders(definition: string): string {
  return definition.replace(/((?:^|[\s,[])(--[\w-]+)) #0/g, (_match, prefix: string, name: string) => `${prefix} ${placeholder(name)}`);
}
