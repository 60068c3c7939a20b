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
