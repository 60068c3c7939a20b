import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fixturePath, hex, unhex } from '../helpers/fixtures.js';

/**
 * The seed corpus: real datagrams captured on loopback by capture-corpus.ts, one file per kind in
 * test/fixtures/corpus/*.hex. A file is hex lines, each the whole datagram; a `# text` line
 * labels the datagram on the next hex line; blank lines are ignored.
 */
export interface CorpusPacket {
  /** File name without `.hex` (connect, answer, v2-client, v2-server, v1). */
  file: string;
  label: string;
  bytes: Buffer;
}

export const CORPUS_FILES = ['connect', 'answer', 'v2-client', 'v2-server', 'v1'] as const;
export type CorpusFile = (typeof CORPUS_FILES)[number];

export function parseHexCorpus(file: string, text: string): CorpusPacket[] {
  const packets: CorpusPacket[] = [];
  let label = '';
  for (const [n, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      label = line.slice(1).trim();
      continue;
    }
    if (!/^(?:[0-9a-f]{2})+$/i.test(line)) throw new Error(`${file}.hex line ${n + 1}: not a hex datagram`);
    packets.push({ file, label: label || `${file}:${n + 1}`, bytes: unhex(line) });
    label = '';
  }
  return packets;
}

export function formatHexCorpus(header: string, packets: ReadonlyArray<{ label: string; bytes: Uint8Array }>): string {
  const lines = header.split('\n').map((l) => `# ${l}`);
  for (const p of packets) lines.push('', `# ${p.label}`, hex(p.bytes));
  return `${lines.join('\n')}\n`;
}

/** Every packet of test/fixtures/corpus/*.hex, in file then line order. */
export function loadCorpus(): CorpusPacket[] {
  const dir = fixturePath('corpus');
  const files = readdirSync(dir).filter((f) => f.endsWith('.hex')).sort();
  if (files.length === 0) throw new Error(`no *.hex files in ${dir}: run node dist/test/fuzz/capture-corpus.js`);
  return files.flatMap((f) => parseHexCorpus(path.basename(f, '.hex'), readFileSync(path.join(dir, f), 'utf8')));
}
