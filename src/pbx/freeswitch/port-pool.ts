/** FreeSWITCH-side unicast ports (FreeSWITCH binds local-ip:local-port per call): handed out round-robin. */
export class PortPool {
  private readonly used = new Set<number>();
  private next: number;

  constructor(
    private readonly min: number,
    private readonly max: number,
  ) {
    this.next = min;
  }

  /** A free port, or 0 when all are taken. Round-robin so a just-released port rests before reuse. */
  take(): number {
    const span = this.max - this.min + 1;
    for (let i = 0; i < span; i++) {
      const port = this.next;
      this.next = port === this.max ? this.min : port + 1;
      if (!this.used.has(port)) {
        this.used.add(port);
        return port;
      }
    }
    return 0;
  }

  release(port: number): void {
    this.used.delete(port);
  }

  get inUse(): number {
    return this.used.size;
  }
}
