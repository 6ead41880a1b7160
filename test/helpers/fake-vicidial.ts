/**
 * A local VICIdial web server speaking the Non-Agent API (/vicidial/non_agent_api.php) and the
 * Agent API's ra_call_control (/agc/api.php): GET or POST form fields, one-line text replies in the
 * formats of docs/NON-AGENT_API.txt and docs/AGENT_API.txt.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface FakeUser {
  pass: string;
  userLevel: number;
  modifyLeads: boolean;
  /** api_allowed_functions; ['ALL_FUNCTIONS'] = all. */
  functions: string[];
}

export interface FakeLead {
  lead_id: number;
  status: string;
  phone_number: string;
  first_name: string;
  last_name: string;
  comments: string;
  [field: string]: string | number;
}

export interface FakeCallback {
  lead_id: number;
  status: string;
  datetime: string;
  type: string;
  comments: string;
}

const LEAD_COLUMNS = [
  'status', 'user', 'vendor_lead_code', 'source_id', 'list_id', 'gmt_offset_now', 'phone_code', 'phone_number', 'title',
  'first_name', 'middle_initial', 'last_name', 'address1', 'address2', 'address3', 'city', 'state', 'province',
  'postal_code', 'country_code', 'gender', 'date_of_birth', 'alt_phone', 'email', 'security_phrase', 'comments',
  'called_count', 'last_local_call_time', 'rank', 'owner', 'entry_list_id', 'lead_id',
];

export class FakeVicidial {
  private server: Server;
  private sockets = new Set<Socket>();
  port = 0;
  readonly users = new Map<string, FakeUser>();
  readonly leads = new Map<number, FakeLead>();
  readonly dnc = new Set<string>();
  readonly callbacks: FakeCallback[] = [];
  readonly logStatus = new Map<string, string>();
  readonly raCalls: Array<Record<string, string>> = [];
  /** Every request's fields (pass included: the test checks what went over the wire). */
  readonly requests: Array<{ path: string; method: string; fields: Record<string, string> }> = [];
  /** 'up' answers; 'http503' answers 503; 'reset' destroys the socket (unreachable). */
  mode: 'up' | 'http503' | 'reset' = 'up';

  constructor() {
    this.users.set('aiapi', { pass: 'apipass', userLevel: 8, modifyLeads: true, functions: ['ALL_FUNCTIONS'] });
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  addLead(lead: Partial<FakeLead> & { lead_id: number }): FakeLead {
    const full: FakeLead = { status: 'NEW', phone_number: '5551234567', first_name: '', last_name: '', comments: '', ...lead };
    this.leads.set(full.lead_id, full);
    return full;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.mode === 'reset') {
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const fields: Record<string, string> = Object.fromEntries(url.searchParams);
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      Object.assign(fields, Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    }
    this.requests.push({ path: url.pathname, method: req.method ?? 'GET', fields });
    if (this.mode === 'http503') {
      res.writeHead(503, { 'content-type': 'text/html' }).end('<html>Service Unavailable</html>');
      return;
    }
    const text =
      url.pathname === '/vicidial/non_agent_api.php'
        ? this.nonAgent(fields)
        : url.pathname === '/agc/api.php'
          ? this.agentApi(fields)
          : null;
    if (text === null) {
      res.writeHead(404, { 'content-type': 'text/html' }).end('Not Found');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(text + '\n');
  }

  private auth(f: Record<string, string>): FakeUser | string {
    const u = this.users.get(f.user ?? '');
    if (!u || u.pass !== f.pass) return `ERROR: Login incorrect, please try again: |${f.user ?? ''}|${f.pass ?? ''}|`;
    if (!u.functions.includes('ALL_FUNCTIONS') && !u.functions.includes(f.function)) {
      return `ERROR: auth USER DOES NOT HAVE PERMISSION TO USE THIS FUNCTION - ${f.user}|${f.function}`;
    }
    return u;
  }

  private nonAgent(f: Record<string, string>): string {
    const fn = f.function ?? '';
    if (fn === 'version') return 'VERSION: 2.14-917a|BUILD: 240411-1532|DATE: 2026-11-25 12:00:00|EPOCH: 1795600000|DST: 0|TZ: -5|TZNOW: -5|';
    if (!fn) return 'ERROR: NO FUNCTION SPECIFIED';
    const u = this.auth(f);
    if (typeof u === 'string') return u;
    const lead = this.leads.get(Number(f.lead_id));
    switch (fn) {
      case 'lead_all_info': {
        if (u.userLevel < 7) return `ERROR: lead_all_info USER DOES NOT HAVE PERMISSION TO GET LEAD INFO - ${f.user}|0`;
        if (!lead) return `ERROR: lead_all_info LEAD NOT FOUND - ${f.user}|${f.lead_id ?? ''}||`;
        const row = LEAD_COLUMNS.map((c) => String(lead[c] ?? '')).join('|');
        return f.header === 'YES' ? `${LEAD_COLUMNS.join('|')}\n${row}` : row;
      }
      case 'lead_field_info': {
        if (!lead) return `ERROR: lead_field_info LEAD NOT FOUND - ${f.user}|${f.lead_id ?? ''}|${f.field_name ?? ''}`;
        return String(lead[f.field_name ?? ''] ?? '');
      }
      case 'update_lead': {
        if (u.userLevel < 8 || !u.modifyLeads) return `ERROR: update_lead USER DOES NOT HAVE PERMISSION TO UPDATE LEADS IN THE SYSTEM - ${f.user}|0`;
        if (!lead) return `ERROR: update_lead NO MATCHES FOUND IN THE SYSTEM - ${f.user}|${f.lead_id ?? ''}|||`;
        if (f.status) lead.status = f.status;
        if (f.comments !== undefined) lead.comments = f.comments;
        const out = [`SUCCESS: update_lead LEAD HAS BEEN UPDATED - ${f.user}|${lead.lead_id}`];
        if (f.callback === 'Y') {
          this.callbacks.push({
            lead_id: lead.lead_id,
            status: f.callback_status ?? 'CALLBK',
            datetime: f.callback_datetime ?? '',
            type: f.callback_type ?? 'ANYONE',
            comments: f.callback_comments ?? '',
          });
          out.push(`NOTICE: update_lead SCHEDULED CALLBACK ADDED - ${lead.lead_id}|${f.callback_datetime ?? ''}|${f.campaign_id ?? ''}|${f.user}|${f.callback_type ?? 'ANYONE'}|${f.callback_status ?? 'CALLBK'}`);
        }
        return out.join('\n');
      }
      case 'add_dnc_phone': {
        if (u.userLevel < 8 || !u.modifyLeads) return `ERROR: add_dnc_phone USER DOES NOT HAVE PERMISSION TO ADD DNC NUMBERS - ${f.user}|0`;
        const phone = f.phone_number ?? '';
        if (!/^\d{6,20}$/.test(phone) || !f.campaign_id) return `ERROR: add_dnc_phone YOU MUST USE ALL REQUIRED FIELDS - ${f.user}|${phone}|${f.campaign_id ?? ''}`;
        const key = `${f.campaign_id}:${phone}`;
        if (this.dnc.has(key)) return `ERROR: add_dnc_phone DNC NUMBER ALREADY EXISTS - ${f.user}|${phone}`;
        this.dnc.add(key);
        return `SUCCESS: add_dnc_phone DNC NUMBER HAS BEEN ADDED - ${f.user}|${phone}|${f.campaign_id}`;
      }
      case 'update_log_entry': {
        if (u.userLevel < 8) return `ERROR: update_log_entry USER DOES NOT HAVE PERMISSION TO UPDATE LOGS - ${f.user}|0`;
        if (!f.call_id || !f.group || !f.status) return `ERROR: update_log_entry INVALID SEARCH PARAMETERS - ${f.user}||`;
        const old = this.logStatus.get(f.call_id) ?? 'NA';
        this.logStatus.set(f.call_id, f.status);
        return `SUCCESS: update_log_entry RECORD HAS BEEN UPDATED - ${f.user}|${f.user}|${f.group}|${f.call_id}|${f.status}|${old}|1795600000.1|`;
      }
      default:
        return `ERROR: ${fn} FUNCTION NOT FOUND - ${f.user}`;
    }
  }

  private agentApi(f: Record<string, string>): string {
    const u = this.auth(f);
    if (typeof u === 'string') return u.replace('please try again', 'please try again');
    if (f.function !== 'ra_call_control') return `ERROR: ${f.function ?? ''} NOT A VALID FUNCTION`;
    if (!/^V\d{19}$/.test(f.value ?? '')) return `ERROR: ra_call_control INVALID CALL ID - ${f.value ?? ''}`;
    this.raCalls.push(f);
    if (f.stage === 'HANGUP') return `SUCCESS: ra_call_control hungup - ${f.value}|${f.agent_user ?? ''}|${f.status ?? 'RAXFER'}`;
    if (f.stage === 'INGROUPTRANSFER') return `SUCCESS: ra_call_control transferred - ${f.value}|${f.agent_user ?? ''}|${f.ingroup_choices ?? ''}`;
    return `ERROR: ra_call_control INVALID STAGE - ${f.stage ?? ''}`;
  }
}
