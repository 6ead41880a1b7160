/** The event half of a test-local CallSession: end() emits 'ended', on/off over one EventEmitter. */
import { EventEmitter } from 'node:events';
import type { CallSessionEvents, EndReason } from '../../src/agent/call-port.ts';
import type { CallRecord } from '../../src/agent/call-record.ts';

export abstract class CallSessionEventsStub {
  abstract readonly id: string;
  protected readonly ee = new EventEmitter();

  end(_reason?: EndReason): void {
    // The record's content does not matter to the media plane.
    this.ee.emit('ended', { callId: this.id } as unknown as CallRecord);
  }

  on<E extends keyof CallSessionEvents>(event: E, listener: (...args: CallSessionEvents[E]) => void): this {
    this.ee.on(event, listener as (...a: unknown[]) => void);
    return this;
  }

  off<E extends keyof CallSessionEvents>(event: E, listener: (...args: CallSessionEvents[E]) => void): this {
    this.ee.off(event, listener as (...a: unknown[]) => void);
    return this;
  }
}
