import { createRequire } from 'node:module';
import { NET_OBS_KEY } from '../lib/constants.js';
import { connectFixture } from './crypto.js';
import { check, type SharedCase } from './harness.js';

/** The slice of the untyped CommonJS `fernet` 0.4.0 package this baseline calls. */
interface NpmFernetSecret {
  readonly signingKeyHex: string;
}
interface NpmFernetToken {
  decode(token: string): string;
}
interface NpmFernet {
  readonly Secret: new (key: string) => NpmFernetSecret;
  readonly Token: new (options: { secret: NpmFernetSecret; ttl: number }) => NpmFernetToken;
}

/**
 * The npm `fernet` package (crypto-js underneath), decoding the same token as DoCrypt.fdecrypt:
 * the baseline that justified writing lib/crypto/fernet.ts on node:crypto. Required only here,
 * when the case is prepared, because loading it patches String.prototype.lpad; run it last.
 */
export const npmFernetDecodeCase: SharedCase = {
  kind: 'shared',
  id: 'npm-fernet.decode',
  label: 'npm fernet 0.4.0 Token.decode (crypto-js)',
  prepare() {
    const fernet: NpmFernet = createRequire(import.meta.url)('fernet');
    const secret = new fernet.Secret(NET_OBS_KEY);
    const { text, token } = connectFixture();
    check(new fernet.Token({ secret, ttl: 0 }).decode(token) === text, 'npm fernet decodes the DoCrypt token');
    return () => new fernet.Token({ secret, ttl: 0 }).decode(token);
  },
};
