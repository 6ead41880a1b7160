/** The fake speaks the captured FreeSWITCH 1.10.12 bytes (shared fixture), not our idea of them. */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { FakeFreeswitch } from '../helpers/fake-freeswitch.ts';

const fixture = JSON.parse(readFileSync(new URL('../../../shared/fixtures/freeswitch1.10-esl-audio-stream-call.json', import.meta.url), 'utf8')) as {
  esl: { t: number; dir: 'in' | 'out'; text: string }[];
};
const replyTo = (cmd: string): string => {
  const i = fixture.esl.findIndex((e) => e.dir === 'out' && e.text.startsWith(cmd));
  return fixture.esl[i + 1]!.text;
};

let fs: FakeFreeswitch | null = null;
afterEach(async () => {
  await fs?.close();
  fs = null;
});

function client(port: number): { send(cmd: string): void; next(bytes: number): Promise<string>; end(): void } {
  const sock = net.connect(port, '127.0.0.1');
  let buf = '';
  const waiters: (() => void)[] = [];
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    buf += d;
    for (const w of waiters.splice(0)) w();
  });
  return {
    send: (cmd) => sock.write(`${cmd}\n\n`),
    async next(bytes) {
      const end = Date.now() + 2000;
      while (buf.length < bytes && Date.now() < end) await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 50); });
      const out = buf.slice(0, bytes);
      buf = buf.slice(bytes);
      return out;
    },
    end: () => sock.destroy(),
  };
}

it('auth, event subscription, api errors and a second auth are byte-identical to the capture', async () => {
  fs = await FakeFreeswitch.start('ClueCon2');
  const c = client(fs.port);
  const hello = fixture.esl[0]!.text;
  expect(await c.next(hello.length)).toBe(hello);
  c.send('auth ClueCon2');
  const ok = replyTo('auth ClueCon2');
  expect(await c.next(ok.length)).toBe(ok);
  const sub = fixture.esl.find((e) => e.dir === 'out' && e.text.startsWith('event json'))!.text;
  c.send(sub);
  const subOk = replyTo('event json');
  expect(await c.next(subOk.length)).toBe(subOk);
  c.send('api uuid_kill 00000000-0000-0000-0000-000000000000');
  const noChan = replyTo('api uuid_kill 00000000');
  expect(await c.next(noChan.length)).toBe(noChan);
  c.send('auth wrongpass');
  const notFound = replyTo('auth wrongpass');
  expect(await c.next(notFound.length)).toBe(notFound);
  c.end();
});

it('uuid_audio_stream start / uuid_broadcast / uuid_break replies match the capture', async () => {
  fs = await FakeFreeswitch.start('ClueCon2');
  const ch = fs.placeCall({ marked: false });
  const c = client(fs.port);
  await c.next(fixture.esl[0]!.text.length);
  c.send('auth ClueCon2');
  await c.next(replyTo('auth ClueCon2').length);
  // no subscription: no events interleave
  c.send(`api uuid_broadcast ${ch.uuid} /nonexistent.r8 aleg`);
  const bc = replyTo('api uuid_broadcast');
  expect(await c.next(bc.length)).toBe(bc);
  c.send(`api uuid_break ${ch.uuid} all`);
  const br = replyTo('api uuid_break');
  expect(await c.next(br.length)).toBe(br);
  c.send(`api uuid_audio_stream ${ch.uuid} start ws://127.0.0.1:1/x mono 8k {"a":1}`);
  const st = replyTo('api uuid_audio_stream');
  expect(await c.next(st.length)).toBe(st);
  c.end();
});
