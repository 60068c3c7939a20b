import type { FrameHeaderInput } from '../../lib/protocol/frame.js';
import { decodeMessage, encodeMessage, TransferFlags, type TransferMessage } from '../../lib/protocol/transfer.js';
import { TransferEndpoint, type TransferEndpointOptions } from '../../lib/transfer/endpoint.js';
import type { TransferPort } from '../../lib/transfer/port.js';
import { clock } from '../../lib/time.js';

/**
 * A server that answers by script, with no session under it: what a hostile (or an older) server
 * could send, in reply to exactly the requests our endpoint makes. Every request is recorded.
 */
export class ScriptedServer implements TransferPort {
  readonly role = 'client' as const;
  readonly closed = false;
  readonly peerIdentity = null;
  readonly peerHost = '127.0.0.1';
  readonly requests: TransferMessage[] = [];
  readonly endpoint: TransferEndpoint;
  /** When the peer was last heard (the session's clock); a test leaves it behind to play a silent peer. */
  lastReceived = clock();

  constructor(private readonly answer: (request: TransferMessage, id: number) => TransferMessage | undefined, options: TransferEndpointOptions = {}) {
    this.endpoint = new TransferEndpoint(this, options);
  }

  sendFrame(header: FrameHeaderInput, payload?: Uint8Array): boolean {
    const request = decodeMessage(Buffer.from(payload ?? []));
    if (header.flags !== TransferFlags.CONTROL || !request) return true;
    this.requests.push(request);
    const reply = this.answer(request, header.channel);
    if (reply) this.reply(header.channel, reply);
    return true;
  }

  /** Answers transfer `id` on the next turn: what the script does, or a test that answers later. */
  reply(id: number, message: TransferMessage): void {
    setImmediate(() => {
      this.lastReceived = clock();
      this.endpoint.receiveFrame(TransferFlags.CONTROL, id, 0, 0, encodeMessage(message));
    });
  }

  drop(): void {}
  attach(): void {}
}
