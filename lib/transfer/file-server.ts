import type { EventEmitter } from 'node:events';
import { BittrrtServer, type ServerOptions } from '../net/server.js';
import { FileService, type FileServiceEvents, type FileServiceOptions } from './file-service.js';

export interface FileServerOptions extends Omit<ServerOptions, 'service'> {
  /**
   * File transfer: the directory uploads go to, whether it serves downloads, the datagram size,
   * the budgets and quotas (FileServiceOptions). Without `dir` every transfer but a bandwidth test
   * is refused, with a reason the client shows.
   */
  files?: FileServiceOptions;
}

type TransferListener = (...args: FileServiceEvents['transfer']) => void;

/** The `transfer` event a server with file transfer adds (net/'s event map cannot name it). */
export interface TransferEventMethods {
  /** A transfer a client started began, finished or failed. */
  on(event: 'transfer', listener: TransferListener): this;
  once(event: 'transfer', listener: TransferListener): this;
  off(event: 'transfer', listener: TransferListener): this;
}

/** A BittrrtServer (net/, which knows no files) whose sessions' service is a FileService (transfer/). */
class ServerWithFiles extends BittrrtServer {
  readonly files: FileService;

  constructor(options: FileServerOptions) {
    const files = new FileService(options.files);
    super({ ...options, service: files });
    this.files = files;
    files.on('transfer', (event, session) => (this as EventEmitter).emit('transfer', event, session));
  }
}

/** A bittrrt server with file transfer: a BittrrtServer in every way (it goes wherever one does), with `files` and the `transfer` event. */
export type FileServer = ServerWithFiles & TransferEventMethods;

export function createServer(options: FileServerOptions = {}): FileServer {
  return new ServerWithFiles(options) as FileServer;
}
