/** The media plane's public surface: import from here outside src/media. */
export * from './audio-frame.ts';
export { ManualClock, systemClock, type Clock, type TimerHandle } from './clock.ts';
export * from './g711.ts';
export { Downsampler16to8, Resampler, Upsampler8to16 } from './resample.ts';
export {
  parseRtp,
  isRtpPacket,
  rtpPacketSize,
  writeRtp,
  writeRtpFixedHeader,
  RTP_HEADER_BYTES,
  RTP_VERSION,
  type RtpExtension,
  type RtpHeaderInit,
  type RtpPacket,
} from './rtp-packet.ts';
export {
  JitterBuffer,
  type JitterBufferCounters,
  type JitterBufferOptions,
  type JitterFrame,
  type JitterFrameKind,
} from './jitter-buffer.ts';
export { Ticker, type TickFn, type TickerCounters, type TickerOptions } from './ticker.ts';
export { Pacer, PACKET_RING, type PacerCounters, type PacerOptions } from './pacer.ts';
export {
  buildTelephoneEvents,
  digitToEvent,
  DtmfReceiver,
  eventToDigit,
  parseTelephoneEvent,
  DEFAULT_DTMF_PAYLOAD_TYPE,
  DTMF_END_REPEATS,
  type DtmfReceiverCounters,
  type TelephoneEvent,
} from './dtmf.ts';
export { PortPool } from './port-pool.ts';
export {
  RtpEndpoint,
  type RtpEndpointCounters,
  type RtpEndpointOptions,
  type RtpMalformedCode,
  type RtpPeer,
} from './rtp-endpoint.ts';
export { createVad, levelDbfs, SILENT_DBFS, type Vad, type VadProcessOptions, type VadResult, type VadTuning } from './vad.ts';
export {
  RtpMediaSession,
  type RtpMediaCounters,
  type RtpMediaSessionOptions,
} from './rtp-media-session.ts';
