// A first-in, first-out queue whose shift costs the same at any length. Array#shift does not: once
// the array's storage is large (a gateway firehose has tens of thousands of dispatches waiting for
// a pipeline slot), V8 moves every element left on each shift.

export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head === this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    // What was taken is dropped once it is half the storage: a queue that never empties still stays bounded.
    if (this.head === this.items.length) this.clear();
    else if (this.head >= compactAfter && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Takes every item, in order. */
  drain(): T[] {
    const items = this.items.slice(this.head) as T[];
    this.clear();
    return items;
  }

  private clear(): void {
    this.items = [];
    this.head = 0;
  }
}

const compactAfter = 1024;
