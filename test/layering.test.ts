import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The library's source (this file runs from dist/test/). */
const LIB = fileURLToPath(new URL('../../lib/', import.meta.url));

/** Which layers each layer may not import: cli → transfer → net → protocol/trust → crypto. */
const FORBIDDEN: Record<string, readonly string[]> = {
  net: ['transfer', 'cli'],
  transfer: ['cli'],
  protocol: ['net', 'transfer', 'cli'],
  trust: ['net', 'transfer', 'cli'],
  crypto: ['net', 'transfer', 'cli', 'protocol', 'trust'],
};

function importsOf(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  return [...source.matchAll(/^(?:import|export)[^;]*?from '(\.\.?\/[^']+)'/gms)].map((m) => m[1]!);
}

describe('layering: lower layers import nothing from the layers above them', () => {
  for (const [layer, forbidden] of Object.entries(FORBIDDEN)) {
    it(`lib/${layer}/ imports nothing from ${forbidden.map((f) => `lib/${f}/`).join(', ')}`, () => {
      const offending: string[] = [];
      for (const name of readdirSync(join(LIB, layer)).filter((n) => n.endsWith('.ts'))) {
        for (const spec of importsOf(join(LIB, layer, name))) {
          const target = spec.match(/^\.\.\/([a-z-]+)\//)?.[1];
          if (target !== undefined && forbidden.includes(target)) offending.push(`${layer}/${name} → ${spec}`);
        }
      }
      expect(offending).to.deep.equal([]);
    });
  }

  it('the import scan sees imports (it finds net/ in transfer/port.ts)', () => {
    expect(importsOf(join(LIB, 'transfer', 'port.ts'))).to.include('../net/session.js');
  });
});
