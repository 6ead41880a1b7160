/** Shared set-up for the FreeSWITCH adapter tests: fake FreeSWITCH + real modesl + manual ticker. */
import { setImmediate as tick } from 'node:timers/promises';
import { startFreeswitchAdapter, type FreeswitchAdapter } from '../../src/pbx/freeswitch/index.ts';
import { freeswitchSchema, type FreeswitchConfigInput } from '../../src/config/freeswitch.ts';
import { ManualClock } from '../../src/media/clock.ts';
import { Ticker } from '../../src/media/ticker.ts';
import { FakeFreeswitch } from '../helpers/fake-freeswitch.ts';
import { ToneEchoFactory } from '../helpers/fake-freeswitch-agent.ts';

export const SECRET = 'test-secret-0123456789abcdef';

export interface Harness {
  fs: FakeFreeswitch;
  adapter: FreeswitchAdapter;
  factory: ToneEchoFactory;
  clock: ManualClock;
  ticker: Ticker;
  /** n media periods: FreeSWITCH's media tick + our ticker, letting loopback I/O through. */
  step(n?: number): Promise<void>;
  close(): Promise<void>;
}

export async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function io(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await new Promise((r) => setTimeout(r, 1));
    await tick();
  }
}

export async function makeHarness(over: Partial<FreeswitchConfigInput> = {}, opts: { password?: string; greetingFrames?: number; tickSlots?: number } = {}): Promise<Harness> {
  const fs = await FakeFreeswitch.start();
  const clock = new ManualClock();
  const ticker = new Ticker(clock, { slots: opts.tickSlots });
  ticker.start();
  const factory = new ToneEchoFactory(opts.greetingFrames ?? 10);
  const cfg = freeswitchSchema.parse({
    host: '127.0.0.1',
    port: fs.port,
    password: opts.password ?? fs.password,
    ws: { port: 0, secret: SECRET },
    // above the ephemeral port range, where client sockets of parallel tests cannot hold them
    unicast: { freeswitchPortMin: 61000 + Math.floor(Math.random() * 2000), freeswitchPortMax: 64999 },
    ...over,
  } as FreeswitchConfigInput)!;
  const adapter = await startFreeswitchAdapter(
    { freeswitch: cfg, transfers: { sales: { description: '', extension: '5000', context: 'agents', priority: 1 } } },
    { callFactory: factory, ticker, clock },
  );
  const step = async (n = 1): Promise<void> => {
    for (let i = 0; i < n; i++) {
      fs.mediaTick();
      await io(1);
      clock.advance(20);
    }
  };
  return {
    fs,
    adapter,
    factory,
    clock,
    ticker,
    step,
    async close() {
      await adapter.close();
      ticker.stop();
      await fs.close();
    },
  };
}
