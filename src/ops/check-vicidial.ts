/**
 * VICIdial Non-Agent API user: reachable (function=version, needs no login), then a permission
 * probe that changes nothing: `update_lead&lead_id=0&no_update=Y` passes the login, the API-access
 * and the modify-leads checks, then finds no lead 0.
 */
import type { Config } from '../config/schema.ts';
import { fail, httpGet, networkReason, pass, scrub, shownUrl, type CheckResult } from './check.ts';

type VicidialCfg = Pick<NonNullable<Config['vicidial']>, 'url' | 'user' | 'pass' | 'source'>;

/** Accepts the web root, `.../vicidial`, or the script URL itself. */
export function nonAgentApiUrl(url: string): string {
  const u = url.replace(/\/+$/, '');
  if (u.endsWith('non_agent_api.php')) return u;
  if (u.endsWith('/vicidial')) return `${u}/non_agent_api.php`;
  return `${u}/vicidial/non_agent_api.php`;
}

export async function checkVicidial(cfg: VicidialCfg, timeoutMs: number): Promise<CheckResult[]> {
  const api = nonAgentApiUrl(cfg.url);
  const secrets = [cfg.pass];
  const q = (params: Record<string, string>) => `${api}?${new URLSearchParams({ source: cfg.source, ...params })}`;
  let version: string;
  try {
    const res = await httpGet(q({ function: 'version' }), {}, timeoutMs);
    if (res.status !== 200) return [fail('vicidial api', `${shownUrl(api)} answered HTTP ${res.status}`)];
    const m = /VERSION:\s*([^|]+)\|BUILD:\s*([^|]+)/.exec(res.body);
    if (!m) return [fail('vicidial api', `${shownUrl(api)} did not answer like the Non-Agent API`)];
    version = `${m[1].trim()} build ${m[2].trim()}`;
  } catch (err) {
    return [fail('vicidial api', `${shownUrl(api)} ${networkReason(err)}`)];
  }
  const results: CheckResult[] = [pass('vicidial api', `${shownUrl(api)} VICIdial API ${version}`)];
  try {
    const res = await httpGet(q({ user: cfg.user, pass: cfg.pass, function: 'update_lead', lead_id: '0', no_update: 'Y' }), {}, timeoutMs);
    const line = scrub(res.body.trim().split('\n')[0] ?? '', secrets).slice(0, 160);
    if (/login incorrect/i.test(line)) results.push(fail('vicidial user', `user '${cfg.user}' login incorrect`));
    else if (/permission/i.test(line)) {
      results.push(fail('vicidial user', `user '${cfg.user}' lacks permission: needs API access, user level >= 8, modify leads, update_lead/add_dnc_phone allowed (${line})`));
    } else if (/^(ERROR|NOTICE|SUCCESS)/.test(line)) results.push(pass('vicidial user', `user '${cfg.user}' may update leads`));
    else results.push(fail('vicidial user', `unexpected answer: ${line || `HTTP ${res.status}, empty body`}`));
  } catch (err) {
    results.push(fail('vicidial user', networkReason(err)));
  }
  return results;
}
