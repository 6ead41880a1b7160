/**
 * The seam between call control (this adapter) and the media plane: one call's RTP socket, bound
 * before ExternalMedia is created (its address is `external_host`), then attached to the CallSession
 * and to Asterisk's UnicastRTP address. The default binder is built on src/media's RtpMediaSession
 * (media-rtp-binder.ts).
 */
import type pino from 'pino';
import type { CallSession } from '../../agent/call-port.ts';

export interface RtpRemote {
  readonly address: string;
  readonly port: number;
}

export interface CallMediaBinding {
  /** Where the socket listens: external_host is built from these. */
  readonly localAddress: string;
  readonly localPort: number;
  /**
   * Start the media: send to `remote` at once (Asterisk sends nothing during silence, so never wait
   * for its first packet) from this same socket (strict RTP), push inbound frames into the session.
   */
  attach(session: CallSession, remote: RtpRemote): Promise<void>;
  /** Stop ticking, close the socket, release the port. Idempotent. */
  close(): Promise<void>;
}

export interface MediaBindInit {
  readonly callId: string;
  readonly codec: 'ulaw' | 'alaw';
  readonly logger: pino.Logger;
}

export type MediaBinder = (init: MediaBindInit) => Promise<CallMediaBinding>;
