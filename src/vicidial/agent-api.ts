/**
 * Agent API (`/agc/api.php`, docs/AGENT_API.txt) — only `ra_call_control`, which ends or transfers a
 * Remote Agent's call (hand-off mode c) and updates VICIdial's logs as it does so.
 */
import pino from 'pino';
import { BridgeError } from '../errors.ts';
import { NonAgentApiClient, apiError, type ApiEndpointConfig } from './non-agent-api.ts';

export type RaStage = 'HANGUP' | 'EXTENSIONTRANSFER' | 'INGROUPTRANSFER';

export class AgentApiClient {
  private readonly client: NonAgentApiClient;

  constructor(private readonly cfg: ApiEndpointConfig, logger?: pino.Logger) {
    // Same request/reply conventions as the Non-Agent API, another script.
    this.client = new NonAgentApiClient(cfg, logger ?? pino({ level: 'silent' }), '/agc/api.php');
  }

  /**
   * `value` = the call's 20-character id (V...), `agentUser` = the remote agent's user.
   * INGROUPTRANSFER needs `ingroup`; EXTENSIONTRANSFER needs `phoneNumber`.
   */
  async raCallControl(p: {
    callId: string;
    agentUser: string;
    stage: RaStage;
    ingroup?: string;
    phoneNumber?: string;
    status?: string;
  }): Promise<string> {
    if (p.stage === 'INGROUPTRANSFER' && !p.ingroup) {
      throw new BridgeError('VICIDIAL_API', 'ra_call_control INGROUPTRANSFER needs an in-group', { stage: p.stage });
    }
    const reply = await this.client.raw('ra_call_control', {
      value: p.callId,
      agent_user: p.agentUser,
      stage: p.stage,
      ingroup_choices: p.ingroup,
      phone_number: p.phoneNumber,
      status: p.status,
    });
    if (reply.kind === 'error') throw apiError('ra_call_control', reply, [this.cfg.pass]);
    const ok = reply.lines.find((l) => l.kind === 'success');
    return ok ? ok.message : reply.data.join(' ');
  }
}
