// Typed errors shared across parts. Each names what was wrong so a person can fix it.

/** Bad user input: a flag, a config file field, a manifest field. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(public readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
