import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
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
      for (const name of readdirSync(join(LIB, layer), { recursive: true, encoding: 'utf8' }).filter((n) => n.endsWith('.ts'))) {
        const file = join(LIB, layer, name);
        for (const spec of importsOf(file)) {
          // The layer folder the import lands in, whatever the depth of the importing file.
          const target = relative(LIB, resolve(dirname(file), spec)).split('/')[0];
          if (target !== undefined && forbidden.includes(target)) offending.push(`${layer}/${name} → ${spec}`);
        }
      }
      expect(offending).to.deep.equal([]);
    });
  }

  it('the import scan sees imports (it finds net/ in transfer/port.ts, and in a subfolder)', () => {
    expect(importsOf(join(LIB, 'transfer', 'port.ts'))).to.include('../net/session.js');
    expect(importsOf(join(LIB, 'net', 'handshake', 'responder.ts'))).to.include('../../protocol/handshake.js');
  });

  it('lib/bytes.ts and lib/constants.ts import nothing of the library', () => {
    expect(importsOf(join(LIB, 'bytes.ts'))).to.deep.equal([]);
    expect(importsOf(join(LIB, 'constants.ts'))).to.deep.equal([]);
  });

  it('no file of lib/ imports itself through others (no import cycle, type imports included)', () => {
    expect(importCycles(LIB)).to.deep.equal([]);
  });

  it('the cycle search finds a cycle', () => {
    const graph = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
    expect(cyclesOf(graph)).to.deep.equal(['a → b → c → a']);
  });
});

/** Every .ts file under `dir`, with the lib files it imports. */
function importGraph(dir: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        graph.set(relative(dir, path), importsOf(path).map((spec) => relative(dir, resolve(dirname(path), spec.replace(/\.js$/, '.ts')))));
      }
    }
  };
  walk(dir);
  return graph;
}

function importCycles(dir: string): string[] {
  return cyclesOf(importGraph(dir));
}

/** Each cycle of a depth-first search, as its files joined by arrows. */
function cyclesOf(graph: Map<string, string[]>): string[] {
  const done = new Set<string>();
  const path: string[] = [];
  const cycles: string[] = [];
  const visit = (node: string): void => {
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const at = path.indexOf(next);
      if (at >= 0) cycles.push([...path.slice(at), next].join(' → '));
      else if (!done.has(next) && graph.has(next)) visit(next);
    }
    path.pop();
    done.add(node);
  };
  for (const node of graph.keys()) if (!done.has(node)) visit(node);
  return cycles;
}
