/**
 * Debian's Chromium, headless, driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
 * JSON messages ended by a NUL byte, commands on fd 3, answers and events on fd 4). No library:
 * a page is opened, every request it makes and every console message, exception and log entry
 * are recorded, an expression is evaluated in it and a full-page screenshot is taken.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const CHROMIUM = process.env.AUTOPIPE_CHROMIUM ?? '/usr/bin/chromium';

export interface PageVisit {
  /** Every URL the page asked for, itself included. */
  requests: string[];
  /** console.error/warn calls, uncaught exceptions and the browser's own error entries (CSP, failed loads). */
  errors: string[];
  value: unknown;
  screenshot: Buffer;
}

interface Message { id?: number; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: { message: string }; sessionId?: string }

export async function visitPage(url: string, opts: { evaluate: string; width?: number; timeoutMs?: number }): Promise<PageVisit> {
  const profile = mkdtempSync(join(tmpdir(), 'autopipe-chromium-'));
  const child = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check', '--hide-scrollbars',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank'],
  { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true }); // its own process group: its helpers end with it
  const input = child.stdio[3] as Writable;
  const output = child.stdio[4] as Readable;
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => { stderr += b.toString(); });
  const waiting = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  const listeners: Array<(m: Message) => void> = [];
  let buffered = Buffer.alloc(0);
  output.on('data', (b: Buffer) => {
    buffered = Buffer.concat([buffered, b]);
    for (let end = buffered.indexOf(0); end >= 0; end = buffered.indexOf(0)) {
      const m = JSON.parse(buffered.subarray(0, end).toString('utf8')) as Message;
      buffered = buffered.subarray(end + 1);
      if (m.id !== undefined) {
        const w = waiting.get(m.id);
        waiting.delete(m.id);
        if (m.error !== undefined) w?.reject(new Error(m.error.message));
        else w?.resolve(m);
      } else for (const l of listeners) l(m);
    }
  });
  let next = 0;
  let sessionId: string | undefined;
  const send = (method: string, params: object = {}, session = sessionId): Promise<Record<string, unknown>> => new Promise((resolve, reject) => {
    const id = ++next;
    waiting.set(id, { resolve: (m) => resolve(m.result ?? {}), reject });
    input.write(JSON.stringify({ id, method, params, ...(session === undefined ? {} : { sessionId: session }) }) + '\0');
  });
  const exited = new Promise<never>((_, reject) => child.on('exit', (code) => reject(new Error(`chromium exited (${code}): ${stderr.slice(-2000)}`))));
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`chromium: no answer in ${opts.timeoutMs ?? 60000} ms`)), opts.timeoutMs ?? 60000).unref());
  const visit = async (): Promise<PageVisit> => {
    const requests: string[] = [];
    const errors: string[] = [];
    let loaded: () => void = () => undefined;
    const load = new Promise<void>((resolve) => { loaded = resolve; });
    listeners.push((m) => {
      const p = m.params ?? {};
      if (m.method === 'Network.requestWillBeSent') requests.push(String((p.request as { url: string }).url));
      if (m.method === 'Runtime.consoleAPICalled' && ['error', 'warning', 'assert'].includes(String(p.type))) errors.push(`console.${String(p.type)}: ${JSON.stringify(p.args)}`);
      if (m.method === 'Runtime.exceptionThrown') errors.push(`exception: ${JSON.stringify(p.exceptionDetails)}`);
      if (m.method === 'Log.entryAdded' && ['error', 'warning'].includes(String((p.entry as { level: string }).level))) errors.push(`log: ${(p.entry as { text: string }).text} ${(p.entry as { url?: string }).url ?? ''}`.trim());
      if (m.method === 'Page.loadEventFired') loaded();
    });
    const { targetId } = await send('Target.createTarget', { url: 'about:blank' }) as { targetId: string };
    sessionId = (await send('Target.attachToTarget', { targetId, flatten: true }) as { sessionId: string }).sessionId;
    for (const domain of ['Network', 'Runtime', 'Log', 'Page']) await send(`${domain}.enable`);
    const width = opts.width ?? 1240;
    await send('Emulation.setDeviceMetricsOverride', { width, height: 900, deviceScaleFactor: 1, mobile: false });
    await send('Page.navigate', { url });
    await load;
    const r = await send('Runtime.evaluate', { expression: opts.evaluate, returnByValue: true }) as { result: { value: unknown }; exceptionDetails?: unknown };
    if (r.exceptionDetails !== undefined) throw new Error(`the page's evaluation threw: ${JSON.stringify(r.exceptionDetails)}`);
    const metrics = await send('Page.getLayoutMetrics') as { cssContentSize: { height: number } };
    await send('Emulation.setDeviceMetricsOverride', { width, height: Math.ceil(metrics.cssContentSize.height), deviceScaleFactor: 1, mobile: false });
    const shot = await send('Page.captureScreenshot', { format: 'png' }) as { data: string };
    return { requests, errors, value: r.result.value, screenshot: Buffer.from(shot.data, 'base64') };
  };
  try {
    return await Promise.race([visit(), exited, timeout]);
  } finally {
    child.removeAllListeners('exit');
    const gone = new Promise((res) => (child.exitCode !== null || child.signalCode !== null ? res(undefined) : child.once('exit', res)));
    await Promise.race([send('Browser.close', {}, undefined).catch(() => undefined), new Promise((res) => setTimeout(res, 5000))]);
    await Promise.race([gone, new Promise((res) => setTimeout(res, 5000))]);
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // the group has ended
    }
    await gone;
    rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
}
