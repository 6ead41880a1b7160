/**
 * The part of modesl 1.2.1 (lib/esl/Connection.js, Event.js) we use. The package ships no types;
 * these mirror its JavaScript exactly (callbacks, not promises; EventEmitter2 with '::' wildcards).
 */
declare module 'modesl' {
  import type { Socket } from 'node:net';

  export class Event {
    constructor(type: string, subclass?: string);
    type: string;
    subclass?: string;
    body: string;
    headers: { name: string; value: string }[];
    getHeader(name: string): string | undefined;
    getBody(): string;
    getType(): string;
    serialize(format?: 'plain' | 'json' | 'xml'): string;
  }

  type Listener = (...args: unknown[]) => void;

  /** lib/esl/Parser.js: the frame reader on the socket (internal to modesl; guarded by EslControl). */
  export interface Parser {
    buffer: Buffer;
    bodyLen: number;
    _parseHeaders(...args: unknown[]): void;
    _parseBody(...args: unknown[]): void;
    _parseEvent(...args: unknown[]): void;
  }

  export class Connection {
    /** Inbound: connects, answers auth/request with the password, emits 'esl::ready' on +OK accepted. */
    constructor(host: string, port: number, password: string, onReady?: () => void);
    /** Outbound (FreeSWITCH's `socket` app connected to us). */
    constructor(socket: Socket, onReady?: () => void);
    socket: Socket | null;
    /** Created on connect (before 'esl::connect' is emitted). */
    parser?: Parser;
    authed: boolean;
    connected(): boolean;
    api(command: string, args: string | string[], cb?: (res: Event) => void): void;
    api(command: string, cb?: (res: Event) => void): void;
    bgapi(command: string, args: string | string[], cb?: (res: Event) => void): void;
    sendRecv(command: string, args: Record<string, string> | null, cb?: (res: Event) => void): void;
    events(type: 'json' | 'plain' | 'xml', events: string | string[], cb?: (res: Event) => void): void;
    execute(app: string, arg: string, uuid: string, cb?: (res: Event) => void): string;
    getInfo(): Event | null;
    disconnect(): void;
    on(event: string, listener: Listener): this;
    once(event: string, listener: Listener): this;
    off(event: string, listener: Listener): this;
    removeAllListeners(event?: string): this;
  }

  export class Server {
    constructor(opts: { port: number; host?: string; myevents?: boolean }, onListening?: () => void);
    on(event: string, listener: Listener): this;
    close(cb?: () => void): void;
  }

  const esl: { Connection: typeof Connection; Server: typeof Server; Event: typeof Event };
  export default esl;
}
