/** A usage mistake on the command line: printed with the verb's help hint, exit code 2. */
export class UsageError extends Error {}
