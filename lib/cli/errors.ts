import { UsageError } from 'clipanion';
import { InvalidInputError } from '../errors.js';

/** Runs a parser of user input, turning its InvalidInputError into a clipanion usage error. */
export function userInput<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof InvalidInputError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * What the system error codes that reach a user mean, in words: the library keeps Node's code
 * (for programs to branch on), the command line shows the sentence.
 */
const SYSTEM_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  EEXIST: 'it already exists',
  ENOTEMPTY: 'the directory is not empty',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exhausted',
  EROFS: 'the file system is read-only',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files on this system',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EIO: 'an input/output error on the device',
  EBUSY: 'the resource is busy',
  EADDRINUSE: 'the address is already in use (another program is listening on that port)',
  EADDRNOTAVAIL: 'that address is not one of this machine\'s addresses',
  EAFNOSUPPORT: 'this machine does not support that address family (IPv4 or IPv6)',
  ENOTFOUND: 'the host name could not be resolved',
  EAI_AGAIN: 'the host name could not be resolved (the name server did not answer)',
  ENETUNREACH: 'the network is unreachable',
  EHOSTUNREACH: 'the host is unreachable',
  ECONNREFUSED: 'nothing is listening there',
  EMSGSIZE: 'the datagram is too large for the path',
};

/** The sentence for a system error code, or undefined for a code the table does not know. */
export function systemErrorSentence(code: string | undefined): string | undefined {
  return code === undefined ? undefined : SYSTEM_ERRORS[code];
}

/** `message` with every system error code the table knows replaced by its sentence. */
export function withSentences(message: string): string {
  return message.replace(/\bE[A-Z_]{2,}\b/g, (code) => SYSTEM_ERRORS[code] ?? code);
}
