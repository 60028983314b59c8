/**
 * known_hosts, as OpenSSH reads it: the verdict on a host key is `known` (a line for this host
 * has this key), `changed` (lines for this host exist, none with this key: refuse, always) or
 * `unknown` (no line for this host: refuse unless the user accepts new keys). Host fields may
 * be plain (`host`, `[host]:port`, comma lists, `*`/`?` patterns, `!` negations) or hashed
 * (`|1|salt|hmac-sha1`). Lines marked @revoked reject the key; @cert-authority lines are skipped.
 */
import { createHmac } from 'node:crypto';

export type HostKeyVerdict = 'known' | 'changed' | 'unknown' | 'revoked';

/** The name known_hosts uses for a host: `host` on port 22, `[host]:port` otherwise. */
export function hostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

function hostMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (salt === undefined || hash === undefined) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  let matched = false;
  for (const p of field.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) {
      matched = true;
    }
  }
  return matched;
}

/** The verdict for `key` (the raw public key blob, as ssh2 gives it) of host:port. */
export function verifyHostKey(knownHosts: string, host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = hostName(host, port);
  let seen = false;
  for (const raw of knownHosts.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    let marker: string | undefined;
    if (f[0].startsWith('@')) marker = f.shift();
    if (marker === '@cert-authority' || f.length < 3 || !hostMatches(f[0], name)) continue;
    const same = Buffer.from(f[2], 'base64').equals(key);
    if (marker === '@revoked') {
      if (same) return 'revoked';
      continue;
    }
    seen = true;
    if (same) return 'known';
  }
  return seen ? 'changed' : 'unknown';
}

/** The line to append when the user accepts a new host key (hashed, as `HashKnownHosts yes`). */
export function knownHostsLine(host: string, port: number, keyType: string, key: Buffer, salt: Buffer): string {
  const name = hostName(host, port);
  const mac = createHmac('sha1', salt).update(name).digest('base64');
  return `|1|${salt.toString('base64')}|${mac} ${keyType} ${key.toString('base64')}`;
}

/** The key type named inside an SSH public key blob (its first string). */
export function keyTypeOf(key: Buffer): string {
  const n = key.readUInt32BE(0);
  return key.subarray(4, 4 + n).toString('ascii');
}
