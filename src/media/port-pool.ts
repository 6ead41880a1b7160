/**
 * The RTP port range shared by all calls. Even ports only (RFC 3550 convention; the odd one above
 * stays free for RTCP). Ports are handed out round-robin rather than lowest-first so a port
 * released by an ended call is reused as late as possible: stray packets still in flight to it
 * must not land in a new call.
 */
import { BridgeError } from '../errors.ts';

export class PortPool {
  readonly min: number;
  readonly max: number;
  private readonly ports: number[] = [];
  private readonly used = new Set<number>();
  private cursor = 0;

  constructor(min: number, max: number) {
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || max < min) {
      throw new BridgeError('CONFIG_INVALID', `RTP port range ${min}-${max} is not a valid range within 1-65535`, {
        min,
        max,
      });
    }
    for (let p = min + (min % 2); p <= max; p += 2) this.ports.push(p);
    if (this.ports.length === 0) {
      throw new BridgeError('CONFIG_INVALID', `RTP port range ${min}-${max} holds no even port`, { min, max });
    }
    this.min = min;
    this.max = max;
  }

  /** Number of ports in the pool. */
  get size(): number {
    return this.ports.length;
  }

  get inUse(): number {
    return this.used.size;
  }

  get available(): number {
    return this.ports.length - this.used.size;
  }

  /** Take the next free port; throws RTP_NO_PORT when all are taken. */
  acquire(): number {
    const n = this.ports.length;
    for (let i = 0; i < n; i++) {
      const port = this.ports[this.cursor];
      this.cursor = (this.cursor + 1) % n;
      if (!this.used.has(port)) {
        this.used.add(port);
        return port;
      }
    }
    throw new BridgeError('RTP_NO_PORT', `all ${n} RTP ports in ${this.min}-${this.max} are in use`, {
      min: this.min,
      max: this.max,
      inUse: this.used.size,
    });
  }

  /** Give a port back (idempotent; unknown ports ignored). */
  release(port: number): void {
    this.used.delete(port);
  }

  isInUse(port: number): boolean {
    return this.used.has(port);
  }
}
