// e2e (issue 7, test 6): a table of bad requests, each answered with its documented status and stable error
// code (docs/api.md, "Errors"); zapd stays up and accepts nothing from them. Also the partner routes' auth,
// the Client-Token check, and that an unknown instance and a wrong token get the same answer.
// usage: node gateway_bad_input.mjs --wasim path/to/wasim --zapd path/to/zapd
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { args, report } from '../oracle/lib.mjs';
import { startWasim } from '../interop/wasim.mjs';
import { startZapd, instanceApi, zapdProblems } from './zapd.mjs';

const opt = args({});
const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; if (!ok) failures.push({ step: what }); };
const wasim = await startWasim(opt.wasim);
const dataDir = mkdtempSync(path.join(tmpdir(), 'zapd-e2e-bad-'));
const CT = 'account-client-token';
let zapd;
try {
  zapd = await startZapd(opt.zapd, { dataDir, wasim, extra: ['--client-token', CT, '--webhook-allow-http', 'off', '--media-max-mb', '2'] });
  const created = await zapd.partner('POST', '/instances/integrator/on-demand', { name: 'bad input' });
  check(created.status === 200, 'instance created');
  const inst = instanceApi(zapd, created.body, { 'client-token': CT });
  const P = `/instances/${created.body.id}/token/${created.body.token}`;
  const H = { 'client-token': CT, 'content-type': 'application/json' };
  const big = JSON.stringify({ phone: '5511999998888', message: 'x'.repeat(1024 * 1024) });
  // Media sends take a file as a data: URI: 2 MiB of base64 is fine there (see below), --media-max-mb 1 caps it.
  const twoMiB = JSON.stringify({ phone: '5511999998888', image: `data:image/jpeg;base64,${Buffer.alloc(1536 * 1024, 7).toString('base64')}` });
  const hugeMedia = JSON.stringify({ phone: '5511999998888', image: `data:image/jpeg;base64,${'A'.repeat(3 * 1024 * 1024)}` });
  // [what, method, path, body (string: sent as is; undefined: none), headers, status, error code]
  const table = [
    ['unknown route', 'GET', '/nope', undefined, {}, 404, 'NOT_FOUND'],
    ['unknown instance route', 'GET', `${P}/nope`, undefined, H, 404, 'NOT_FOUND'],
    ['wrong method', 'GET', `${P}/send-text`, undefined, H, 405, 'METHOD_NOT_ALLOWED'],
    ['wrong method on status', 'POST', `${P}/status`, '{}', H, 405, 'METHOD_NOT_ALLOWED'],
    ['no content type', 'POST', `${P}/send-text`, '{"phone":"5511999998888","message":"hi"}', { 'client-token': CT, 'content-type': '' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['text/plain', 'POST', `${P}/send-text`, '{"phone":"5511999998888","message":"hi"}', { 'client-token': CT, 'content-type': 'text/plain' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['oversized body', 'POST', `${P}/send-text`, big, H, 413, 'PAYLOAD_TOO_LARGE'],
    ['invalid JSON', 'POST', `${P}/send-text`, '{"phone": "5511', H, 400, 'INVALID_JSON'],
    ['JSON array', 'POST', `${P}/send-text`, '[1,2]', H, 400, 'INVALID_JSON'],
    ['missing phone', 'POST', `${P}/send-text`, '{"message":"hi"}', H, 400, 'MISSING_FIELD'],
    ['missing message', 'POST', `${P}/send-text`, '{"phone":"5511999998888"}', H, 400, 'MISSING_FIELD'],
    ['empty message', 'POST', `${P}/send-text`, '{"phone":"5511999998888","message":""}', H, 400, 'MISSING_FIELD'],
    ['message of the wrong type', 'POST', `${P}/send-text`, '{"phone":"5511999998888","message":42}', H, 400, 'INVALID_FIELD'],
    ['phone of the wrong type', 'POST', `${P}/send-text`, '{"phone":5511999998888,"message":"hi"}', H, 400, 'INVALID_FIELD'],
    ['phone with a plus', 'POST', `${P}/send-text`, '{"phone":"+5511999998888","message":"hi"}', H, 400, 'INVALID_PHONE'],
    ['phone with spaces', 'POST', `${P}/send-text`, '{"phone":"55 11 99999 8888","message":"hi"}', H, 400, 'INVALID_PHONE'],
    ['phone too short', 'POST', `${P}/send-text`, '{"phone":"1234","message":"hi"}', H, 400, 'INVALID_PHONE'],
    ['phone with letters', 'POST', `${P}/send-text`, '{"phone":"55119999abcd","message":"hi"}', H, 400, 'INVALID_PHONE'],
    ['malformed group id', 'POST', `${P}/send-text`, '{"phone":"12-group","message":"hi"}', H, 400, 'INVALID_PHONE'],
    ['newsletter chat', 'POST', `${P}/send-text`, '{"phone":"120363019502650977@newsletter","message":"hi"}', H, 400, 'UNSUPPORTED_CHAT'],
    ['a group as a participant', 'POST', `${P}/create-group`, '{"groupName":"g","phones":["120363019502650977-group"]}', H, 400, 'INVALID_FIELD'],
    ['group name missing', 'POST', `${P}/create-group`, '{"phones":["5511999998888"]}', H, 400, 'MISSING_FIELD'],
    ['group id malformed', 'POST', `${P}/add-participant`, '{"groupId":"abc","phones":["5511999998888"]}', H, 400, 'INVALID_FIELD'],
    ['settings without a setting', 'POST', `${P}/update-group-settings`, '{"phone":"120363019502650977-group"}', H, 400, 'MISSING_FIELD'],
    ['group route while not connected', 'GET', `${P}/group-metadata/120363019502650977-group`, undefined, H, 409, 'NOT_CONNECTED'],
    ['invite url malformed', 'GET', `${P}/accept-invite-group?url=https://chat.whatsapp.com/a%20b`, undefined, H, 400, 'INVALID_FIELD'],
    ['delayMessage too large', 'POST', `${P}/send-text`, '{"phone":"5511999998888","message":"hi","delayMessage":16}', H, 400, 'INVALID_FIELD'],
    ['delayMessage not a number', 'POST', `${P}/send-text`, '{"phone":"5511999998888","message":"hi","delayMessage":"soon"}', H, 400, 'INVALID_FIELD'],
    ['delayTyping fractional', 'POST', `${P}/send-text`, '{"phone":"5511999998888","message":"hi","delayTyping":1.5}', H, 400, 'INVALID_FIELD'],
    ['mentioned not an array', 'POST', `${P}/send-text`, '{"phone":"5511999998888","message":"hi","mentioned":"5511"}', H, 400, 'INVALID_FIELD'],
    ['mentioned bad phone', 'POST', `${P}/send-text`, '{"phone":"5511999998888","message":"hi","mentioned":["x"]}', H, 400, 'INVALID_PHONE'],
    ['latitude out of range', 'POST', `${P}/send-location`, '{"phone":"5511999998888","title":"t","address":"a","latitude":"91","longitude":"0"}', H, 400, 'INVALID_FIELD'],
    ['latitude not a number', 'POST', `${P}/send-location`, '{"phone":"5511999998888","title":"t","address":"a","latitude":"north","longitude":"0"}', H, 400, 'INVALID_FIELD'],
    ['contact phone not digits', 'POST', `${P}/send-contact`, '{"phone":"5511999998888","contactName":"B","contactPhone":"abc"}', H, 400, 'INVALID_PHONE'],
    ['reaction without target', 'POST', `${P}/send-reaction`, '{"phone":"5511999998888","reaction":"x"}', H, 400, 'MISSING_FIELD'],
    ['delete without messageId', 'DELETE', `${P}/messages?phone=5511999998888`, undefined, H, 400, 'MISSING_FIELD'],
    ['delete with bad owner', 'DELETE', `${P}/messages?phone=5511999998888&messageId=X&owner=maybe`, undefined, H, 400, 'INVALID_FIELD'],
    ['queue page too large', 'POST', `${P}/queue`, '{"pageSize":31}', H, 400, 'INVALID_FIELD'],
    ['queue cursor forged', 'POST', `${P}/queue`, '{"pagingState":"../../etc"}', H, 400, 'INVALID_FIELD'],
    ['unknown queued message', 'DELETE', `${P}/queue/NOPE`, undefined, H, 404, 'NOT_FOUND'],
    ['webhook not a URL', 'PUT', `${P}/update-webhook-received`, '{"value":"not a url"}', H, 400, 'INVALID_FIELD'],
    ['webhook plain http', 'PUT', `${P}/update-webhook-received`, '{"value":"http://example.com/x"}', H, 400, 'INVALID_FIELD'],
    ['webhook value missing', 'PUT', `${P}/update-webhook-received`, '{}', H, 400, 'MISSING_FIELD'],
    ['notify without a received webhook', 'PUT', `${P}/update-notify-sent-by-me`, '{"notifySentByMe":true}', H, 409, 'WEBHOOK_REQUIRED'],
    ['notify not a boolean', 'PUT', `${P}/update-notify-sent-by-me`, '{"notifySentByMe":"yes"}', H, 400, 'INVALID_FIELD'],
    ['phone-code bad phone', 'GET', `${P}/phone-code/12ab`, undefined, H, 400, 'INVALID_PHONE'],
    ['device before pairing', 'GET', `${P}/device`, undefined, H, 409, 'NOT_CONNECTED'],
    ['no Client-Token', 'GET', `${P}/status`, undefined, {}, 401, 'CLIENT_TOKEN_REQUIRED'],
    ['wrong Client-Token', 'GET', `${P}/status`, undefined, { 'client-token': 'nope' }, 401, 'CLIENT_TOKEN_INVALID'],
    ['unknown instance', 'GET', `/instances/0123456789ABCDEF0123456789ABCDEF/token/${created.body.token}/status`, undefined, H, 401, 'UNAUTHORIZED'],
    ['wrong token', 'GET', `/instances/${created.body.id}/token/WRONGTOKEN0000000000000/status`, undefined, H, 401, 'UNAUTHORIZED'],
    ['partner without bearer', 'GET', '/instances', undefined, {}, 401, 'UNAUTHORIZED'],
    ['partner wrong bearer', 'GET', '/instances', undefined, { authorization: 'Bearer nope' }, 401, 'UNAUTHORIZED'],
    ['list page 0', 'GET', '/instances?page=0&pageSize=10', undefined, { authorization: `Bearer ${zapd.admin}` }, 400, 'INVALID_FIELD'],
    ['list pageSize not a number', 'GET', '/instances?page=1&pageSize=ten', undefined, { authorization: `Bearer ${zapd.admin}` }, 400, 'INVALID_FIELD'],
    ['partner bad body', 'POST', '/instances/integrator/on-demand', '{"name":5}', { authorization: `Bearer ${zapd.admin}`, 'content-type': 'application/json' }, 400, 'INVALID_FIELD'],
    ['partner bad webhook', 'POST', '/instances/integrator/on-demand', '{"receivedCallbackUrl":"ftp://x"}', { authorization: `Bearer ${zapd.admin}`, 'content-type': 'application/json' }, 400, 'INVALID_FIELD'],
    ['delete unknown instance', 'DELETE', '/instances/NOPE', undefined, { authorization: `Bearer ${zapd.admin}` }, 404, 'NOT_FOUND'],
    ['image missing', 'POST', `${P}/send-image`, '{"phone":"5511999998888"}', H, 400, 'MISSING_FIELD'],
    ['image neither URL nor data URI', 'POST', `${P}/send-image`, '{"phone":"5511999998888","image":"/etc/passwd"}', H, 400, 'INVALID_FIELD'],
    ['image data URI without a comma', 'POST', `${P}/send-image`, '{"phone":"5511999998888","image":"data:image/png;base64"}', H, 400, 'INVALID_FIELD'],
    ['audio of the wrong type', 'POST', `${P}/send-audio`, '{"phone":"5511999998888","audio":7}', H, 400, 'INVALID_FIELD'],
    ['viewOnce not a boolean', 'POST', `${P}/send-video`, '{"phone":"5511999998888","video":"https://example.com/v.mp4","viewOnce":"yes"}', H, 400, 'INVALID_FIELD'],
    ['document without extension', 'POST', `${P}/send-document`, '{"phone":"5511999998888","document":"https://example.com/a.pdf"}', H, 400, 'MISSING_FIELD'],
    ['document extension with a dot', 'POST', `${P}/send-document/p.df`, '{"phone":"5511999998888","document":"https://example.com/a.pdf"}', H, 400, 'INVALID_FIELD'],
    ['document fileName with a path', 'POST', `${P}/send-document/pdf`, '{"phone":"5511999998888","document":"https://example.com/a.pdf","fileName":"../x"}', H, 400, 'INVALID_FIELD'],
    ['sticker bad phone', 'POST', `${P}/send-sticker`, '{"phone":"abc","sticker":"https://example.com/s.webp"}', H, 400, 'INVALID_PHONE'],
    ['media body over its limit', 'POST', `${P}/send-image`, hugeMedia, H, 413, 'PAYLOAD_TOO_LARGE'],
    ['send-gif not built', 'POST', `${P}/send-gif`, '{"phone":"5511999998888","gif":"https://example.com/g.mp4"}', H, 501, 'NOT_IMPLEMENTED'],
    ['unknown media file', 'GET', `/media/${created.body.id}/${'a'.repeat(32)}.jpeg`, undefined, {}, 404, 'NOT_FOUND'],
    ['media path escape', 'GET', `/media/${created.body.id}/..%2F..%2Fzapd.db`, undefined, {}, 404, 'NOT_FOUND'],
    ['media of an unknown instance', 'GET', `/media/NOPE/${'a'.repeat(32)}.jpeg`, undefined, {}, 404, 'NOT_FOUND'],
  ];
  for (const [what, method, p, body, headers, status, code] of table) {
    let r;
    try { r = await zapd.call(method, p, body, headers); } catch (e) { r = { status: 'error', body: String(e) }; }
    check(r.status === status && r.body?.error === code && typeof r.body?.message === 'string',
      `${what}: expected ${status} ${code}, got ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    if (status === 405) check(r.headers?.get('allow'), `${what}: an Allow header`);
  }
  const media = await zapd.call('POST', `${P}/send-image`, twoMiB, H);
  check(media.status === 200 && media.body?.messageId, `a media send carries 2 MiB of base64 where a text may not (${media.status})`);
  await zapd.call('DELETE', `${P}/queue`, undefined, H);
  const a = await zapd.call('GET', `/instances/0123456789ABCDEF0123456789ABCDEF/token/${created.body.token}/status`, undefined, H);
  const b = await zapd.call('GET', `/instances/${created.body.id}/token/WRONGTOKEN0000000000000/status`, undefined, H);
  check(JSON.stringify(a.body) === JSON.stringify(b.body), 'unknown instance and wrong token answer alike');
  // Raw malformed HTTP.
  const net = await import('node:net');
  const raw = await new Promise((resolve) => {
    const s = net.connect(zapd.port, '127.0.0.1', () => s.write('GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'));
    let out = '';
    s.on('data', (d) => { out += d; });
    s.on('close', () => resolve(out));
    setTimeout(() => s.destroy(), 3000);
  });
  check(/^HTTP\/1\.1 400/.test(raw) && raw.includes('BAD_REQUEST'), `malformed HTTP gets 400 BAD_REQUEST (${raw.slice(0, 40)})`);
  // Nothing was accepted, and zapd is alive.
  check((await inst.call('GET', 'queue/count')).body?.count === 0, 'nothing was queued by the bad requests');
  check((await zapd.call('GET', '/health')).status === 200, 'zapd still answers');
} catch (e) {
  failures.push({ step: 'exception', error: String(e?.stack ?? e) });
} finally {
  try { await zapd?.stop(); } catch {}
  wasim.stop();
}
failures.push(...zapdProblems());
report('zapd bad input', failures, checks);
process.exit(0);
