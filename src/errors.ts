/**
 * One error class for the whole daemon: a code union says how to handle it, `context` carries the
 * facts (never secrets), `cause` keeps the original. Modelled on undici's coded errors, without the
 * 25 near-identical subclasses.
 */
export type BridgeErrorCode =
  // media plane
  | 'RTP_TRUNCATED'
  | 'RTP_BAD_VERSION'
  | 'RTP_BAD_PADDING'
  | 'RTP_BAD_EXTENSION'
  | 'RTP_UNKNOWN_PAYLOAD'
  | 'RTP_WRONG_SOURCE'
  | 'RTP_NO_PORT'
  | 'DTMF_MALFORMED'
  | 'AUDIO_BAD_FRAME'
  // config
  | 'CONFIG_INVALID'
  | 'CONFIG_NOT_FOUND'
  // providers
  | 'PROVIDER_CONNECT'
  | 'PROVIDER_AUTH'
  | 'PROVIDER_RATE_LIMIT'
  | 'PROVIDER_STALL'
  | 'PROVIDER_PROTOCOL'
  | 'PROVIDER_CLOSED'
  | 'PROVIDER_UNAVAILABLE'
  // agent
  | 'TOOL_INVALID_ARGS'
  | 'TOOL_FORBIDDEN_TARGET'
  | 'CAMPAIGN_INVALID'
  // pbx
  | 'PBX_CONNECT'
  | 'PBX_AUTH'
  | 'PBX_VERSION'
  | 'PBX_REQUEST'
  | 'PBX_PROTOCOL'
  | 'PBX_UNAUTHORIZED_STREAM'
  // vicidial
  | 'VICIDIAL_API'
  | 'VICIDIAL_AUTH'
  // misc
  | 'SETUP_MISSING_PACKAGES'
  | 'INTERNAL';

export class BridgeError extends Error {
  readonly code: BridgeErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: BridgeErrorCode,
    message: string,
    context: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BridgeError';
    this.code = code;
    this.context = context;
  }
}

export function isBridgeError(err: unknown, code?: BridgeErrorCode): err is BridgeError {
  return err instanceof BridgeError && (code === undefined || err.code === code);
}

/** Text of any thrown value, for logs: never throws itself. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return 'unprintable error';
  }
}
