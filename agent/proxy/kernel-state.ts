// Whether a backend knows what of its own the kernel holds: not at start, not after a
// write that failed (it may have half-applied), not once the proxier says so
// (invalidate); known again after the next write that succeeds. While known, a full
// sync can diff against memory instead of reading the kernel back.
export class KernelState {
  private isKnown = false;

  get known(): boolean {
    return this.isKnown;
  }

  async write(apply: () => Promise<void>): Promise<void> {
    try {
      await apply();
    } catch (err) {
      this.isKnown = false;
      throw err;
    }
    this.isKnown = true;
  }

  forget(): void {
    this.isKnown = false;
  }
}
