import { randomFillSync } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Command, Option, UsageError } from 'clipanion';
import { X25519_KEY_BYTES } from '../constants.js';
import { toBase64Url } from '../encoding.js';
import { bittrrtDir, defaultClientKeyPath, fingerprint, loadIdentity } from '../trust/identity.js';
import { writeSecretKeyFile } from '../trust/key-file.js';
import { isDirectory } from './fs.js';

export class KeygenCommand extends Command {
  static override paths = [['keygen']];
  static override usage = Command.Usage({
    description: 'create a network key, or a client identity key',
    details: `
      Without \`--client\`: writes a new random 32-byte network key (default ~/.bittrrt/network.key,
      mode 0600). Give the same file to the server and every client with \`--key-file\`: without it
      no handshake completes and no traffic decrypts.

      With \`--client\`: writes a client identity key (default ~/.bittrrt/client.key, mode 0600) and
      prints its public key, to add to the server's \`--authorized-keys\` file.

      Never overwrites an existing file. \`--out PATH\` must name a file in a directory that exists
      (a typo in it is refused, not made into new directories); the default ~/.bittrrt is created
      (mode 0700) when missing.
    `,
    examples: [['Create a network key', '$0 keygen'], ['Create a client identity', '$0 keygen --client --out ./me.key']],
  });

  client = Option.Boolean('--client', false, { description: 'make a client identity key instead of a network key' });
  out = Option.String('--out', { description: 'where to write the key, in an existing directory (default ~/.bittrrt/network.key, or client.key with --client)' });

  override async execute(): Promise<number> {
    if (this.out !== undefined && !isDirectory(dirname(this.out))) {
      throw new UsageError(`cannot write ${this.out}: the directory ${dirname(this.out)} does not exist (create it first, or choose another --out)`);
    }
    const path = this.out ?? (this.client ? defaultClientKeyPath() : join(bittrrtDir(), 'network.key'));
    const secret = randomFillSync(new Uint8Array(X25519_KEY_BYTES));
    if (!this.client) {
      writeSecretKeyFile(path, secret, 'bittrrt network key: share it with the server and clients over a private channel');
      secret.fill(0);
      this.context.stdout.write(`wrote network key ${path}\n`);
      return 0;
    }
    writeSecretKeyFile(path, secret, 'bittrrt client identity');
    secret.fill(0);
    const identity = loadIdentity(path, 'client identity');
    this.context.stdout.write(`wrote client identity ${path}\n`);
    this.context.stdout.write(`public key (add this line to the server's authorized keys file):\n${toBase64Url(identity.publicKey)} ${fingerprint(identity.publicKey)}\n`);
    identity.destroy();
    return 0;
  }
}
