// School sign-in (OpenID Connect) in the classroom page, on a server that requires keys: the
// join dialog of a class link offers "Sign in with your school account"; a click goes through
// the school's provider and back, and the page is signed in (the session never in the
// address); on another browser the sign-in dialog's button finds the same student; an account
// in no class is told to join with the teacher's link first. zh-CN on a phone, en on a laptop.
//
// The provider is a small server in this test standing in for the school's (Keycloak,
// Microsoft Entra…): discovery, its key (an RSA key made here), an authorize endpoint that
// signs the next student in at once, and a token endpoint that checks PKCE and returns an RS256
// ID token with the nonce. The server's public URL is a name the provider maps to the test
// server's real address (known only once it has started) when it sends the browser back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { generateKeyPairSync, createSign, createHash } from 'node:crypto';
import { startServer, createKey, launchBrowser, newPage, ready, screenshot } from './harness.js';

const CLIENT_ID = 'tiderun-class';
const CLIENT_SECRET = 'test-client-secret';
const PUBLIC_URL = 'http://class.test';
const PHONE = { width: 390, height: 844 };
const LAPTOP = { width: 1280, height: 800 };

/** The stand-in provider: `{url, next, stop}`; `next` is who signs in next. */
async function startProvider() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' };
  const grants = new Map();
  const provider = { next: { sub: 'xm-1', name: '小明' }, serverUrl: null };
  const sign = (claims) => {
    const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${part({ alg: 'RS256', kid: 'k1', typ: 'JWT' })}.${part(claims)}`;
    return `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;
  };
  const http = createServer(async (req, res) => {
    const url = new URL(req.url, provider.url);
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(body === null ? '' : JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/openid-configuration') {
      return send(200, {
        issuer: provider.url,
        authorization_endpoint: `${provider.url}/authorize`,
        token_endpoint: `${provider.url}/token`,
        jwks_uri: `${provider.url}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (url.pathname === '/jwks') return send(200, { keys: [jwk] });
    if (url.pathname === '/authorize') {
      const q = url.searchParams;
      assert.equal(q.get('redirect_uri'), `${PUBLIC_URL}/api/v1/oidc/callback`);
      const code = `code-${grants.size}`;
      grants.set(code, { nonce: q.get('nonce'), challenge: q.get('code_challenge'), who: provider.next });
      const back = `${provider.serverUrl}/api/v1/oidc/callback?code=${code}&state=${encodeURIComponent(q.get('state'))}`;
      return send(302, null, { Location: back });
    }
    if (url.pathname === '/token') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
      const grant = grants.get(form.get('code'));
      grants.delete(form.get('code'));
      const verifier = createHash('sha256').update(form.get('code_verifier') || '').digest('base64url');
      if (req.headers.authorization !== basic || !grant || verifier !== grant.challenge) {
        return send(400, { error: 'invalid_grant' });
      }
      const now = Math.floor(Date.now() / 1000);
      const idToken = sign({
        iss: provider.url,
        aud: CLIENT_ID,
        sub: grant.who.sub,
        name: grant.who.name,
        nonce: grant.nonce,
        iat: now,
        exp: now + 300,
      });
      return send(200, { access_token: 'at', token_type: 'Bearer', expires_in: 300, id_token: idToken });
    }
    return send(404, { error: 'not found' });
  });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  provider.url = `http://127.0.0.1:${http.address().port}`;
  provider.stop = () => new Promise((resolve) => http.close(resolve));
  return provider;
}

let provider;
let server;
let browser;
let klass;

before(async () => {
  provider = await startProvider();
  process.env.TIDERUN_OIDC_CLIENT_SECRET = CLIENT_SECRET;
  server = await startServer([
    '--require-keys',
    '--oidc-issuer',
    provider.url,
    '--oidc-client-id',
    CLIENT_ID,
    '--public-url',
    PUBLIC_URL,
  ]);
  provider.serverUrl = server.url;
  const teacher = createKey(server, `teacher-${Date.now()}`, 'teacher');
  const response = await fetch(`${server.url}/api/v1/classes`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${teacher}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: '三年二班' }),
  });
  klass = await response.json();
  assert.equal(response.status, 201, JSON.stringify(klass));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await provider?.stop();
});

test('a class link joins with the school account, on a phone in Chinese', async () => {
  const page = await newPage(browser, `${server.url}/#join=${klass.join_code}`, { locale: 'zh-CN', viewport: PHONE });
  await page.waitForSelector('#join-dialog[open] #join-school:not([hidden])');
  assert.equal(await page.textContent('#join-school-link'), '用学校账号登录');
  await screenshot(page, 'oidc-join-phone-zh');
  await page.click('#join-school-link');
  await page.waitForFunction(() => document.querySelector('#account-who')?.textContent.includes('小明'));
  await ready(page);
  assert.equal(await page.textContent('#account-who'), '已登录：小明 · 三年二班');
  // Neither the one-time code nor the session is left in the address.
  assert.ok(!page.url().includes('oidc'), page.url());
  const kept = await page.evaluate(() => JSON.stringify({ ...sessionStorage }));
  assert.ok(kept.includes('trst_'), kept);
  await screenshot(page, 'oidc-signed-in-phone-zh');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('the sign-in dialog finds the same student in another browser; an account in no class is told to join first', async () => {
  const page = await newPage(browser, server.url, { locale: 'en-US', viewport: LAPTOP });
  await page.waitForSelector('#key-dialog[open]');
  await page.click('#key-signin');
  await page.waitForSelector('#signin-dialog[open] #signin-school:not([hidden])');
  assert.equal(await page.textContent('#signin-school a'), 'Sign in with your school account');
  await screenshot(page, 'oidc-signin-laptop-en');
  await page.click('#signin-school a');
  await page.waitForFunction(() => document.querySelector('#account-who')?.textContent.includes('小明'));
  assert.equal(await page.textContent('#account-who'), 'Signed in as 小明 · 三年二班');

  // Someone else's account, in no class yet.
  provider.next = { sub: 'stranger', name: 'Lucy' };
  await page.click('#signout');
  await page.click('#signin-button');
  await page.waitForSelector('#signin-dialog[open] #signin-school:not([hidden])');
  await page.click('#signin-school a');
  await page.waitForFunction(() => document.querySelector('#signin-message')?.textContent.includes("teacher's link"));
  assert.ok(await page.isHidden('#account-who'));
  // The reason stays in view: the class key's question waits until the dialog is closed.
  assert.equal(await page.$eval('#key-dialog', (d) => d.open), false);
  await screenshot(page, 'oidc-no-class-laptop-en');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
