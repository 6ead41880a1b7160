import { describe, expect, it } from 'vitest';
import { BridgeError, isBridgeError } from '../../src/errors.ts';
import { PortPool } from '../../src/media/port-pool.ts';

describe('PortPool', () => {
  it('hands out even ports only, within the range', () => {
    const pool = new PortPool(40001, 40010);
    expect(pool.size).toBe(5);
    const got = [1, 2, 3, 4, 5].map(() => pool.acquire());
    expect(got.sort()).toEqual([40002, 40004, 40006, 40008, 40010]);
  });

  it('exhaustion throws RTP_NO_PORT; a released port is available again', () => {
    const pool = new PortPool(40000, 40003);
    const a = pool.acquire();
    pool.acquire();
    let err: unknown;
    try {
      pool.acquire();
    } catch (e) {
      err = e;
    }
    expect(isBridgeError(err, 'RTP_NO_PORT')).toBe(true);
    pool.release(a);
    expect(pool.acquire()).toBe(a);
    expect(pool.inUse).toBe(2);
  });

  it('reuses a released port as late as possible (round robin)', () => {
    const pool = new PortPool(40000, 40008);
    const first = pool.acquire();
    pool.release(first);
    const next = [pool.acquire(), pool.acquire(), pool.acquire(), pool.acquire()];
    expect(next).not.toContain(first);
    expect(pool.acquire()).toBe(first);
  });

  it('release is idempotent', () => {
    const pool = new PortPool(40000, 40002);
    const p = pool.acquire();
    pool.release(p);
    pool.release(p);
    pool.release(12345);
    expect(pool.inUse).toBe(0);
    expect(pool.available).toBe(2);
  });

  it('rejects invalid ranges with CONFIG_INVALID', () => {
    for (const [min, max] of [
      [5000, 4000],
      [0, 10],
      [65535, 65535],
      [1.5, 10],
    ]) {
      expect(() => new PortPool(min, max)).toThrow(BridgeError);
    }
  });
});
