// A counting semaphore: the object streams a source worker runs at once
// (spec.workers.source.concurrency), shared by all the tasks it holds, so a
// batch of small objects and the parts of a large one fill the same slots.
export class Permits {
  private available: number;
  private readonly waiting: (() => void)[] = [];

  constructor(count: number) {
    this.available = Math.max(1, Math.floor(count));
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.available > 0) this.available--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.available++;
    }
  }
}
