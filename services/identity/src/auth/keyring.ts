import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import type { Db, Tx } from '@cos/db';
import type { Role } from '@cos/auth';

export const ACCESS_TOKEN_ISSUER = 'cos-identity';
export const ACCESS_TOKEN_AUDIENCE = 'cos-graph';
const ALG = 'EdDSA';
const LOCK = 'cos-identity:signing-keys';
/** Tokens are checked with some clock skew by verifiers; keep retired keys published that much longer. */
const SKEW_S = 60;

interface SigningKeyRow {
  kid: string;
  public_jwk: JWK;
  private_jwk: JWK;
  created_at: Date;
  retired_at: Date | null;
}

type SigningKey = Awaited<ReturnType<typeof importJWK>>;

async function newKeyRow(tx: Tx): Promise<string> {
  const { publicKey, privateKey } = await generateKeyPair(ALG, { crv: 'Ed25519', extractable: true });
  const kid = randomUUID();
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: ALG };
  await tx.query(
    `/* insertSigningKey */ INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk) VALUES ($1, $2, $3, $4)`,
    [kid, ALG, JSON.stringify(publicJwk), JSON.stringify(privateJwk)],
  );
  return kid;
}

const ACTIVE = `retired_at IS NULL AND activated_at IS NOT NULL`;
const NEXT = `retired_at IS NULL AND activated_at IS NULL`;

/** Creates the missing active and/or next key (caller holds the lock). */
async function ensureKeys(tx: Tx): Promise<string> {
  const active = await tx.one<{ kid: string }>(`/* activeSigningKey */ SELECT kid FROM signing_keys WHERE ${ACTIVE}`);
  let kid = active?.kid;
  if (!kid) {
    // No active key yet (first start): the first one is active at once; nobody can have tokens from it.
    kid = await newKeyRow(tx);
    await tx.query(`/* activateSigningKey */ UPDATE signing_keys SET activated_at = now() WHERE kid = $1`, [kid]);
  }
  const next = await tx.one<{ kid: string }>(`/* nextSigningKey */ SELECT kid FROM signing_keys WHERE ${NEXT}`);
  if (!next) await newKeyRow(tx);
  return kid;
}

/**
 * Makes sure exactly one active signing key and one published-but-unused next key exist. Runs under a
 * transaction-scoped advisory lock so two instances starting together agree. Returns the active kid.
 */
export async function ensureActiveSigningKey(systemDb: Db): Promise<string> {
  return systemDb.tx({ orgId: null }, async (tx) => {
    await tx.query(`/* lockSigningKeys */ SELECT pg_advisory_xact_lock(hashtext($1))`, [LOCK]);
    return ensureKeys(tx);
  });
}

/**
 * Rotation without a 401 window: the active key is retired (still published until every token it signed has
 * expired), the NEXT key — already in the JWKS that verifiers cached — becomes active, and a new next key is created
 * and published for the following rotation. Returns the newly active kid.
 */
export async function rotateSigningKey(systemDb: Db): Promise<string> {
  return systemDb.tx({ orgId: null }, async (tx) => {
    await tx.query(`/* lockSigningKeys */ SELECT pg_advisory_xact_lock(hashtext($1))`, [LOCK]);
    await ensureKeys(tx);
    await tx.query(`/* retireSigningKey */ UPDATE signing_keys SET retired_at = now() WHERE ${ACTIVE}`);
    const promoted = await tx.one<{ kid: string }>(
      `/* promoteNextSigningKey */ UPDATE signing_keys SET activated_at = now() WHERE ${NEXT} RETURNING kid`,
    );
    if (!promoted) throw new Error('no next signing key to promote');
    await newKeyRow(tx);
    return promoted.kid;
  });
}

export interface AccessTokenClaims {
  userId: string;
  orgId: string;
  role: Role;
}

/** Signs access tokens with the active key and publishes the JWKS. Reads keys through the system role. */
export class KeyRing {
  private active: { kid: string; key: SigningKey; loadedAt: number } | null = null;

  constructor(
    private readonly systemDb: Db,
    private readonly opts: { accessTokenTtlS: number; cacheMs?: number },
  ) {}

  get accessTokenTtlS() {
    return this.opts.accessTokenTtlS;
  }

  /** The active key, re-read at most every `cacheMs` so a rotation by another instance is picked up. */
  private async activeKey() {
    const cacheMs = this.opts.cacheMs ?? 30_000;
    if (this.active && Date.now() - this.active.loadedAt < cacheMs) return this.active;
    let row = await this.systemDb.withClient((tx) =>
      tx.one<SigningKeyRow>(`/* activeSigningKeyPrivate */ SELECT kid, private_jwk FROM signing_keys WHERE ${ACTIVE}`),
    );
    if (!row) {
      await ensureActiveSigningKey(this.systemDb);
      row = await this.systemDb.withClient((tx) =>
        tx.one<SigningKeyRow>(`/* activeSigningKeyPrivate */ SELECT kid, private_jwk FROM signing_keys WHERE ${ACTIVE}`),
      );
      if (!row) throw new Error('no active signing key');
    }
    this.active = { kid: row.kid, key: await importJWK(row.private_jwk, ALG), loadedAt: Date.now() };
    return this.active;
  }

  /** Forgets the cached key (after a rotation in this process). */
  invalidate() {
    this.active = null;
  }

  async signAccessToken(claims: AccessTokenClaims, now = new Date()): Promise<{ token: string; expiresAt: Date }> {
    const { kid, key } = await this.activeKey();
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + this.opts.accessTokenTtlS;
    const token = await new SignJWT({ org: claims.orgId, role: claims.role })
      .setProtectedHeader({ alg: ALG, kid, typ: 'JWT' })
      .setSubject(claims.userId)
      .setIssuer(ACCESS_TOKEN_ISSUER)
      .setAudience(ACCESS_TOKEN_AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(key);
    return { token, expiresAt: new Date(exp * 1000) };
  }

  /**
   * Public keys: the next one (published before it signs anything), the active one, and retired ones that may
   * still have unexpired tokens out there.
   */
  async jwks(): Promise<{ keys: JWK[] }> {
    const rows = await this.systemDb.withClient((tx) =>
      tx.query<{ public_jwk: JWK }>(
        `/* publishedSigningKeys */ SELECT public_jwk FROM signing_keys
         WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
         ORDER BY created_at DESC`,
        [this.opts.accessTokenTtlS + SKEW_S],
      ),
    );
    return { keys: rows.map((r) => r.public_jwk) };
  }
}
