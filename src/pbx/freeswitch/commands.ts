/**
 * ESL command text, built in one place and checked: every argument lands on a single line that
 * FreeSWITCH splits on spaces, so a stray space or newline in a uuid or value would change the command.
 */
import { BridgeError } from '../../errors.ts';

/** FreeSWITCH uuids are normally RFC 4122, but origination_uuid may be any token: allow a safe charset. */
const UUID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const TOKEN_RE = /^[A-Za-z0-9_.+*#@:-]{1,128}$/;

export function checkUuid(uuid: string): string {
  if (!UUID_RE.test(uuid)) throw new BridgeError('PBX_REQUEST', 'invalid channel uuid', { uuid: uuid.slice(0, 64) });
  return uuid;
}

function checkToken(what: string, value: string): string {
  if (!TOKEN_RE.test(value)) throw new BridgeError('PBX_REQUEST', `invalid ${what}`, { [what]: value.slice(0, 64) });
  return value;
}

/** One api call: command name + argument line (modesl writes `api <cmd> <args>\n\n`). */
export interface ApiCall {
  readonly command: string;
  readonly args: string;
}

/**
 * `uuid_audio_stream <uuid> start <url> mono <8k|16k> <metadata>`. mod_audio_stream sends everything
 * after the rate as the first text frame; compact JSON keeps it to one argument.
 */
export function audioStreamStart(uuid: string, url: string, rate: 8000 | 16000, metadata: object): ApiCall {
  const json = JSON.stringify(metadata).replace(/[\r\n]/g, ' ');
  return { command: 'uuid_audio_stream', args: `${checkUuid(uuid)} start ${url} mono ${rate === 8000 ? '8k' : '16k'} ${json}` };
}

export function audioStreamStop(uuid: string): ApiCall {
  return { command: 'uuid_audio_stream', args: `${checkUuid(uuid)} stop` };
}

export function kill(uuid: string, cause = 'NORMAL_CLEARING'): ApiCall {
  return { command: 'uuid_kill', args: `${checkUuid(uuid)} ${checkToken('cause', cause)}` };
}

/** `uuid_transfer <uuid> <extension> <dialplan> <context>` (mod_commands transfer_function). */
export function transfer(uuid: string, extension: string, dialplan: string, context: string): ApiCall {
  return {
    command: 'uuid_transfer',
    args: `${checkUuid(uuid)} ${checkToken('extension', extension)} ${checkToken('dialplan', dialplan)} ${checkToken('context', context)}`,
  };
}

/** `uuid_setvar <uuid> <var> <value>`: the value is the rest of the line, so only line breaks are unsafe. */
export function setVar(uuid: string, name: string, value: string): ApiCall {
  const clean = value.replace(/[\r\n\t]+/g, ' ').trim().slice(0, 1000);
  return { command: 'uuid_setvar', args: `${checkUuid(uuid)} ${checkToken('variable', name)} ${clean}` };
}

export function broadcast(uuid: string, file: string): ApiCall {
  if (!/^\/[^\s]+$/.test(file)) throw new BridgeError('PBX_PROTOCOL', 'play event carried an unusable file path', { file: file.slice(0, 200) });
  return { command: 'uuid_broadcast', args: `${checkUuid(uuid)} ${file} aleg` };
}

/** `uuid_break <uuid> all`: stops the current file and drops queued broadcasts. */
export function breakAll(uuid: string): ApiCall {
  return { command: 'uuid_break', args: `${checkUuid(uuid)} all` };
}

/**
 * sendmsg headers for call-command `unicast` (switch_ivr.c switch_ivr_parse_event). FreeSWITCH binds
 * local-ip:local-port, sends each read frame to remote-ip:remote-port and writes each datagram it
 * receives into the channel. Without `native` both directions are L16 at the channel's read rate.
 */
export function unicastHeaders(opts: {
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  native: boolean;
}): Record<string, string> {
  const headers: Record<string, string> = {
    'call-command': 'unicast',
    'local-ip': checkToken('local-ip', opts.localIp),
    'local-port': String(opts.localPort),
    'remote-ip': checkToken('remote-ip', opts.remoteIp),
    'remote-port': String(opts.remotePort),
    transport: 'udp',
  };
  if (opts.native) headers.flags = 'native';
  return headers;
}

/** api/response bodies: "+OK..." is success; anything else is FreeSWITCH's reason. */
export function isOk(reply: string): boolean {
  return reply.startsWith('+OK');
}
