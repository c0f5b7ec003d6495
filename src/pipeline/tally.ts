// A count of things under way, and a promise that settles when it next reaches zero: for the hot
// path, where keeping each one's promise in a long-lived set costs every one of them a table entry
// in the old generation (bench/README.md, "Gateway fan-in").

export class Tally {
  private count = 0;
  private zero: { promise: Promise<void>; resolve: () => void } | undefined;

  get size(): number {
    return this.count;
  }

  add(): void {
    this.count++;
  }

  done(): void {
    if (--this.count > 0 || !this.zero) return;
    this.zero.resolve();
    this.zero = undefined;
  }

  /** Settles once none is under way; every waiter shares one promise. */
  settled(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    if (!this.zero) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.zero = { promise, resolve };
    }
    return this.zero.promise;
  }
}
