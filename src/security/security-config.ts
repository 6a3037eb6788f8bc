/**
 * A node's security setting as written in createNode options and config files, and its loading into
 * what the transport uses (ChannelSecurity). Loading checks every file: a problem is a HorusError
 * (ERR_AUTH or ERR_CONFIG) before the node listens.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, HorusError } from '../core/errors.js';
import type { ChannelSecurity } from '../transport/secure-channel.js';
import { checkSecretFileMode } from './keys.js';
import { loadPkiCredentials, type PkiCredentials } from './trust.js';

export const SECURITY_MODES = ['off', 'psk', 'pki'] as const;
export type SecurityMode = (typeof SECURITY_MODES)[number];
/** A shared secret shorter than this is refused. */
export const MIN_PSK_BYTES = 16;

const revokedSchema = z
  .object({
    /** Certificate serials (32 hex digits). */
    serials: z.array(z.string().regex(/^[0-9a-fA-F]{32}$/, 'a serial is 32 hex digits')).optional(),
    /** Node or CA public keys (base64). */
    keys: z.array(z.string().min(1)).optional(),
  })
  .strict();

/** The `security` field of a node config file (also accepted by createNode). */
export const securityConfigSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('off') }).strict(),
  z
    .object({
      mode: z.literal('psk'),
      /** The shared secret itself (tests; prefer secretFile). */
      secret: z.string().min(MIN_PSK_BYTES, `a shared secret has at least ${MIN_PSK_BYTES} characters`).optional(),
      /** A file holding the shared secret (mode 0600). */
      secretFile: z.string().min(1).optional(),
    })
    .strict()
    .refine((o) => (o.secret === undefined) !== (o.secretFile === undefined), { message: 'psk needs exactly one of "secret" and "secretFile"' }),
  z
    .object({
      mode: z.literal('pki'),
      /** This node's private key file (from `horus keygen`, mode 0600). */
      key: z.string().min(1),
      /** This node's certificate (from `horus cert sign`). */
      cert: z.string().min(1),
      /** CA public keys: `.pub` files or base64 keys. */
      ca: z.array(z.string().min(1)).optional(),
      /** Node public keys accepted with self-signed certificates (an allow-list instead of a CA). */
      allow: z.array(z.string().min(1)).optional(),
      /** Certificates and keys no longer accepted (see docs/security.md, "Revoking a node"). */
      revoked: revokedSchema.optional(),
    })
    .strict()
    .refine((o) => (o.ca?.length ?? 0) + (o.allow?.length ?? 0) > 0, { message: 'pki needs at least one "ca" key or "allow" key' }),
]);
export type SecurityConfig = z.infer<typeof securityConfigSchema>;

/** What createNode accepts: a config (files), or credentials loaded already. */
export type SecurityOptions = SecurityConfig | { mode: 'psk'; secret: Buffer } | { mode: 'pki'; credentials: PkiCredentials };

function readSecretFile(file: string): Buffer {
  checkSecretFileMode(file, 'shared secret file');
  const secret = Buffer.from(readFileSync(file, 'utf8').trim());
  if (secret.length < MIN_PSK_BYTES) throw new HorusError('ERR_AUTH', `shared secret file ${file} holds fewer than ${MIN_PSK_BYTES} bytes`);
  return secret;
}

/** Loads and checks everything a security setting names. */
export function loadSecurity(opts: SecurityOptions): ChannelSecurity {
  switch (opts.mode) {
    case 'off':
      return { mode: 'off' };
    case 'psk': {
      if (Buffer.isBuffer(opts.secret)) {
        if (opts.secret.length < MIN_PSK_BYTES) throw new ConfigError(`a shared secret has at least ${MIN_PSK_BYTES} bytes`);
        return { mode: 'psk', secret: opts.secret };
      }
      const parsed = securityConfigSchema.safeParse(opts);
      if (!parsed.success || parsed.data.mode !== 'psk')
        throw new ConfigError(`invalid psk security: ${parsed.error?.issues.map((i) => i.message).join('; ') ?? ''}`);
      const c = parsed.data;
      return { mode: 'psk', secret: c.secret !== undefined ? Buffer.from(c.secret) : readSecretFile(c.secretFile!) };
    }
    case 'pki': {
      if ('credentials' in opts) return { mode: 'pki', credentials: opts.credentials };
      const parsed = securityConfigSchema.safeParse(opts);
      if (!parsed.success || parsed.data.mode !== 'pki')
        throw new ConfigError(`invalid pki security: ${parsed.error?.issues.map((i) => i.message).join('; ') ?? ''}`);
      const c = parsed.data;
      return {
        mode: 'pki',
        credentials: loadPkiCredentials({
          key: c.key,
          cert: c.cert,
          ...(c.ca ? { ca: c.ca } : {}),
          ...(c.allow ? { allow: c.allow } : {}),
          ...(c.revoked ? { revoked: c.revoked } : {}),
        }),
      };
    }
  }
}
