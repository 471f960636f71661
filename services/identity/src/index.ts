/**
 * identity service main (shared bootstrap: @cos/service-kit startSubgraphProcess — migrations, pools, metrics,
 * tracing, bus, outbox relay, consumers, graceful shutdown) + the signing key ring. Publishes its IdentityEvent
 * union (cos.<org>.identity.<Aggregate>.<Type>) through the outbox relay; consumes
 * `${prefix}.*.{tasks,customers,agents}.>` into the audit log (src/events/consumers.ts).
 */
import { unsubscribeSecret } from '@cos/auth';
import { exitOnStartupError, startSubgraphProcess } from '@cos/service-kit';
import { ensureActiveSigningKey, KeyRing } from './auth/keyring';
import { loadEnv } from './env';
import { startIdentityConsumers } from './events/consumers';
import { NOTIFY_CHANNEL } from './projector';
import { createServer } from './server';
import { identityPii } from './store/pii';
import { identityRetention } from './store/retention';

const SERVICE = 'identity';

startSubgraphProcess({
  service: SERVICE,
  env: loadEnv(),
  notifyChannel: NOTIFY_CHANNEL,
  eventCodec: identityPii,
  retention: identityRetention,
  consumers: ({ bus, systemDb, log }) => startIdentityConsumers({ bus, systemDb, log }),
  createServer: async ({ env, db, systemDb, log, readiness, onLoaderBatch }) => {
    const kid = await ensureActiveSigningKey(systemDb);
    log.info({ kid }, 'signing key ready');
    const keys = new KeyRing(systemDb, { accessTokenTtlS: env.ACCESS_TOKEN_TTL_S });
    return createServer(
      {
        db,
        systemDb,
        keys,
        log,
        onLoaderBatch,
        config: {
          internalSecret: env.INTERNAL_SECRET,
          refreshTokenTtlS: env.REFRESH_TOKEN_TTL_S,
          refreshReuseGraceS: env.REFRESH_REUSE_GRACE_S,
          invitationTtlS: env.INVITATION_TTL_S,
          inviteUrlBase: env.INVITE_URL_BASE,
          // Production without it: every unsubscribe link is refused (the mailer, which signs them, refuses to start).
          unsubscribeSecret: env.NODE_ENV === 'production' ? env.MAIL_UNSUBSCRIBE_SECRET : unsubscribeSecret(env.NODE_ENV, env.MAIL_UNSUBSCRIBE_SECRET),
          supergraph: env.SUPERGRAPH,
          loginThrottle: {
            windowS: env.LOGIN_WINDOW_S,
            maxPerAccount: env.LOGIN_MAX_FAILURES_PER_ACCOUNT,
            maxPerIp: env.LOGIN_MAX_FAILURES_PER_IP,
          },
        },
      },
      { nats: readiness.nats! },
    );
  },
}).catch(exitOnStartupError(SERVICE));
