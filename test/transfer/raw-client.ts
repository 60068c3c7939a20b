import { expect } from 'chai';
import { DEFAULT_MAX_DATAGRAM, TRANSFER_OVERHEAD } from '../../lib/constants.js';
import { connect } from '../../lib/net/client.js';
import type { BittrrtServer } from '../../lib/net/server.js';
import { createServer } from '../../lib/transfer/file-server.js';
import type { SecureSession } from '../../lib/net/secure-session.js';
import type { Session } from '../../lib/net/session.js';
import { decodeMessage, TransferFlags, type TransferMessage } from '../../lib/protocol/transfer.js';
import { TransferEndpoint, type TransferEndpointOptions } from '../../lib/transfer/endpoint.js';
import { tempDir } from '../helpers/tmp.js';
import { eventually } from '../helpers/udp.js';

/** File bytes in one default-size transfer datagram. */
export const PAYLOAD = DEFAULT_MAX_DATAGRAM - TRANSFER_OVERHEAD;

/** A client that speaks transfer frames by hand, as a hostile one would: it records the control answers it gets. */
export class RawClient {
  readonly answers = new Map<number, TransferMessage>();

  constructor(readonly session: Session) {
    (session as SecureSession).frameHandler = {
      receiveFrame: (flags, channel, _sequence, _offset, body) => {
        const message = flags === TransferFlags.CONTROL ? decodeMessage(body) : null;
        if (message) this.answers.set(channel, message);
      },
    };
  }

  async request(id: number, message: TransferMessage): Promise<TransferMessage> {
    this.answers.delete(id);
    this.tell(id, message);
    expect(await eventually(() => this.answers.has(id), 5_000), `an answer to transfer ${id}`).to.equal(true);
    return this.answers.get(id)!;
  }

  /** A control message that gets no answer (abort). */
  tell(id: number, message: TransferMessage): void {
    this.#send(TransferFlags.CONTROL, id, 0, 0, Buffer.from(JSON.stringify(message)));
  }

  /**
   * Out-of-order data: every whole segment from the second one up to `end`, never the first, so
   * nothing can be written and all of it must wait in memory. In bursts, so the socket keeps up.
   */
  async holdOutOfOrder(id: number, end: number): Promise<void> {
    const body = Buffer.alloc(PAYLOAD, 0x5a);
    let packet = 1;
    for (let offset = PAYLOAD; offset + PAYLOAD <= end; offset += PAYLOAD) {
      this.#send(TransferFlags.DATA, id, packet++, offset, body);
      if (packet % 16 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** The first `segments` whole segments of `data`, in order (they are written to the part file). */
  sendInOrder(id: number, data: Buffer, segments: number): void {
    for (let i = 0; i < segments; i++) this.#send(TransferFlags.DATA, id, i, i * PAYLOAD, data.subarray(i * PAYLOAD, (i + 1) * PAYLOAD));
  }

  /** One data frame, as given: new data, a duplicate, or a lie. */
  data(id: number, packet: number, offset: number, body: Buffer): void {
    this.#send(TransferFlags.DATA, id, packet, offset, body);
  }

  #send(flags: number, id: number, sequence: number, offset: number, body: Buffer): void {
    (this.session as SecureSession).sendUnlossy({ flags, channel: id, sequence, offset }, body);
  }
}

/**
 * A client endpoint whose server speaks transfer frames by hand (a malicious server): a RawClient
 * on the server's side of the session. The caller closes `session` and `server`.
 */
export async function hostileServer(options: TransferEndpointOptions): Promise<{ server: BittrrtServer; session: Session; endpoint: TransferEndpoint; raw: RawClient }> {
  const server = createServer({ files: { dir: tempDir('unused') } });
  const { port } = await server.listen(0, '127.0.0.1');
  const session = await connect({ port, allowSeed: false });
  expect(await eventually(() => server.sessionCount === 1, 5_000)).to.equal(true);
  const [serverSide] = [...server.sessions()];
  // Set before any transfer frame, so the server never makes its own endpoint for this session.
  const raw = new RawClient(serverSide!);
  return { server, session, endpoint: new TransferEndpoint(session, { answerPeer: false, ...options }), raw };
}

/** Waits for the client's request of `type` on transfer `id` and answers it with `answer`. */
export async function answerWith(raw: RawClient, id: number, type: TransferMessage['type'], answer: TransferMessage): Promise<void> {
  expect(await eventually(() => raw.answers.get(id)?.type === type, 5_000), `the client's ${type}`).to.equal(true);
  raw.tell(id, answer);
}

/** The message a run failed with ('succeeded' if it did not). */
export const failure = async (run: Promise<unknown>): Promise<string> => run.then(() => 'succeeded', (err: Error) => err.message);
