export async function cleanup(_opts: Record<string, unknown>): Promise<void> {
  throw new Error('cleanup: not implemented');
}
