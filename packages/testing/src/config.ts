/**
 * Where the test infrastructure lives. `DATABASE_URL` must be a superuser (or CREATEROLE
 * + CREATEDB) URL: the harness creates roles and per-file databases with it, and hands
 * tests a URL for the application role. With neither variable set and a Docker engine
 * available, testcontainers provides both.
 */
export type TestInfra = { adminUrl: string; redisUrl: string };

const missingMessage = `Perseus tests need Postgres and Redis.
Set DATABASE_URL (a superuser URL, e.g. postgres://postgres@127.0.0.1:5432/postgres)
and REDIS_URL (e.g. redis://127.0.0.1:6379), or run a Docker engine so testcontainers
can start them. Local default on a development machine: both on 127.0.0.1.`;

async function startContainers(): Promise<TestInfra> {
  // Imported lazily: testcontainers throws at once when no container runtime exists.
  try {
    const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
    const { RedisContainer } = await import("@testcontainers/redis");
    const [pgContainer, redisContainer] = await Promise.all([
      new PostgreSqlContainer("postgres:15").withUsername("postgres").withPassword("postgres").start(),
      new RedisContainer("redis:7").start(),
    ]);
    return { adminUrl: pgContainer.getConnectionUri(), redisUrl: redisContainer.getConnectionUrl() };
  } catch (error) {
    throw new Error(`${missingMessage}\n(testcontainers: ${(error as Error).message})`);
  }
}

export async function resolveTestInfra(env: NodeJS.ProcessEnv = process.env): Promise<TestInfra> {
  const adminUrl = env.PERSEUS_TEST_DATABASE_URL ?? env.DATABASE_URL;
  const redisUrl = env.PERSEUS_TEST_REDIS_URL ?? env.REDIS_URL;
  if (adminUrl && redisUrl) return { adminUrl, redisUrl };
  if (adminUrl || redisUrl) throw new Error(`${missingMessage}\n(only one of the two is set)`);
  return startContainers();
}

/** The environment child processes inherit (the harness adds its own variables on top). */
export function inheritedEnvironment(): NodeJS.ProcessEnv {
  return { ...process.env };
}
