const utf8 = new TextDecoder('utf-8', { fatal: true });

export type JsonObjectResult = { ok: true; fields: Record<string, unknown> } | { ok: false; reason: 'bad-utf8' | 'bad-json' };

/**
 * Decodes a peer's bytes as strict UTF-8 JSON holding one plain object (not an array, not null).
 * Never throws: every message parser starts here, on hostile input.
 */
export function readJsonObject(bytes: Uint8Array): JsonObjectResult {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, reason: 'bad-utf8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'bad-json' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'bad-json' };
  return { ok: true, fields: value as Record<string, unknown> };
}
