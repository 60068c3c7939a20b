/**
 * A handshake thread (see threads.ts): answers batches of version-2 `connect`s with
 * the server's identity, off the socket thread. It holds no session state.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AEAD_KEY_BYTES } from '../../constants.js';
import { X25519KeyPair } from '../../crypto/x25519-key-pair.js';
import { DoCrypt } from '../../crypto/docrypt.js';
import { wipeSessionKeys } from '../../crypto/key-schedule.js';
import { loadNobleBackend } from '../../crypto/noble-backend.js';
import { loadSodiumBackend } from '../../crypto/sodium-backend.js';
import { LowOrderKeyError } from '../../errors.js';
import { answerInitiation, type AnswerKeys } from './answer.js';
import type { JobBatch, ResultBatch, StopMessage, ThreadSetup } from './threads.js';

const setup = workerData as ThreadSetup;
const port = parentPort;
if (port === null) throw new Error('net/handshake/worker.js runs only as a handshake thread');

const backend = setup.backend === 'native' ? loadSodiumBackend() : loadNobleBackend();
const material: AnswerKeys = {
  backend,
  identity: X25519KeyPair.fromSecretKey(setup.identitySecret, { backend }),
  psk: setup.networkKeys?.psk,
  docrypt: new DoCrypt({ key: setup.networkKeys?.fernetKey }),
};
backend.wipe(setup.identitySecret);

port.on('message', (message: JobBatch | StopMessage) => {
  if ('stop' in message) {
    material.identity.destroy();
    port.close();
    return;
  }
  const { jobs } = message;
  const results: ResultBatch['results'] = [];
  const transfer: ArrayBuffer[] = [];
  for (const { id, request } of jobs) {
    try {
      const { reply, keys } = answerInitiation(material, request);
      // The confirmation key too: the traffic keys derive their rotation chain from it.
      const packed = new Uint8Array(3 * AEAD_KEY_BYTES);
      packed.set(keys.send, 0);
      packed.set(keys.receive, AEAD_KEY_BYTES);
      packed.set(keys.confirm, 2 * AEAD_KEY_BYTES);
      wipeSessionKeys(keys);
      // Its own buffer: a pooled Buffer would be cloned with the whole pool slab.
      const own = Uint8Array.from(reply);
      results.push({ id, reply: own, keys: packed });
      transfer.push(packed.buffer, own.buffer);
    } catch (err) {
      results.push(err instanceof LowOrderKeyError
        ? { id, reply: null, keys: null }
        : { id, reply: null, keys: null, error: err instanceof Error ? err.message : String(err) });
    }
  }
  port.postMessage({ results } satisfies ResultBatch, transfer);
});
