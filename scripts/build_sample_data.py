"""Build the bundled sample data for consolidation_assets.

What this is
------------
Hand-written, synthetic memories of the kind AI coding agents record while they work
(errors and their fixes, discoveries, decisions, lessons, warnings and facts about a
codebase) for three imaginary projects:

* ``web-backend``: a Python/FastAPI service on PostgreSQL, Redis and Celery;
* ``data-pipeline``: an Airflow/dbt/Spark pipeline over S3 and Snowflake;
* ``mobile-app``: a React Native app shipped to iOS and Android.

Every text below was written for this project; it is original and contains no
third-party content (no dataset, web page or issue tracker was copied). The companies,
tables, hosts, tickets and people it mentions are invented.

The data is shaped like what real agents produce, so every consolidation phase has
work to do: recurring topics grouped under broader themes, exact duplicates, trivial
near-duplicates, look-alike pairs that must not be merged (a different port, version,
path, error code, identifier or a negation), one-off noise, and failed attempts before
the fix that worked.

Outputs
-------
* ``consolidation_assets/sample_data/{web-backend,data-pipeline,mobile-app}.jsonl``:
  one memory per line.
* ``tests/data/sample_answer_key.json``: the ground truth (topic and theme of every
  memory, noise, exact and near duplicate groups, must-not-merge pairs).

Regenerate
----------
    python scripts/build_sample_data.py

The output depends only on this file: a fixed random seed and fixed dates, no clock,
no network, standard library only. Running it twice produces the same bytes.
"""

from __future__ import annotations

import ast
import difflib
import json
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "consolidation_assets" / "sample_data"
ANSWER_KEY = ROOT / "tests" / "data" / "sample_answer_key.json"
SEED = 20260903
DAYS = 42

EF = "error_fix"
DI = "discovery"
DE = "decision"
LE = "learning"
WA = "warning"
CK = "codebase_knowledge"
MEMORY_TYPES = (EF, DI, DE, LE, WA, CK)

_UNSET = object()


@dataclass
class Item:
    """One hand-written memory, or a reference to an earlier one (duplicate, trap)."""

    content: str | None = None
    mtype: str | None = None
    key: str | None = None
    ok: object = _UNSET
    goal: str | None = None
    result: str | None = None
    feedback: str | None = None
    chain: bool = False
    trap: str | None = None
    dup_of: str | None = None
    near_of: str | None = None
    trap_of: str | None = None
    edits: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()


@dataclass
class Topic:
    slug: str
    theme: str
    tags: tuple[str, ...]
    goals: tuple[str, ...]
    items: list[Item]
    window: tuple[float, float] = (0.0, 1.0)


@dataclass
class Project:
    pid: str
    prefix: str
    start: datetime
    task_base: int
    agents: dict[str, tuple[str, ...]]
    feedback_ok: tuple[str, ...]
    feedback_fail: tuple[str, ...]
    feedback_other: tuple[str, ...]
    block: str


@dataclass
class Rec:
    item: Item
    topic: Topic | None
    content: str
    mtype: str
    success: bool | None
    kind: str = "orig"
    src: Rec | None = None
    rid: str = ""
    when: datetime | None = None
    out: dict = field(default_factory=dict)


def _apply(text: str, edits: tuple[tuple[str, str], ...]) -> str:
    for old, new in edits:
        if old == "^":
            text = new + text
        elif old == "$":
            text = text + new
        else:
            if old not in text:
                raise ValueError(f"edit {old!r} not found in {text!r}")
            text = text.replace(old, new, 1)
    return text


TYPE_CODES = {"ef": EF, "di": DI, "de": DE, "le": LE, "wa": WA, "ck": CK}


def _parse_edits(text: str) -> tuple[tuple[str, str], ...]:
    edits = ast.literal_eval(f"[{text}]")
    if not edits or not all(isinstance(e, tuple) and len(e) == 2 for e in edits):
        raise ValueError(f"bad edits: {text!r}")
    return tuple(edits)


def parse_block(block: str) -> tuple[list[Topic], list[Item]]:
    """Parse the small text format the memories are written in.

    ``## topic SLUG THEME [window=A-B]`` starts a topic, followed by ``tags:`` and
    ``goal:`` lines; ``## noise`` starts the one-off memories. ``* TYPE [flags]: text``
    is a memory (flags: ``key=K``, ``fail``, ``ok``, ``chain``, ``trap=LABEL``);
    ``* dup K`` repeats K verbatim; ``* near K: ("old", "new"), ...`` repeats K with a
    trivial edit; ``* trapof K [TYPE]: ("old", "new"), ...`` repeats K with a detail
    changed. ``> goal:``, ``> result:``, ``> feedback:`` and ``> tags:`` lines belong
    to the memory above. An indented line continues the previous line.
    """
    lines: list[str] = []
    for raw in block.strip("\n").splitlines():
        if raw.startswith("  ") and lines:
            lines[-1] += " " + raw.strip()
        elif raw.strip():
            lines.append(raw.rstrip())
    topics: list[Topic] = []
    noise: list[Item] = []
    target: list[Item] | None = None
    current: Topic | None = None
    last: Item | None = None
    for line in lines:
        if line.startswith("## topic "):
            parts = line.split()
            window = (0.0, 1.0)
            for extra in parts[4:]:
                lo, hi = extra.removeprefix("window=").split("-")
                window = (float(lo), float(hi))
            current = Topic(parts[2], parts[3], (), (), [], window)
            topics.append(current)
            target, last = current.items, None
        elif line == "## noise":
            current, target, last = None, noise, None
        elif line.startswith("tags: ") and current is not None and last is None:
            current.tags = tuple(t.strip() for t in line[6:].split(","))
        elif line.startswith("goal: ") and current is not None and last is None:
            current.goals += (line[6:].strip(),)
        elif line.startswith("> "):
            name, _, value = line[2:].partition(": ")
            assert last is not None and name in {"goal", "result", "feedback", "tags"}, line
            if name == "tags":
                last.tags = tuple(t.strip() for t in value.split(","))
            else:
                setattr(last, name, value.strip())
        elif line.startswith("* "):
            assert target is not None, line
            head, sep, text = line[2:].partition(": ")
            words = head.split()
            kind = words[0]
            if kind == "dup":
                last = Item(dup_of=words[1], chain="chain" in words[2:])
            elif kind == "near":
                last = Item(near_of=words[1], edits=_parse_edits(text))
            elif kind == "trapof":
                mtype = TYPE_CODES[words[2]] if len(words) > 2 else None
                last = Item(trap_of=words[1], mtype=mtype, edits=_parse_edits(text))
            else:
                assert sep, line
                last = Item(content=text.strip(), mtype=TYPE_CODES[kind])
                for flag in words[1:]:
                    if flag == "fail":
                        last.ok = False
                    elif flag == "ok":
                        last.ok = True
                    elif flag == "chain":
                        last.chain = True
                    elif flag.startswith("key="):
                        last.key = flag[4:]
                    elif flag.startswith("trap="):
                        last.trap = flag[5:]
                    else:
                        raise ValueError(f"unknown flag {flag!r} in {line!r}")
            target.append(last)
        else:
            raise ValueError(f"cannot parse line: {line!r}")
    return topics, noise


# ---------------------------------------------------------------------------
# The memories, one block per project, in the format described in parse_block().
# Items of a topic are listed in the order they happened; dates are assigned later.
# ---------------------------------------------------------------------------

WEB_BACKEND = r"""
## topic db-connection-pool-exhaustion database
tags: postgres, sqlalchemy, connection-pool, load-test
goal: Investigate 500s during the Locust load test
goal: Stabilise /api/v1/orders under peak traffic
goal: Fix intermittent TimeoutError in checkout
* di: Locust run at 200 users started returning 500s after ~90s. API logs:
  `sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed
  out, timeout 30.00`. Pool is exhausted; root cause not found yet.
> feedback: locust: 1,842 failures / 31,004 requests (5.9%)
* di: pg_stat_activity during the load test: 58 of 60 API connections sit in 'idle in transaction',
  all with the same last query (SELECT ... FROM carts WHERE user_id = $1).
* ef fail: Bumped pool_size from 5 to 20 in app/db/session.py hoping to clear the QueuePool
  timeouts; the load test still fails, just ~2 minutes later. Not the fix.
> result: no improvement, reverted
* ef key=pool_fix chain: Root cause of the QueuePool exhaustion: get_db() in app/api/deps.py opened
  an AsyncSession but never closed it when the handler raised. Turned it into a `yield` dependency
  with try/finally and `await session.close()`; the 200-user Locust run now holds steady at ~12
  connections.
> feedback: locust: 0 failures / 48,210 requests, p95 180 ms
> result: fixed; PR #412 merged
* ck key=pool_ck: Engine config lives in app/db/session.py:
  create_async_engine(settings.DATABASE_URL, pool_size=10, max_overflow=5, pool_timeout=10,
  pool_pre_ping=True). Each uvicorn worker has its own pool, so one pod with 4 workers can open up
  to 60 connections.
* ef: pool exhausted again on staging - the /exports/orders.csv endpoint held its session open
  while streaming a 40MB response. moved the query into a short-lived session, stream from the
  materialised rows, connections released right away
* wa: Before raising pool_size anywhere, check RDS max_connections (170 on db.r6g.large) against
  pods x workers x (pool_size + max_overflow). HPA max of 8 pods would already overshoot it.
* dup pool_fix
* le: Every pool exhaustion we have hit here was a leak (session not closed, or held across an
  await on a slow external HTTP call), never an undersized pool; look at pg_stat_activity for 'idle
  in transaction' before touching pool settings.
> result: added to team notes
* near pool_ck: ("Engine config lives in", "The engine config lives in")

## topic alembic-migration-lock-timeout database
tags: alembic, migrations, postgres, locks
goal: Ship the orders.status_reason migration
goal: Unblock the release pipeline stuck on migrations
goal: Add an index for customer lookups
* di: `alembic upgrade head` in the deploy job hung for 10 minutes on revision 7c1e2a3b (ALTER
  TABLE orders ADD COLUMN status_reason). pg_locks shows it waiting for an AccessExclusiveLock
  behind a 25-minute analytics query, and every API query on orders queued up behind it.
* ef fail: Retried the orders migration at 03:00 with low traffic; still blocked. Killing the
  analytics backend with pg_terminate_backend let it through, but that's not something we can do on
  every release.
* ef key=alembic_fix chain: Hanging migrations fixed by running `SET lock_timeout = '5s'` in
  alembic/env.py inside run_migrations_online(); a blocked ALTER now fails fast and the deploy job
  retries it (3 attempts, 30s apart) instead of stalling all orders traffic behind the lock.
> feedback: deploy-staging: migrate step passed on attempt 2
* le: CREATE INDEX on orders(customer_id) inside the normal Alembic transaction blocked writes for
  40s on staging. Use op.create_index(..., postgresql_concurrently=True) inside `with
  op.get_context().autocommit_block():` - CONCURRENTLY can't run in a transaction.
* de: Large-table migrations (orders has ~38M rows): never add a column with a volatile default and
  backfill it in the same revision. Split into add nullable column; batch backfill in a separate
  revision; then SET NOT NULL with a NOT VALID check constraint validated afterwards.
> result: written up in docs/adr/0007-online-migrations.md
* ck trap=mig-timeout: alembic/env.py sets lock_timeout to 5s for every migration: blocked DDL
  should fail fast and be retried by the deploy job.
* near alembic_fix: ("Hanging migrations fixed", "Hanging migrations were fixed")
* ef: Deploy job failed with `psycopg.errors.LockNotAvailable: canceling statement due to lock
  timeout` on revision e91f04aa. That's the 5s lock_timeout doing its job; the second attempt went
  through once the vacuum on orders finished.
> result: resolved on retry
* wa trap=mig-timeout: alembic/env.py sets statement_timeout to 0 for every migration: long data
  backfills should run to completion and not be cancelled.

## topic n-plus-one-queries database
tags: sqlalchemy, performance, orm, n+1
goal: Speed up GET /api/v1/orders
goal: Reduce DB load from list endpoints
goal: Profile the slow admin pages
* di: GET /api/v1/orders?limit=50 issued 151 SQL statements - 1 for orders, then one per order for
  line_items and one per order for customer. N+1 from the default lazy='select' relationships in
  app/models/order.py.
> feedback: sqlalchemy echo: 151 statements for one request
* ef fail: Tried joinedload(Order.line_items) on the list query; the join multiplies rows (50
  orders x ~30 items) and with LIMIT applied to the joined result the page came back with 4 orders.
  Wrong approach for a collection.
> feedback: pytest tests/api/test_orders.py::test_list_pagination FAILED - assert 4 == 50
* ef key=n1_fix chain: Orders list: added `.options(selectinload(Order.line_items),
  joinedload(Order.customer))` in app/repositories/orders.py. 50-row page now runs 3 queries
  instead of 151; p95 dropped from 820ms to 95ms.
> result: fixed
* le: With the async session, touching a lazy relationship outside the query raises
  `sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called`. The MissingGreenlet on the
  invoices list was an N+1 in disguise - eager-load instead of accessing invoice.items lazily.
* ck trap=load-strategy: List endpoints: eager-load Order.line_items with selectinload
  (one-to-many; a join would multiply rows).
* ck trap=load-strategy: List endpoints: eager-load Order.customer with joinedload (many-to-one; a
  join adds no rows).
* ef: N+1 again, this time /admin/customers: the response model serialises customer.addresses for
  every row => 1 + 100 queries. Added selectinload(Customer.addresses) and set lazy="raise" on that
  relationship so it can't creep back silently.
* dup n1_fix
* de key=n1_rule: Relationships on Order, Customer and Invoice are now declared with lazy="raise";
  any endpoint that needs related rows must eager-load them explicitly, and tests fail loudly when
  one forgets.
> result: applied to app/models/
* ck: tests/utils/query_counter.py provides `count_queries()` (a before_cursor_execute listener);
  wrap list-endpoint calls in it and assert an upper bound to catch N+1 regressions in CI.
* near n1_rule: ("tests fail loudly", "the tests fail loudly")

## topic missing-foreign-key-index database
tags: postgres, indexes, performance
goal: Find out why deleting a customer takes 14 seconds
goal: Work through the slow-query alerts from pg_stat_statements
* di: DELETE /api/v1/customers/{id} took 14s. EXPLAIN (ANALYZE) shows the ON DELETE CASCADE into
  order_items doing a Seq Scan on 61M rows - order_items.order_id has no index. Postgres never
  indexes the referencing side of a FK automatically.
* ef trap=fk-rev: Added ix_order_items_order_id with a CONCURRENTLY migration (revision 4b7d9e21);
  customer delete now takes 120ms.
> feedback: EXPLAIN: Index Scan using ix_order_items_order_id
* di: Catalog query (pg_constraint joined to pg_index on conkey) to list FK columns without a
  leading index: payments.order_id, refunds.payment_id, audit_log.user_id. Tickets filed for each.
* di: pg_stat_statements top offender was `SELECT ... FROM refunds WHERE payment_id = $1`, mean
  210ms, 40k calls/day - another unindexed FK. Index added concurrently; mean is now 0.4ms.
* ef trap=fk-rev: Added ix_payments_order_id with a CONCURRENTLY migration (revision 4b7d9e12);
  refund lookup now takes 40ms.
* de key=fk_rule: Every new ForeignKey column gets `index=True` on the model (or an explicit Index
  in the migration). The reviewer checklist in CONTRIBUTING.md says so now.
* wa: Alembic autogenerate does NOT add an index for a FK column unless index=True is on the
  Column; review generated revisions for that before merging.
* near fk_rule: ("says so now", "now says so")
* le: A missing FK index usually shows up first on deletes/cascades and on the reverse lookup
  (child by parent id), not on the forward join. Check both when a new relationship is added.

## topic pgbouncer-prepared-statements database
tags: pgbouncer, asyncpg, postgres
goal: Route API traffic through PgBouncer
goal: Fix DuplicatePreparedStatementError in production
* di: After switching DATABASE_URL to PgBouncer (pool_mode = transaction) the API throws
  `asyncpg.exceptions.DuplicatePreparedStatementError: prepared statement "__asyncpg_stmt_a__"
  already exists` under concurrency. asyncpg caches prepared statements per connection, but
  PgBouncer hands out a different server connection per transaction.
* ef fail: adding `?prepared_statement_cache_size=0` to the SQLAlchemy URL did not stop
  DuplicatePreparedStatementError; asyncpg's own statement cache is still enabled
> feedback: soak test: 212 errors in 10 min
* ef key=pgb_fix chain: PgBouncer + asyncpg fix: connect_args={"statement_cache_size": 0,
  "prepared_statement_name_func": lambda: f"__asyncpg_{uuid4()}__"} on create_async_engine in
  app/db/session.py; zero errors over a 30-minute soak test.
> result: fixed, deployed to staging
* le trap=pgb-version: With PgBouncer 1.20 in transaction mode, asyncpg prepared statements break;
  set statement_cache_size=0 in connect_args.
* ck: PgBouncer config: deploy/pgbouncer/pgbouncer.ini (pool_mode = transaction, default_pool_size
  = 40). The API connects through it on port 6432; Alembic migrations connect straight to Postgres.
* wa: Don't run Alembic through PgBouncer in transaction mode: advisory locks and `SET
  lock_timeout` are session state and are lost between statements, so migrations can run
  concurrently from two pods.
* le trap=pgb-version: With PgBouncer 1.21 in transaction mode, asyncpg prepared statements work;
  set max_prepared_statements=100 in pgbouncer.ini.
* dup pgb_fix

## topic cache-stampede caching
tags: redis, caching, performance
goal: Investigate the hourly DB CPU spikes
goal: Smooth database load after cache expiry
* di key=stampede_di: DB CPU jumps to 95% at the top of every hour. All catalog cache keys are
  written with TTL=3600 during the warm-up after deploy, so they expire together and ~300 in-flight
  requests recompute the same catalog query at once.
* ef fail: Added random jitter (TTL 3600 +/- 10%) in set_json() in app/cache/redis_cache.py; the
  hourly spike flattened out but a single hot key that misses still gets hammered by every
  concurrent request.
> result: partial improvement only
* ef key=stampede_fix: Stampede protection in place: a miss on a catalog:* key now takes a Redis
  lock (`SET lock:{key} 1 NX PX 5000`), only the lock holder recomputes, the others poll the key
  for up to 2s and then fall back to the DB. No more spikes in Grafana.
> feedback: grafana: db cpu max 41% over 24h
* near stampede_di: ("at once.", "at the same time.")
* le: Cache stampede on /api/v1/products/popular right after the Redis failover (every key gone at
  once); the single-flight lock in get_or_set absorbed it. A failover behaves exactly like a mass
  expiry - worth remembering.
* de: Hot keys get probabilistic early refresh (XFetch style) rather than longer TTLs; get_or_set
  takes beta= for it. Decided on beta=1.0 for catalog keys, off for everything else.
* wa: Don't warm the whole catalog cache from a deploy hook with one fixed TTL: it synchronises
  expiry across every key and recreates the top-of-hour stampede.
* ck: app/cache/redis_cache.py::get_or_set(key, ttl, loader) is the only sanctioned read-through
  helper - it handles jitter and the NX lock; endpoints should not call redis.get/redis.set
  directly.

## topic stale-cache-after-update caching
tags: redis, cache-invalidation, products
goal: Fix stale prices after admin edits
goal: Investigate the support ticket about old product names
* di: Support ticket: a price still showed the old value 10 minutes after an admin update.
  ProductService.update deletes `product:{id}`, but the read path caches under
  `v2:product:{id}:{locale}`; nothing was ever evicted.
* ef key=stale_fix: ProductService.update now deletes the per-locale keys through the same builder
  the read path uses (cache_keys.product(id, locale)) for every enabled locale. Can no longer
  reproduce stale prices.
> feedback: pytest tests/services/test_product_cache.py: 6 passed
* ck key=keys_ck: Cache key formats are defined only in app/cache/keys.py, and every key is
  prefixed with CACHE_VERSION (currently "v2"). Bumping CACHE_VERSION is the cheap way to
  invalidate everything after a schema change.
* ef: Invalidation ran before the DB transaction committed, so a concurrent reader re-cached the
  old row in between. Moved the cache deletes to an after_commit session event; race gone in the
  concurrency test.
* wa: SCAN + DEL over `v2:product:*` took 9s on prod Redis and blocked other clients; never do
  pattern deletes on a request path - track the exact keys or bump the version.
* dup keys_ck
* le key=stale_rule: invalidate on write; after commit; with the same key builder the reader uses.
  Every stale-cache bug so far broke one of those three.
* near stale_rule: ("invalidate on write;", "Invalidate on write;")

## topic redis-keys-without-ttl caching
tags: redis, memory, ops
goal: Respond to the Redis memory alert
goal: Audit Redis memory usage
* di: Redis alert: used_memory at 97% of maxmemory (2gb). `redis-cli --bigkeys` plus a TTL sample
  shows ~1.1M `session:*` keys with TTL -1; the login path writes them with SET and no EX.
* ef fail: writes failing with `OOM command not allowed when used memory > 'maxmemory'`; the
  instance runs maxmemory-policy noeviction so it refuses writes instead of evicting. Tried `CONFIG
  SET maxmemory 3gb` as a stopgap; filled up again within the day
* ef: Session keys now written with `redis.set(key, payload, ex=settings.SESSION_TTL_SECONDS)` in
  app/auth/sessions.py, and scripts/expire_orphan_sessions.py put a 7-day TTL on the existing ones.
  Memory back down to 41%.
> result: fixed
* de key=split_dec: Split Redis in two: the cache instance gets maxmemory-policy allkeys-lru, the
  Celery broker moves to its own instance with noeviction. Evicting keys on a broker instance means
  losing tasks.
> result: agreed in #backend, infra ticket OPS-311
* near split_dec: ("means losing tasks.", "means losing tasks!")
* ck: Every Redis write in this repo must carry a TTL; scripts/check_redis_ttl.sh (run in CI lint
  job) greps for `.set(` calls without ex=/px= and fails the build.
* ck trap=broker-env: Staging Celery broker URL is redis://redis-broker.staging:6379/1; the cache
  uses db 0 on a different host.
* ck trap=broker-env: Production Celery broker URL is redis://redis-broker.prod:6379/1; the cache
  uses db 0 on a different host.

## topic cache-serialization-format caching
tags: redis, serialization, pydantic
goal: Fix cache deserialization errors after deploy
* di: After the deploy that added Product.tax_class, cached values unpickled into objects without
  that attribute -> AttributeError on /products for ~1h until the keys expired.
* de key=ser_dec: Cache payloads are JSON (orjson of model_dump(mode="json")), never pickle. Pickle
  ties the cached bytes to the class layout and is unsafe if anything else can write to Redis.
> result: decision recorded in docs/adr/0009-cache-format.md
* ef: orjson can't serialise Decimal by default: `TypeError: Type is not JSON serializable:
  decimal.Decimal` when caching prices. Fixed by dumping with model_dump(mode="json") so Decimals
  become strings first.
* le: Reading cached JSON back: Product.model_validate_json(raw) is about 2x faster than json.loads
  followed by Product(**data), and parses datetimes and Decimals the same way the API does.
* wa: CACHE_VERSION in app/cache/keys.py has to be bumped whenever a cached Pydantic model changes
  shape. Old JSON fails validation, get_or_set treats it as a miss, but it logs a warning on every
  request until the key expires.
* near ser_dec: ("never pickle.", "never pickled.")

## topic celery-duplicate-task-execution async-tasks
tags: celery, idempotency, redis-broker
goal: Investigate duplicate order confirmation emails
goal: Fix the double charge reported by finance
* di: Customers got two order confirmation emails. Worker logs show send_order_confirmation
  received twice, ~1h apart, with the same task id: the Redis broker's visibility_timeout (default
  3600s) redelivered it because the task had an ETA further out than that.
* ef fail: Raised broker_transport_options={"visibility_timeout": 43200} in
  app/worker/celery_app.py. Fewer duplicates, but a worker restart mid-task still re-runs it with
  acks_late=True. A timeout won't fix this; the task needs to be idempotent.
* ef key=idem_fix chain: send_order_confirmation is idempotent now: it does `SET
  email_sent:{order_id} 1 NX EX 86400` before sending and returns early if the key already existed.
  No duplicate emails in 5 days of logs.
> result: fixed
* de trap=acks-late: Celery: enable acks_late on charge_invoice; if a worker dies mid-task the
  charge is re-queued, and the Stripe idempotency key makes that safe.
* le: Every Celery task that calls Stripe passes idempotency_key=f"{task.name}:{order_id}", so
  retries and broker redeliveries are harmless on Stripe's side.
* de trap=acks-late: Celery: do not enable acks_late on send_receipt_email; if a worker dies
  mid-task the email is re-queued, and the customer gets it twice.
* dup idem_fix
* di: Stripe dashboard shows 3 charge attempts rejected as idempotent replays for the same invoice
  last week - retries of charge_invoice are real, and the idempotency key is what saved us.
* le key=atleastonce: Assume at-least-once delivery for every task here: Redis broker + acks_late +
  autoretry_for means any task can run 2-3 times, so write tasks so that a rerun is a no-op.
* near atleastonce: ("means any task", "means that any task")

## topic celery-worker-memory-growth async-tasks
tags: celery, memory, workers, kubernetes
goal: Investigate OOMKilled celery workers
goal: Stabilise report generation workers
* di: celery-worker pods are OOMKilled roughly every 6 hours; RSS climbs steadily while processing
  generate_sales_report and is never released between tasks (pandas DataFrames, lxml).
* ef fail: gc.collect() at the end of generate_sales_report made no difference to RSS growth ->
  heap fragmentation, not uncollected objects.
* ef chain: Set worker_max_tasks_per_child=50 and worker_max_memory_per_child=400000 (KiB) in
  app/worker/celery_app.py; child processes get recycled well before the pod limit. No OOMKills in
  4 days.
> feedback: kubectl get events: 0 OOMKilled since rollout
* ck: The reports queue has its own worker Deployment (deploy/helm/worker-reports) running
  --concurrency=2 with a 1.5Gi limit; the default queue runs --concurrency=8 with 512Mi.
* wa key=mem_wa: worker_max_memory_per_child is only checked after a task finishes, so one huge
  report can still blow past the pod limit mid-task; chunk the report instead of loading 2M rows at
  once.
* near mem_wa: ("2M rows at once.", "2M rows in one go.")
* ef: generate_sales_report now streams rows with yield_per(5000) and writes the CSV incrementally
  to S3 multipart upload; peak RSS 1.3GB -> 220MB.

## topic celery-beat-duplicates async-tasks
tags: celery-beat, kubernetes, scheduling
goal: Investigate duplicate nightly digest emails
goal: Review periodic task setup
* di: Nightly digest went out twice last night. Two celery-beat pods coexisted for ~40 minutes
  during the rolling update and each one fired the 02:00 schedule.
* ef key=beat_fix: Beat Deployment changed to replicas: 1 with strategy: Recreate so two beat pods
  can never overlap during a rollout; beat has to be a singleton.
> feedback: helm diff reviewed; deployed to prod
* ck key=beat_ck: Beat schedule is in app/worker/beat_schedule.py (imported into
  celery_app.conf.beat_schedule). Times are UTC: timezone="UTC" and enable_utc=True.
* dup beat_ck
* wa: `kubectl rollout restart deploy/celery-beat` in an environment that still has the
  RollingUpdate strategy briefly runs two schedulers; check the strategy before restarting beat
  anywhere.
* le: Even with a single beat, periodic tasks should guard against double runs (a Redis lock keyed
  by schedule name + date), because a beat restart right at the minute can fire the same entry
  again.

## topic celery-task-serialization async-tasks
tags: celery, serialization, kombu
goal: Move invoice generation to a background task
goal: Add reminder scheduling for abandoned carts
* ef key=tser_fix: `kombu.exceptions.EncodeError: Object of type Order is not JSON serializable`
  from generate_invoice.delay(order). Celery uses the json serializer here; pass order.id and
  reload the order inside the task.
* de: Task arguments are primitive ids and small dicts only - passing ORM objects is wrong anyway,
  since the task may run after the row has changed.
* ef: EncodeError again, this time a Decimal amount inside the kwargs of apply_discount; pass
  str(amount) and convert back with Decimal() inside the task.
* near tser_fix: ("pass order.id and reload", "pass order.id, reload")
* wa: Don't switch task_serializer to pickle to make EncodeError go away: workers would then
  unpickle whatever lands in the broker.
* le: A task that receives a model id must handle the row being gone: generate_invoice crashed with
  NoResultFound on an order cancelled and purged in the meantime. It now logs and returns.
* ck: tests/worker/test_task_signatures.py builds every registered task's signature with example
  args and round-trips it through kombu's json dumps, so a non-serialisable argument fails in CI
  rather than in prod.

## topic test-db-isolation testing
tags: pytest, fixtures, postgres
goal: Fix order-dependent test failures
goal: Make the suite pass with random ordering
* di: tests/api/test_customers.py passes on its own but fails in the full run: test_list_customers
  sees 7 rows instead of 3. Earlier tests commit data and nothing cleans it up.
> feedback: pytest --randomly-seed=1234: 1 failed, 485 passed
* ef fail: Tried a teardown fixture that TRUNCATEs every table; isolation fixed, but the suite went
  from 70s to 6 minutes. Reverted.
* ef key=iso_fix chain: `db_session` fixture in tests/conftest.py now opens a connection, begins an
  outer transaction, binds the session with join_transaction_mode="create_savepoint" and rolls
  everything back at teardown. Tests are isolated and the run is back to 72s.
> feedback: pytest -n 0: 486 passed in 72.4s
* wa: App code calling session.commit() works fine under the savepoint fixture, but anything that
  builds its own engine/session (the Celery tasks) escapes it and writes for real; override
  get_sessionmaker in tests.
* ck: pytest-randomly is enabled in pyproject precisely to surface test-order leaks. A failure that
  only shows up with one -p randomly seed is almost always shared DB state.
* dup iso_fix
* le key=iso_rule: The leaked rows came from a module-scoped fixture that created customers through
  the API client outside db_session. Fixtures that write data must be function-scoped and go
  through db_session.
* near iso_rule: ("must be function-scoped", "should be function-scoped")

## topic frozen-time-in-tests testing
tags: pytest, time, flaky-tests
goal: Fix the flaky nightly CI failures
* di: test_subscription_renews_today failed in the 00:05 UTC nightly run: the fixture builds dates
  with date.today() (container local time) while the service uses datetime.now(UTC), so they differ
  by a day around midnight.
* ef key=time_fix: wrapped the subscription tests in time_machine.travel("2026-09-15 12:00Z",
  tick=False); no more midnight flakes
* le: freezegun/time-machine don't touch the database clock - SQL `now()` still returns real time.
  Tests that compare DB-side now() against frozen Python time must pass the timestamp in
  explicitly.
* de: Standardise on time-machine instead of freezegun: faster (C extension) and it plays well with
  pydantic datetime parsing in our tests. freezegun removed from the dev dependencies.
> result: applied; 23 tests migrated
* ck: App code gets the time from app/core/clock.py (utcnow()); tests patch that or use
  time-machine. Bare datetime.now() is flagged by ruff (DTZ005 enabled).
* near time_fix: ("no more midnight flakes", "no more midnight flakes.")
* ef: Another midnight flake: the token expiry test built `exp` from time.time() and compared it
  with a frozen datetime - real and frozen clocks mixed. Froze both through time_machine.

## topic test-database-port testing
tags: pytest, docker-compose, config
goal: Set up the local test environment
goal: Fix tests wiping local dev data
* ck trap=db-port: Test DB is Postgres on localhost:5433 from docker-compose.test.yml (tmpfs
  volume); pytest reads TEST_DATABASE_URL.
* ef: Ran pytest without TEST_DATABASE_URL and conftest fell back to DATABASE_URL - the schema drop
  wiped my local dev data. conftest now refuses to run unless the database name ends in _test.
> result: guard added in tests/conftest.py
* ck trap=db-port: Dev DB is Postgres on localhost:5432 from docker-compose.yml (named volume);
  uvicorn reads DATABASE_URL.
* wa: Plain `pytest` does not start the test compose stack; without it the tests hang ~30s and fail
  with `ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 5433)`. Use `make
  test`.
* ck key=maketest: `make test` = docker compose -f docker-compose.test.yml up -d --wait && pytest
  -n auto. CI uses a service container with the same credentials.
* wa: In GitHub Actions the Postgres service maps 5433:5432; if a job is switched to the container
  network and the service hostname, the port there is 5432, not 5433.
* dup maketest

## topic asgi-lifespan-in-tests testing
tags: pytest, httpx, fastapi, asyncio
goal: Migrate tests from TestClient to httpx.AsyncClient
* di: After moving tests to httpx.AsyncClient(transport=ASGITransport(app=app)) every request fails
  with `AttributeError: 'State' object has no attribute 'redis'` - the lifespan that creates
  app.state.redis never ran.
* ef key=lifespan_fix: ASGITransport doesn't run lifespan events. Wrapped the app in
  asgi_lifespan.LifespanManager inside the `client` fixture, so startup/shutdown run around each
  test.
* ef: LifespanManager per test made the suite 40% slower (Redis pool and catalog warm-up on every
  test); made the app/lifespan fixture session-scoped with a session-scoped event loop.
> feedback: pytest: 486 passed in 51.0s (was 84.7s)
* le: pytest-asyncio 0.24 needs the loop scope configured (asyncio_default_fixture_loop_scope) for
  session-scoped async fixtures, otherwise you get ScopeMismatch or "attached to a different loop"
  errors.
* near lifespan_fix: ("ASGITransport doesn't run", "ASGITransport does not run")
* ck: The `client` fixture in tests/conftest.py overrides get_db and get_redis via
  app.dependency_overrides; the overrides must be cleared at teardown or they leak into the next
  test module.

## topic xdist-unique-collisions testing
tags: pytest-xdist, factory-boy, flaky-tests
goal: Parallelise the test suite
* di: With `pytest -n 8` we get sporadic `UniqueViolation: duplicate key value violates unique
  constraint "users_email_key"`; factory_boy Sequences restart at 0 in every worker and all workers
  share one test database.
* ef fail: Quick attempt: Faker emails in UserFactory instead of a Sequence; collisions got rarer
  but still hit ~1 run in 20.
> feedback: CI: 1 of 20 reruns failed with UniqueViolation
* ef key=xdist_fix: each xdist worker now gets its own database: conftest creates
  app_test_{worker_id} from a template DB at session start; UniqueViolation gone, no cross-worker
  interference
* le key=tmpl: Template DB trick: run migrations once into app_test_template, then `CREATE DATABASE
  app_test_gw3 TEMPLATE app_test_template` takes ~0.3s per worker instead of 9s of migrations.
* ck: Per-worker DB names come from PYTEST_XDIST_WORKER in tests/conftest.py::_db_name() ("master"
  when not running under xdist).
* dup tmpl

## topic gunicorn-worker-timeout deployment
tags: gunicorn, uvicorn, deploy
goal: Fix pods restarting right after deploy
goal: Investigate WORKER TIMEOUT messages in the logs
* di: Fresh pods log `[CRITICAL] WORKER TIMEOUT (pid:14)` and keep restarting workers; app startup
  loads the product embedding index (~35s) and gunicorn's default --timeout of 30s kills the worker
  first.
* ef: Raised timeout to 120 in deploy/gunicorn.conf.py. Startup is fine now, but this also lets a
  genuinely hung request hold a worker for 2 minutes.
* ef key=gun_fix: Moved the embedding index load into a background task started from the lifespan,
  and /health/ready returns 503 until it is loaded; gunicorn timeout back to 30.
> result: fixed; startup 4s
* le key=gun_lesson: WORKER TIMEOUT with uvicorn workers usually means the event loop is blocked,
  not that a request is slow - the worker can't send its heartbeat. Look for sync calls inside
  async def first.
* wa: Don't use --preload with the uvicorn worker class here: the engine created at import time
  gets shared across the forked workers and connections get corrupted.
* near gun_lesson: ("usually means", "usually just means")

## topic readiness-vs-liveness-probes deployment
tags: kubernetes, probes, health-checks
goal: Investigate cascading pod restarts during the DB failover
goal: Tune probes for the worker deployments
* di: During the ~40s RDS failover every API pod was restarted: the livenessProbe hits /health,
  which runs SELECT 1. A dependency outage made Kubernetes kill perfectly healthy processes.
* ef key=probe_fix: Split health endpoints: /health/live returns 200 if the process is up (no I/O);
  /health/ready checks DB and Redis. livenessProbe -> /health/live, readinessProbe ->
  /health/ready.
> feedback: chaos test (failover): 0 restarts, pods NotReady for 38s
* de key=probe_dec: Liveness probes never check external dependencies; readiness may, with
  timeoutSeconds: 2 and failureThreshold: 3.
* ck key=probe_ck: Probes are defined in deploy/helm/api/templates/deployment.yaml from
  values.probes.*; the worker pods use an exec probe instead of HTTP.
* ef: `celery inspect ping` as the worker liveness probe is a broadcast and timed out under load,
  restarting busy workers. Replaced it with a heartbeat file touched from a worker signal handler
  and checked by `find -mmin -2`.
* dup probe_ck
* di: py-spy dump of an API worker just before it was killed: stuck in a socket read inside
  stripe.Customer.retrieve - the sync Stripe client called from async def, no timeout set.
* le: Slow-starting pods stopped getting killed by liveness during boot once we added a
  startupProbe (failureThreshold: 30, periodSeconds: 5).
* near probe_dec: ("Liveness probes never check", "Liveness probes must never check")

## topic missing-settings-env-var deployment
tags: pydantic-settings, config, helm
goal: Deploy the payments release to staging
goal: Fix CrashLoopBackOff after the release
* ef key=env_fix: Staging pods in CrashLoopBackOff with `ValidationError: 1 validation error for
  Settings STRIPE_WEBHOOK_SECRET Field required`. The setting was added to app/core/config.py but
  never to the ExternalSecret in deploy/helm/api/templates/externalsecret.yaml; added it, pods
  start.
> result: fixed on staging; prod needs the same before release
* di: Diffed the Settings fields against values-prod.yaml: SENDGRID_API_KEY, STRIPE_WEBHOOK_SECRET
  and S3_EXPORT_BUCKET are required but missing there, so the release would crash-loop in prod too.
* de: New CI step `python -m app.core.config --check-env deploy/helm/api/values-*.yaml` fails when
  a required Settings field is missing from any environment's values file.
* ck: All settings live in app/core/config.py (class Settings(BaseSettings)); .env.example must
  list every field because the CI env check reads it as well.
* ef: CrashLoopBackOff again in prod: REDIS_CACHE_URL was renamed to CACHE_REDIS_URL in code while
  values-prod.yaml still had the old name. Renames now keep a fallback via
  validation_alias=AliasChoices(...) for one release.
* near env_fix: ("added it, pods start.", "added it and pods start.")
* wa: Never give a new required setting a default of "" just to get a deploy through: the app boots
  with an empty secret and fails at request time instead of at startup.

## topic nginx-upstream-errors deployment
tags: nginx, ingress, http-errors
goal: Investigate intermittent gateway errors
goal: Fix report download failures
* di trap=gateway: Intermittent HTTP 502 from ingress-nginx on POST /api/v1/checkout; nginx log
  says "upstream prematurely closed connection". uvicorn's keep-alive timeout (5s) is shorter than
  nginx's upstream keepalive_timeout (60s).
* ef key=keepalive_fix: Fixed the 502s: uvicorn --timeout-keep-alive 75 (above nginx's 60s upstream
  keepalive), so nginx never reuses a connection the app has already closed.
> feedback: 0 x 502 in 48h of ingress logs (was ~30/day)
* di trap=gateway: Intermittent HTTP 504 from ingress-nginx on GET /api/v1/reports/export; nginx
  log says "upstream timed out (110: Connection timed out)". The export takes longer than nginx's
  proxy_read_timeout (60s).
* ef fail: Tried the nginx.ingress.kubernetes.io/proxy-read-timeout: "300" annotation on the
  reports ingress; the 504 went away but requests tied up workers for 5 minutes. Reverted.
* de: Report export moved to a Celery task that writes to S3 and returns 202 with a status URL,
  instead of raising proxy-read-timeout to 300s.
> result: agreed with frontend; endpoint /api/v1/reports/export now async
* le key=gw_lesson: 502 vs 504 here: 502 = the connection to the pod was refused or reset (deploys,
  keep-alive mismatch, OOMKill); 504 = the pod accepted but didn't answer within
  proxy_read_timeout. Different causes, different fixes.
* ck key=ingress_ck: Ingress annotations live in deploy/helm/api/templates/ingress.yaml; global
  nginx settings (keepalive, default timeouts) come from the ingress-nginx ConfigMap owned by the
  platform team, not from this repo.
* dup ingress_ck
* near gw_lesson: ("Different causes, different fixes.", "Different causes and different fixes.")

## topic pydantic-v2-migration api window=0.2-0.75
tags: pydantic, fastapi, upgrade
goal: Upgrade to Pydantic v2 and FastAPI 0.110
* ef: Pydantic v2 upgrade: schemas using `class Config: orm_mode = True` warn and no longer read
  ORM attributes; replaced with model_config = ConfigDict(from_attributes=True) across
  app/schemas/.
* di: bump-pydantic dry run: 212 changes across 48 files; it can't rewrite validators that read
  `values` (now info.data via ValidationInfo), those need manual work.
* ef: .dict() / .parse_obj() calls raise PydanticDeprecatedSince20 warnings (errors with -W error
  in CI); bump-pydantic handled ~80%, the dynamic calls in app/services/export.py were fixed by
  hand.
> feedback: CI: pytest -W error::DeprecationWarning passed
* le: v1 `@validator("email", pre=True)` must become `@field_validator("email", mode="before")` and
  be a classmethod; two schemas kept the old signature and the validator silently never ran.
* de: Pydantic v2 serialises Decimal as a string in JSON mode (v1 gave a float). The mobile client
  parses prices as numbers, so OrderOut.total uses a PlainSerializer to float until the client is
  updated.
* ef key=pyd_opt: Optional[X] without a default is required in Pydantic v2, so CustomerUpdate
  started rejecting PATCH bodies without `phone`. Added `= None` defaults to every optional field
  in the update schemas.
* wa: Pydantic v2 no longer coerces int to str: partner webhook payloads with numeric ids now fail
  validation. Use coerce_numbers_to_str=True on the webhook schemas.
* near pyd_opt: ("Added `= None` defaults", "Added explicit `= None` defaults")

## topic blocking-io-in-async-endpoints api
tags: asyncio, fastapi, performance
goal: Find why latency spikes when the geocoder is slow
goal: Reduce login latency under load
* di: Every endpoint stalls whenever /api/v1/addresses/validate is called: it uses requests.get()
  to the geocoding API inside an `async def` handler, blocking the event loop for up to 3s.
* ef key=blk_fix: Replaced requests with a shared httpx.AsyncClient (created in the lifespan,
  timeout=5) in app/clients/geocoder.py; other endpoints no longer stall while the geocoder is
  slow.
* di: Another loop blocker: boto3 is sync, so s3.upload_fileobj in the async avatar upload handler
  blocks the loop for the whole upload (~1.5s for a 4MB image).
* le key=blk_def: If a handler has to call sync libraries, declare it with plain `def` and FastAPI
  runs it in the threadpool; `async def` plus sync I/O is the worst of both.
* di: Enabled asyncio debug locally (PYTHONASYNCIODEBUG=1); it logs "Executing <Task ...> took
  1.203 seconds" for slow callbacks, and that exposed bcrypt hashing in login as another loop
  blocker.
* ef: bcrypt.checkpw in the async login handler took ~250ms per call on the event loop; moved it to
  run_in_threadpool. Login p99 under load 2.1s -> 310ms.
> feedback: locust login scenario: p99 310 ms
* dup blk_def
* near blk_fix: ("no longer stall", "don't stall anymore")

## topic idempotency-keys api
tags: idempotency, api, orders
goal: Stop duplicate orders from client retries
* ck: POST /api/v1/orders accepts an Idempotency-Key header; keys live in the idempotency_keys
  table for 24h together with a hash of the request and the stored response.
* ef: Double-submitted checkout created two orders: the mobile client retried after a timeout
  without sending Idempotency-Key. The server now requires the header on POST /orders (400 if
  missing).
* ck trap=idem-status: Idempotency-Key reused while the original request is still processing ->
  HTTP 409 Conflict from POST /api/v1/orders.
* ef: Race in the idempotency middleware: two concurrent requests with the same key both missed the
  lookup and both created orders. Fixed with INSERT ... ON CONFLICT DO NOTHING on idempotency_keys
  before doing any work.
* ck trap=idem-status: Idempotency-Key reused with a different request body -> HTTP 422
  Unprocessable Entity from POST /api/v1/orders.
* di: idempotency_keys has 9M rows and no cleanup job; the 24h expiry is only enforced when a key
  is read. Needs a nightly DELETE in batches.
* le key=idem_scope: Idempotency keys have to be scoped per user (unique on (user_id, key)); a
  global unique constraint let one customer's key collide with another's.
* near idem_scope: ("have to be scoped", "need to be scoped")

## noise
* ck: Invoice PDFs are rendered by WeasyPrint from templates/invoices/invoice.html; fonts must be
  bundled under static/fonts, otherwise the PDF silently falls back to DejaVu Sans.
> tags: pdf, invoices
* ef: /openapi.json returned 500 because two routers registered the same operation_id "list_items";
  gave APIRouter a generate_unique_id_function so ids are prefixed with the router tag.
> tags: openapi, fastapi
* de: Public ids for new tables are UUIDv7 (uuid6.uuid7()) so they sort by creation time and keep
  B-tree inserts append-only.
> tags: ids, schema
* ef: CSV export opened in Excel showed mojibake for umlauts; prepending a UTF-8 byte order mark to
  the StreamingResponse generator fixed it without breaking other consumers.
> tags: csv, export
> feedback: QA: umlauts render in Excel 365
* di: There is a dormant GraphQL app under app/graphql/ (strawberry) that isn't mounted anywhere;
  main.py only includes the REST routers. Probably safe to delete.
> tags: dead-code
* le: PyJWT raised ImmatureSignatureError for tokens from the auth service because its clock runs
  ~2s ahead of ours; decode with leeway=10.
> tags: auth, jwt
* wa: Sentry traces_sample_rate is 1.0 in values-staging.yaml; do not copy that into prod, the
  quota was gone in a day last time.
> tags: sentry, observability
* ck: `make lint` runs ruff check, ruff format --check and mypy app/ with the strict profile from
  mypy.ini; app/legacy/ is excluded from mypy.
> tags: tooling, lint
* ef: Order emails rendered raw HTML from product descriptions: the Jinja2 Environment in
  app/notifications/render.py had autoescape=False. Switched to select_autoescape(["html", "xml"]).
> tags: security, email, jinja2
* di: GeoIP lookups return None in containers - GeoLite2-City.mmdb is only downloaded at image
  build time when MAXMIND_LICENSE_KEY is set, and the CI build doesn't have it.
> tags: geoip, docker
* de: Rate limiting for /auth/login uses slowapi (5/minute per IP plus 20/hour per account) in the
  app rather than at the ingress, because the per-account limit needs the parsed body.
> tags: rate-limit, auth
* ef: Tax rounding bug: computing with float and rounding at the end gave 1-cent differences
  against the ERP. app/billing/tax.py now uses Decimal with quantize(Decimal("0.01"),
  ROUND_HALF_UP) per line.
> tags: billing, decimal
* le: Babel's format_currency needs the request locale (Accept-Language), not the server default;
  de_DE renders 1.234,56 EUR while en_US gives EUR1,234.56.
> tags: i18n, babel
* ck: Feature flags come from Unleash through app/core/flags.py; the client refreshes every 15s, so
  a toggle can take up to 15s to apply on every pod.
> tags: feature-flags
* wa: The admin bulk import endpoint has no upload size limit; a 300MB file filled the pod's
  ephemeral storage. It needs a limit before it is opened to partners.
> tags: uploads, admin
* ef: Pillow 10 removed Image.ANTIALIAS, thumbnail generation crashed with AttributeError; replaced
  it with Image.Resampling.LANCZOS in app/media/thumbs.py.
> tags: pillow, images, upgrade
* di: Two copies of the country list exist (app/data/countries.json and a hardcoded tuple in
  app/schemas/address.py) and they disagree about Kosovo (XK); validation uses the tuple.
> tags: data, validation
"""

DATA_PIPELINE = r"""
## topic dag-parse-timeout orchestration
tags: airflow, scheduler, dag-parsing
goal: Find out why new DAGs take minutes to show up
goal: Fix DagBag import timeouts
* di: Scheduler logs `AirflowTaskTimeout: DagBag import timeout for
  /opt/airflow/dags/marketing/hubspot_sync.py after 30.0s`. The file calls Variable.get() and
  requests the HubSpot schema API at module level, on every parse loop.
* ef key=parse_fix: hubspot_sync.py: moved the schema request into the task callable, replaced
  top-level Variable.get() with a Jinja template ("{{ var.value.hubspot_portal }}"); parse time 31s
  -> 0.4s
> feedback: airflow dags report: hubspot_sync.py 0.41s
* di: `airflow dags report` shows 6 files over 5s parse time, all in dags/legacy/; each one imports
  pandas and the Snowflake connector at module level.
* ck: `airflow dags report` lists parse time per file; run it in the scheduler pod after adding a
  DAG. Budget here is < 1s per file, dagbag_import_timeout is 30.
* ef fail: Bumped core.dagbag_import_timeout from 30 to 120 to stop the DagBag timeouts in
  finance_dags.py; parse errors gone but scheduling latency for all DAGs went up to ~3 min.
  Reverted.
> result: reverted
* ef chain: Real problem in finance_dags.py: it built 140 DAGs in a loop, each reading a YAML file
  from S3 at parse time. Now the YAML is bundled into the image under dags/config/; parse 44s ->
  2.1s.
* de key=parse_rule: No I/O at DAG module level: no Variable.get, no Connection lookups, no
  boto3/requests calls, no DB queries. Read config from files in the image or template it at
  runtime.
> result: added to dags/README.md
* wa: pandas and the snowflake connector are heavy imports (~1.8s together); import them inside the
  task callable, not at the top of the DAG file, or every parse pays for it.
* dup parse_rule
* le: A DAG that "doesn't appear" in the UI is almost always a parse problem: check `airflow dags
  list-import-errors` before anything else.
* near parse_fix: ("parse time 31s -> 0.4s", "parse time 31s => 0.4s")

## topic catchup-backfill-storm orchestration
tags: airflow, catchup, backfill
goal: Deploy the new clickstream_hourly DAG
goal: Clean up after the accidental backfill
* di: Deploying clickstream_hourly (start_date 2026-01-01, catchup defaulted to True) queued ~5,900
  hourly runs at once; the Celery workers were saturated for 2 hours and the other DAGs starved.
* ef: Paused clickstream_hourly, deleted the ~5,900 queued runs from Browse > DAG Runs (filter
  state=queued), then set catchup=False and max_active_runs=3. Other DAGs recovered within 20
  minutes.
* de key=catchup_dec: catchup_by_default = False in airflow.cfg for the whole deployment. DAGs that
  truly need to reprocess missed intervals must set catchup=True explicitly and also set
  max_active_runs.
> result: airflow.cfg change merged (PR #88)
* de trap=catchup: Do enable catchup on billing_daily: every missed day must be reprocessed for
  finance.
* de trap=catchup: Do not enable catchup on clickstream_hourly: every missed hour is covered by the
  next run's lookback.
* wa: Changing start_date on an existing DAG to an earlier date with catchup on creates runs for
  the whole new range; bump the dag_id or backfill deliberately instead.
* le key=bf_le: Backfills go through `airflow dags backfill -s 2026-08-01 -e 2026-08-14
  --reset-dagruns billing_daily` from a scheduler pod, in chunks of 2 weeks; a single 3-month
  backfill blocked the queue last time.
* near catchup_dec: ("must set catchup=True explicitly", "must set catchup=True explicitly,")
* dup bf_le

## topic sensor-slot-starvation orchestration
tags: airflow, sensors, pools, s3
goal: Investigate tasks stuck in queued state every morning
goal: Reduce worker slots wasted by sensors
* di: Every morning ~06:00 UTC the worker slots are full and transforms sit in `queued`: 24
  S3KeySensor tasks in poke mode (timeout 6h) each hold a worker slot waiting for partner files.
* di: Partner files actually land between 05:10 and 07:40 UTC, but the sensors start at 00:00 and
  poke for up to 6h, so they hold slots for 5+ hours doing nothing useful.
* ef key=sensor_fix: Switched the partner S3KeySensors to mode="reschedule" with poke_interval=300;
  they release the slot between pokes. Morning queue cleared.
> feedback: flower: active slots at 06:00 dropped from 32/32 to 9/32
* ef: Converted the 6 longest-waiting sensors to deferrable=True (triggerer pod already deployed);
  they no longer use a worker slot at all while waiting.
* ck: Sensors are limited by the `sensor_pool` Airflow pool (8 slots), defined in
  deploy/airflow/pools.json and applied by the `airflow pools import` init container.
* wa: mode="reschedule" with a poke_interval under ~60s generates a lot of scheduler churn and
  metadata DB writes; keep it at 5 minutes or use deferrable.
* dup sensor_fix
* le key=sensor_le: Sensor timeout should match the file SLA, not "just in case": a 24h sensor that
  finally fails at 06:00 the next day hides a missing file for a whole day. We use timeout=4h +
  soft_fail=False.
* near sensor_le: (". We use timeout=4h", "; we use timeout=4h")

## topic xcom-large-payloads orchestration
tags: airflow, xcom, metadata-db
goal: Find why the Airflow metadata DB grew to 80 GB
goal: Speed up the Airflow UI
* di: Airflow metadata DB at 80GB; the xcom table is 71GB of it. extract_orders returns a whole
  DataFrame.to_json() (~30MB) per run, and return values are pushed to XCom automatically.
* ef key=xcom_fix: extract_orders now writes parquet to
  s3://acme-dp-tmp/xcom/{run_id}/orders.parquet and returns only the S3 key; downstream tasks read
  from there.
* ef: Cleared historic XCom rows with `airflow db clean --clean-before-timestamp 2026-08-01
  --tables xcom`; DB down to 9GB, UI grid view loads again.
> result: fixed
* de: XCom carries references (S3 keys, table names, row counts), never data. Anything over ~48KB
  fails review.
* wa: Returning a value from a @task pushes it to XCom even if nothing reads it; set
  do_xcom_push=False on operators whose return value is large and unused (e.g. SnowflakeOperator
  query results).
* near xcom_fix: ("downstream tasks read from there.", "downstream tasks read it from there.")
* ck: There is an ObjectStorage-backed custom XCom backend in plugins/xcom_s3_backend.py, but it is
  NOT enabled (xcom_backend unset in airflow.cfg) because it broke the UI rendering of XComs.

## topic data-interval-semantics orchestration
tags: airflow, scheduling, data-interval
goal: Fix the daily orders load picking up the wrong day
goal: Migrate DAGs off execution_date
* di: orders_daily loaded today's partial data instead of yesterday's: the task used
  `datetime.utcnow().date()` instead of the run's data interval. A @daily run that starts at 00:00
  on day D has data_interval_start = D-1.
* ef: orders_daily now filters with "{{ data_interval_start | ds }}" / "{{ data_interval_end | ds
  }}" in the SQL template; reruns of old dates load the right partition.
* le: `execution_date` / `ds` refer to the START of the interval, and the run fires at the END of
  it. Every "off by one day" bug in this repo came from forgetting that.
* ck: dags/common/dates.py has partition_for(context) returning the dt=YYYY-MM-DD partition for the
  run's data interval; use it instead of computing dates in the task.
* ef: Deprecation warnings from Airflow 2.8 for `execution_date` in 31 templates; replaced with
  logical_date / data_interval_start. Template render check in tests/dags/test_templates.py passes.
> feedback: pytest tests/dags: 64 passed
* wa: Never use now()/utcnow() inside a task to decide which data to process - reruns and backfills
  then reprocess the wrong day. Derive everything from the data interval.
* le: For a weekly schedule (0 6 * * 1) the run on Monday 06:00 covers the previous Monday 06:00 to
  this Monday 06:00, not the calendar week; finance_weekly needed a custom timetable for ISO weeks.

## topic dbt-incremental-duplicates dbt
tags: dbt, incremental, snowflake
goal: Fix duplicated orders in fct_orders
goal: Make incremental models safe to rerun
* di: fct_orders has 41,203 duplicated order_id rows; all from days that were rerun. The model is
  materialized='incremental' with no unique_key, so Snowflake just appends on every run.
> feedback: dbt test: unique_fct_orders_order_id FAIL 41203
* ef key=incr_fix: Added unique_key='order_id' and incremental_strategy='merge' to fct_orders; dbt
  run --full-refresh once to clean up; the unique test passes again.
> feedback: dbt build -s fct_orders: PASS=5 WARN=0 ERROR=0
* ck trap=unique-key: fct_orders is incremental with unique_key='order_id' (merge strategy).
* ck trap=unique-key: fct_order_items is incremental with unique_key='order_item_id' (merge
  strategy).
* ef fail: Tried delete+insert on fct_sessions to avoid MERGE cost; still got duplicates because
  the source has two rows per session_id within one batch. Dedup has to happen before the merge.
* ef chain: fct_sessions: dedup inside the model with qualify row_number() over (partition by
  session_id order by loaded_at desc) = 1 before the incremental merge; duplicates gone.
* le key=incr_le: Every incremental model needs both a unique_key AND an is_incremental() filter
  with a lookback (we use 3 days) on loaded_at, otherwise late rows are either missed or
  duplicated.
* dup incr_fix
* near incr_le: ("(we use 3 days)", "(we use 3 days here)")
* wa: MERGE fails with "Duplicate row detected during DML action" when the incoming batch has the
  same unique_key twice; that error means the model's dedup is missing, not that Snowflake is
  wrong.

## topic dbt-schema-change-failures dbt
tags: dbt, schema-evolution, incremental
goal: Fix the nightly dbt run failing after the source change
* ef key=osc_fix: Nightly dbt failed: `The source and target schemas on this incremental model are
  out of sync!` on int_payments after the payments team added `card_network`. Set
  on_schema_change='append_new_columns' on int_payments; reran, green.
* di: The default for incremental models in this project is on_schema_change='fail'
  (dbt_project.yml, models.+on_schema_change); only 4 models override it.
* de: Staging and intermediate models use append_new_columns; marts keep 'fail' so a schema change
  in a mart is a deliberate full refresh and not a silent new column in dashboards.
> result: set in dbt_project.yml
* wa: append_new_columns doesn't backfill the new column for existing rows and doesn't handle type
  changes; payments.amount going NUMBER(10,2) -> NUMBER(12,2) still needed a --full-refresh.
* ef: int_refunds failed the same way after a column was dropped upstream;
  on_schema_change='sync_all_columns' would drop it in the target too, so did a one-off
  --full-refresh instead and left the setting as is.
* dup osc_fix
* le: Run `dbt run -s state:modified+ --full-refresh` in CI when a PR changes an incremental
  model's columns; catching it in CI beats the 03:00 failure page.

## topic dbt-hardcoded-relations dbt
tags: dbt, lineage, ref
goal: Fix dev runs reading production tables
* di: int_customer_ltv selects from ANALYTICS.MARTS.DIM_CUSTOMERS directly instead of
  ref('dim_customers'): dev runs read prod data and the model is missing from the lineage graph.
* ef key=ref_fix: replaced 7 hardcoded ANALYTICS.* table names in models/intermediate/ with
  ref()/source(); `dbt ls -s +int_customer_ltv` now shows the full lineage
* ck: Raw tables are declared as sources in models/staging/*/_sources.yml (database RAW_DB, schema
  per source system); staging models are the only ones allowed to call source().
* de: Added dbt-project-evaluator and a CI check that fails on hard-coded references and on marts
  selecting directly from sources.
> result: merged; 3 existing violations fixed in the same PR
* near ref_fix: ("now shows the full lineage", "now shows the complete lineage")
* wa: generate_schema_name is overridden in macros/generate_schema_name.sql: in dev every model
  goes to DBT_<user>, in prod to the configured schema. A hardcoded schema bypasses that and writes
  to prod from a laptop.

## topic dbt-slim-ci dbt
tags: dbt, ci, state
goal: Cut dbt CI time
* di: dbt CI job takes 48 minutes because it runs `dbt build` on the full project (612 models) for
  every PR, including docs-only changes.
* ef key=slim_fix: CI now downloads the prod manifest.json from s3://acme-dp-artifacts/dbt/prod/
  and runs `dbt build -s state:modified+ --defer --state ./prod-state`; typical PR build 48min ->
  6min.
> feedback: GitHub Actions: dbt-ci 6m12s
* wa key=defer_wa: --defer reads unmodified parents from prod; if the prod manifest is stale
  (nightly upload failed) CI compares against old state and may build far more than needed, or miss
  a change.
* ck: The prod manifest is uploaded by the last task of dbt_nightly (upload_artifacts) to
  s3://acme-dp-artifacts/dbt/prod/manifest.json.
* ef: Slim CI flagged all 612 models as modified right after the dbt 1.7 upgrade: the prod manifest
  was still written by 1.6, so every checksum differed. Re-ran the nightly upload with 1.7 before
  comparing.
* dup slim_fix
* le: For seeds changed in a PR, slim CI needs `--full-refresh` on the seed or the old rows stay in
  the CI schema.

* near defer_wa: ("may build far more than needed", "may build way more than needed")
## topic spark-join-skew spark
tags: spark, skew, performance
goal: Speed up the orders_enrich Spark job
goal: Investigate the 3-hour sessionize stage
* di: orders_enrich stage 14 has 199 tasks finishing in ~40s and one running for 2h: customer_id =
  0 (guest checkouts) holds 31% of the rows and all of them land in one shuffle partition.
* ef fail: Raised spark.sql.shuffle.partitions to 2000 for orders_enrich; the hot partition is
  still one task - it's a single key, more partitions don't split it.
* ef key=skew_fix chain: Salted the guest rows: added salt = rand()*32 on the orders side for
  customer_id = 0, exploded the customer side 32 times for that key, joined on (customer_id, salt).
  Stage time 2h -> 9 min.
> feedback: EMR step orders_enrich: COMPLETED in 21m (was 2h34m)
* di: AQE skew join (spark.sql.adaptive.skewJoin.enabled) was on but never triggered for
  orders_enrich: it is a left outer join with the skewed key on the right side, and AQE can't split
  the right side of a left outer join.
* ck trap=shuffle: sessionize_events runs with spark.sql.shuffle.partitions=2000 (set in
  spark_jobs/conf/sessionize.conf).
* ck trap=shuffle: orders_enrich runs with spark.sql.shuffle.partitions=200 (set in
  spark_jobs/conf/orders_enrich.conf).
* le key=skew_le: Before tuning anything, look at the task duration distribution in the Spark UI
  stage page: if max >> median it's skew, and partitions or memory won't fix it.
* near skew_le: ("Before tuning anything,", "Before tuning anything else,")
* dup skew_fix

## topic spark-small-files spark
tags: spark, s3, parquet, small-files
goal: Fix slow Snowflake loads from curated events
goal: Reduce S3 request costs
* di: s3://acme-dp-curated/events/dt=2026-08-28/ has 48,000 parquet files averaging 180KB; the
  Snowflake COPY spends most of its time listing and opening files.
* ef key=small_fix: events_curate now does `.repartition(64, "event_type")` before write and sets
  maxRecordsPerFile=2000000; ~60 files of ~150MB per day partition.
* wa: coalesce(1) to "fix" small files on the big tables just moves the problem: one task writes
  20GB and the job takes 3x longer. Use repartition to a sensible count instead.
* ef: Ran a compaction job (spark_jobs/compact_partition.py) over the last 90 days of events
  partitions; file count 3.9M -> 5.4k, S3 LIST calls in Cost Explorer down 92%.
> result: fixed
* le: Target parquet file size here is 128-512MB. Compute the repartition count from input size
  (bytes / 256MB) rather than hardcoding it - volume varies 5x between weekdays and Black Friday.
* ck: spark_jobs/common/io.py::write_partitioned(df, path, target_mb=256) estimates output size
  from the input plan and repartitions; newer jobs use it, events_curate still has its own logic.
* near small_fix: ("~60 files of ~150MB per day partition.", "~60 files of ~150MB per daily
  partition.")

## topic spark-executor-oom spark
tags: spark, emr, memory
goal: Stop the nightly Spark job from failing with executor loss
* ef fail: `ExecutorLostFailure ... Container killed by YARN for exceeding memory limits. 12.4 GB
  of 12 GB physical memory used`. Raised spark.executor.memory 10g -> 14g; same error, now at 16.6
  GB of 16 GB.
* ef key=oom_fix chain: The overrun is off-heap (pyarrow in the pandas UDF), so it's memoryOverhead
  that's too small: set spark.executor.memoryOverhead=4g with executor.memory back to 10g. Job
  stable for 5 nights.
> feedback: EMR step: COMPLETED, 0 lost executors
* le: "exceeding memory limits ... physical memory used" from YARN = container total (heap +
  overhead) exceeded; "java.lang.OutOfMemoryError: Java heap space" = heap. Different knobs.
* di: Driver OOM in build_customer_features: `.collect()` on a 9M-row DataFrame to build a dict for
  a broadcast. Replaced with a broadcast join.
* wa: spark.sql.autoBroadcastJoinThreshold is set to 200MB in spark_jobs/conf/defaults.conf; with
  the dim_products table at 180MB and growing, plans will flip to sort-merge join silently one day.
* ck: EMR cluster sizing lives in dags/spark/emr_configs.py (JOB_FLOW_OVERRIDES per job); executor
  settings are passed as --conf in the step definition, not in spark-defaults.
* dup oom_fix
* ef: events_curate executors died with exit code 137 after the traffic bump from the autumn
  campaign; a pandas_udf pulled whole groups into memory. Switched to mapInArrow with 10k-row
  batches.

## topic spark-schema-drift spark
tags: spark, schema, json
goal: Investigate corrupt values in curated events
* di: Curated events have `price` as string for dt=2026-08-27 and double on other days: the job
  reads raw JSON with schema inference, and that day's first file had "price": "19.90".
* ef key=schema_fix: events_curate now reads with an explicit StructType from
  spark_jobs/schemas/events_v3.py and mode=PERMISSIVE with columnNameOfCorruptRecord=_corrupt; bad
  rows go to a quarantine path.
* de: No schema inference in production jobs. Schemas are versioned in spark_jobs/schemas/ and
  changed through PRs; inference is allowed only in notebooks.
* di: Most of the curated read time goes into schema merging: mergeSchema=true makes Spark open the
  footer of every parquet file (4x slower). The explicit schema already covers the union of
  columns.
* le: With PERMISSIVE and an explicit schema, a type mismatch becomes null, not an error. Always
  count _corrupt rows and alert if > 0.1%, or drift goes unnoticed.
* near schema_fix: ("bad rows go to a quarantine path.", "bad rows go to the quarantine path.")

## topic emr-release-upgrade spark window=0.35-1.0
tags: emr, spark, upgrade
goal: Upgrade the EMR release for all Spark jobs
* ck trap=emr: emr-6.15.0 ships Spark 3.4.1; it is the release pinned for orders_enrich and
  sessionize_events.
* ck trap=emr: emr-7.0.0 ships Spark 3.5.0; it is the release pinned for orders_enrich and
  sessionize_events.
* ef: After moving a test cluster to emr-7.0.0, jobs failed on boto3 imports in bootstrap: the
  bootstrap script used python3.7-specific paths; EMR 7 is on Amazon Linux 2023 with Python 3.9.
  Rewrote bootstrap/install_deps.sh.
* wa: EMR 7 runs Java 17 by default; our custom Hive SerDe jar was built for Java 8 and fails with
  UnsupportedClassVersionError. Rebuild or set JAVA_HOME in the configuration classification.
* de key=emr_de: Upgrade jobs to the new EMR release one at a time behind the EMR_RELEASE variable
  in dags/spark/emr_configs.py, comparing row counts and checksums of outputs for 3 days before
  switching the next one.

* near emr_de: ("one at a time", "one by one")
## topic s3-slowdown-throttling storage
tags: s3, throttling, retries
goal: Fix the flaky raw events landing job
* ef fail: land_events failed with `botocore.exceptions.ClientError: An error occurred (SlowDown)
  when calling the PutObject operation: Please reduce your request rate.` Added 3 retries with
  fixed 5s sleep; still fails on busy hours.
* ef key=s3_fix chain: botocore Config(retries={"max_attempts": 10, "mode": "adaptive"}) on the S3
  client in dags/common/s3.py plus writing under hashed prefixes (events/{hash[0:2]}/dt=...) spread
  the load; no SlowDown in 7 days.
* di: SlowDown errors line up with the compaction job and land_events writing to the same prefix
  s3://acme-dp-raw/events/dt=.../ at 02:00; S3 scales per prefix and that prefix was getting ~5,000
  PUT/s.
* le key=s3_le: HTTP 503 SlowDown from S3 is a rate limit per prefix, not an outage: back off with
  jitter, spread keys across prefixes, and give S3 time to scale a new prefix.
* ck: All S3 access from Airflow goes through dags/common/s3.py::client() which sets the adaptive
  retry config; don't create boto3 clients directly in tasks.
* dup s3_fix
* wa: Spark writes to S3 via the EMRFS committer; with speculation on, duplicate task attempts hit
  the same prefix and make throttling worse. spark.speculation stays false for write-heavy jobs.

* near s3_le: ("not an outage:", "not an outage -")
## topic snowflake-warehouse-costs storage
tags: snowflake, cost, warehouses
goal: Investigate the Snowflake bill jump in September
goal: Right-size warehouses
* di: Snowflake credits up 60% month over month. WAREHOUSE_METERING_HISTORY: TRANSFORM_WH ran
  24h/day because auto_suspend was 3600s and a dashboard refreshes every 30 min.
* ef key=wh_fix: ALTER WAREHOUSE TRANSFORM_WH SET AUTO_SUSPEND = 60; moved the dashboard to
  REPORTING_WH. TRANSFORM_WH now runs ~5h/day.
> result: credits/day 310 -> 140
* ck trap=suspend: TRANSFORM_WH has AUTO_SUSPEND = 60 (batch jobs, cold cache is fine).
* ck trap=suspend: REPORTING_WH has AUTO_SUSPEND = 600 (BI dashboards, keep the cache warm).
* de: Warehouses are managed in Terraform (infra/snowflake/warehouses.tf), never with ALTER in the
  console; the console change from last week was reverted by the next apply.
* wa: Scaling TRANSFORM_WH from MEDIUM to LARGE for the nightly run doubles credits per hour; only
  worth it if runtime halves. For fct_sessions it went 52 -> 41 min, so not worth it.
* le: Query tags (ALTER SESSION SET QUERY_TAG in dbt's query-comment config) make cost attribution
  per model possible; without them QUERY_HISTORY only shows the warehouse.
* near wh_fix: ("TRANSFORM_WH now runs ~5h/day.", "TRANSFORM_WH now only runs ~5h/day.")

## topic snowflake-copy-into-errors storage
tags: snowflake, copy-into, loading
goal: Fix the failed raw orders load
goal: Load the partner CSV feed
* ef fail: COPY INTO RAW.ORDERS keeps failing with `Numeric value '1,234.50' is not recognized`;
  tried FIELD_OPTIONALLY_ENCLOSED_BY = '"' on FF_CSV_PIPE in case the amounts were quoted. Same
  error.
* ef key=copy_fix chain: COPY INTO RAW.ORDERS failed: `Numeric value '1,234.50' is not recognized`
  - the partner started sending thousands separators. Added REPLACE(t.$7, ',', '') in the COPY
  transformation for that column; load succeeded.
* ck trap=copy-format: COPY INTO RAW.EVENTS uses file format FF_JSON_GZ with ON_ERROR = 'CONTINUE'.
* ck trap=copy-format: COPY INTO RAW.ORDERS uses file format FF_CSV_PIPE with ON_ERROR =
  'ABORT_STATEMENT'.
* le: Run COPY with VALIDATION_MODE = 'RETURN_ERRORS' on a new partner file before wiring it into
  the DAG; it lists every bad row without loading anything.
* ef: COPY reported "0 files processed" on a rerun: Snowflake's load metadata remembers files for
  64 days and skips them. Used FORCE = TRUE for the reload after truncating the day.
> feedback: COPY INTO: 1 file loaded, 84,210 rows
* wa: Don't set FORCE = TRUE in the DAG permanently; every retry would load the same files again
  and duplicate rows.
* di: The partner CSV has a trailing delimiter on every line, so the header has 23 columns and data
  rows 24; needed ERROR_ON_COLUMN_COUNT_MISMATCH = FALSE in FF_CSV_PIPE.
* dup copy_fix

## topic parquet-timestamp-types storage
tags: parquet, timestamps, snowflake, spark
goal: Fix timestamps showing year 53000 in Snowflake
* di: Timestamps loaded from curated parquet show dates like 53427-01-12 in Snowflake: Spark wrote
  TIMESTAMP as INT64 nanos (via pandas) and the COPY treated them as micros.
* ef key=ts_fix: Set spark.sql.parquet.outputTimestampType=TIMESTAMP_MICROS in
  spark_jobs/conf/defaults.conf and pandas to_parquet(coerce_timestamps="us"); reloaded the
  affected days, dates are correct.
* le: Parquet timestamp precision has to be agreed across writer and reader: we standardise on
  microseconds, UTC, isAdjustedToUTC=true. Nanos break Snowflake, INT96 is deprecated.
* ef: Old partitions written with INT96 timestamps (pre-2025 jobs) still loaded wrong; rewrote
  those partitions once with Spark and outputTimestampType=TIMESTAMP_MICROS instead of
  special-casing the file format.
* near ts_fix: ("dates are correct.", "dates are correct now.")
* ck: The Snowflake file format for curated parquet is FF_PARQUET (USE_LOGICAL_TYPE = TRUE) in
  infra/snowflake/file_formats.sql; without USE_LOGICAL_TYPE timestamps load as raw integers.

## topic oracle-extract-errors storage
tags: oracle, extract, erp
goal: Fix the nightly ERP extract
goal: Speed up the Oracle extraction
* ef trap=ora: ERP extract of GL_JOURNAL_LINES failed after 3h with ORA-01555 (snapshot too old):
  the full-table SELECT outlives undo retention. Chunked it by JE_HEADER_ID.
* ef trap=ora: ERP extract of GL_JOURNAL_LINES failed after 3h with ORA-01652 (unable to extend
  temp segment): the full-table ORDER BY spills to TEMP. Dropped the ORDER BY.
* ck: extractors/oracle_erp.py uses python-oracledb in thin mode, arraysize=50000, and writes
  parquet chunks of 1M rows to s3://acme-dp-raw/erp/{table}/dt=.../.
* ef key=ora_fix: GL_JOURNAL_LINES extract now chunked into 40 ranges by JE_HEADER_ID, run by a
  dynamic task mapping (expand) with max_active_tis_per_dag=4 so the ERP DB isn't overloaded. 3h ->
  50 min, no ORA errors.
* wa key=ora_wa: The ERP DBA asked us to stay under 4 concurrent sessions and out of the
  08:00-18:00 CET window; the extract DAG has a pool erp_pool with 4 slots for this.
* dup ora_fix
* le: LAST_UPDATE_DATE in the ERP is set by application code and some batch programs don't update
  it, so the incremental extract misses rows; a weekly full extract of GL tables reconciles them.
* di: Extract got slower over the month: the incremental predicate on LAST_UPDATE_DATE isn't
  indexed in the ERP; the DBA added an index on GL_JOURNAL_LINES(LAST_UPDATE_DATE).

* near ora_wa: ("asked us to stay", "asked us to please stay")
## topic late-arriving-events data-quality
tags: late-data, events, reprocessing
goal: Reconcile daily event counts with the product team
goal: Handle mobile events that arrive days late
* di: About 3% of mobile events arrive 1-3 days late (offline devices). Daily partitions were
  finalized at 02:00 and never revisited, so daily active users were under-counted.
* di: Lateness distribution from raw (arrival minus event time): p50 2 min, p99 19h, max 9 days. A
  3-day lookback covers 99.7% of events.
* ef key=late_fix: events_curate now reprocesses a 3-day lookback window each run (partitions
  dt-3..dt) with dynamic partition overwrite; late events land in their event-time partition.
* ck trap=s3-path: Raw events land in s3://acme-dp-raw/events/dt=YYYY-MM-DD/ (ingestion date).
* ck trap=s3-path: Curated events are written to s3://acme-dp-curated/events/dt=YYYY-MM-DD/ (event
  date).
* wa: Set spark.sql.sources.partitionOverwriteMode=dynamic before the lookback write; with the
  default (static) the overwrite of dt=2026-08-26 deleted every other partition under events/.
  Restored from S3 versioning.
* le key=late_le: Partition by event time for analytics but keep ingestion time in the raw layer; a
  late-data window only works if you can find late rows by when they arrived.
* de: Daily metrics are marked provisional for 3 days in the dashboards (is_final = dt <
  current_date - 3) instead of being presented as final at 02:00.
> result: agreed with analytics team
* near late_fix: ("each run", "on each run")
* dup late_le

## topic timezone-normalization data-quality
tags: timezones, timestamps, staging
goal: Fix hourly sales showing a spike at midnight
* di: Hourly sales spike at 00:00 and a gap at 05:00-06:00: POS timestamps are local store time
  without an offset, and we cast them as UTC.
* ck trap=tz: pos_transactions.created_at is local America/Chicago time without offset;
  stg_pos__transactions converts it to UTC.
* ck trap=tz: web_events.created_at is UTC time without offset; stg_web__events keeps it as is.
* ef fail: Set TIMEZONE = 'America/Chicago' on the loader session to fix the POS timestamps; it
  shifted the interpretation of every other source loaded in that session too. Reverted.
* ef key=tz_fix chain: stg_pos__transactions now uses convert_timezone('America/Chicago', 'UTC',
  created_at::timestamp_ntz); the midnight spike is gone and hourly totals match the POS reports.
> feedback: dbt test: assert_hourly_sales_match_pos PASS
* de: All timestamps are converted to UTC in the staging layer and stored as TIMESTAMP_NTZ in UTC;
  marts add local-time columns explicitly (created_at_local) where a report needs them.
* di: A third timestamp flavour: the Shopify export sends ISO strings with an offset (+02:00).
  to_timestamp_tz handles those correctly, so no fixed-zone conversion for that source.
* wa: DST: converting local times in the repeated hour on the first Sunday of November is
  ambiguous; Snowflake picks one. For POS data we accept it, for billing data we must not.
* ef: The Snowflake session TIMEZONE for the dbt user was America/Los_Angeles (account default), so
  current_timestamp() comparisons in models were off by 7h; set TIMEZONE = 'UTC' on the TRANSFORMER
  user.
* near tz_fix: ("the midnight spike is gone", "the midnight spike has gone")

## topic duplicate-events-on-ingest data-quality
tags: deduplication, events, kafka
goal: Explain why event counts exceed the tracker's numbers
* di: Raw events contain ~0.8% exact duplicates by event_id: the Kafka Connect S3 sink redelivers a
  batch after a rebalance (at-least-once).
* ef key=dedup_fix: Dedup in stg_events: qualify row_number() over (partition by event_id order by
  _ingested_at) = 1; duplicate count in the staging model is now 0.
* le key=dedup_le: Dedup must use a stable key from the producer (event_id), not a hash of the
  payload: the tracker adds a sent_at that differs between retries of the same event.
* ef: The lookback reprocessing reintroduced duplicates across partition boundaries (same event in
  dt and dt+1 raw partitions). Dedup now runs over the whole 3-day window, not per partition.
* ck: tests/data_quality/test_events_unique.sql (dbt singular test) fails if stg_events has
  duplicate event_id within the last 7 days.
* dup dedup_fix
* wa: Some tracker SDK versions (iOS 4.2.x) reuse event_id across app restarts; about 40 legitimate
  events a day collide. Don't tighten the uniqueness test to error on all of history.

* near dedup_le: ("Dedup must use", "Dedup should use")
## topic row-count-anomalies data-quality
tags: data-quality, monitoring, alerts
goal: Catch silent data drops before the business does
* di: Nobody noticed that orders from the new Shopify store were missing for 5 days: the load
  succeeded with 0 rows each day and there is no volume check.
* ef key=vol_fix: Added a check_row_count task after each load: fails if today's count < 50% of the
  trailing 7-day median for the same weekday; sends to #data-alerts.
* ef: The row count check fired on the bank holiday Monday (a real drop). Added a holidays calendar
  (dags/config/holidays.yml) to skip the comparison on those days.
> result: no false alert since
* di: Row count alert history: 14 alerts in 3 weeks, 11 of them on Mondays. Monday volume is
  naturally ~45% of Friday, so the check must compare against the same weekday.
* de: Volume checks live in Airflow (after load), freshness and schema checks in dbt (dbt source
  freshness, tests). One place per kind of check.
* le: A load that "succeeds" with zero rows is the most common silent failure we have; assert
  non-empty on every extract unless the source is known to be sparse.
* near vol_fix: ("sends to #data-alerts.", "sends an alert to #data-alerts.")
* ck: dbt source freshness for RAW_DB.SHOPIFY.ORDERS: warn_after 6h, error_after 24h on _loaded_at;
  runs hourly in dbt_freshness DAG.

## topic pii-masking data-quality
tags: pii, snowflake, governance
goal: Mask PII in the analytics schemas
* di: MARTS.DIM_CUSTOMERS exposes email and phone in clear to the REPORTER role used by every BI
  user; no masking policy applied.
* ef key=mask_fix: Created masking policy PII_EMAIL_MASK (sha2 for non-privileged roles) and
  attached it to DIM_CUSTOMERS.EMAIL and STG_CUSTOMERS.EMAIL via dbt post-hook; BI users see
  hashes.
* ck trap=mask-role: PII_EMAIL_MASK returns the clear value for role PII_ANALYST.
* ck trap=mask-role: PII_EMAIL_MASK returns the masked value for role REPORTER.
* wa key=mask_wa: Masking policies follow the column, not the model: a dbt --full-refresh recreates
  the table and drops the policy unless the post-hook re-applies it.
* de: PII columns are tagged with meta: {pii: true} in schema.yml; a macro applies the matching
  masking policy from that tag, so new models can't forget it.
* dup mask_fix
* le: Hashing emails with sha2 keeps joins possible across tables for analysts without exposing the
  address; use the same salt everywhere or the joins break.

* near mask_wa: ("unless the post-hook re-applies it.", "unless the post-hook re-applies it")
## noise
* ck: SQL style is enforced by sqlfluff (dialect snowflake, templater dbt) from .sqlfluff in
  transform/; `make lint-sql` runs it on changed files only.
> tags: sqlfluff, lint
* ef: mkdocs build for the data catalog site failed on a broken relative link in
  docs/sources/hubspot.md; fixed the link and enabled strict: true so CI catches it.
> tags: docs, mkdocs
* wa: Terraform state for infra/snowflake is locked in DynamoDB; a cancelled CI apply left a stale
  lock - only force-unlock after checking nobody else is applying.
> tags: terraform
* de: Slack alerts go through one webhook stored in Airflow connection slack_data_alerts; per-DAG
  webhooks were removed.
> tags: alerting, slack
* ef: pendulum 3 broke a custom macro using pendulum.Period; Airflow 2.8 pins pendulum 2 but the
  local venv had 3. Pinned pendulum<3 in requirements-dev.txt.
> tags: dependencies, pendulum
* di: The notebooks/ folder has 38 notebooks, most untouched for a year and several with hardcoded
  credentials to a decommissioned Redshift cluster. Flagged for cleanup.
> tags: notebooks, cleanup
* ck: The FX rates used for currency conversion come from a daily seed-like table
  RAW_DB.FINANCE.FX_RATES loaded by fx_rates_daily from the ECB feed at 16:00 CET.
> tags: finance, fx
* le: pandas 2 with pyarrow dtypes halved the memory of the marketing attribution script, but .str
  methods on ArrowDtype behave differently for nulls; the tests caught two cases.
> tags: pandas, pyarrow
* ef: GitHub Actions cache for the dbt packages directory was keyed on packages.yml only, so a dbt
  version bump reused incompatible packages; key now includes dbt_project.yml and the dbt version.
> tags: ci, github-actions
* ck: Looker reads only from ANALYTICS.MARTS and ANALYTICS.METRICS; anything else requires a grant
  to REPORTER, which the data platform team owns.
> tags: looker, grants
* de: New Python code in dags/ and spark_jobs/ requires type hints and passes mypy --strict on the
  changed files; legacy modules are excluded via mypy.ini.
> tags: python, typing
* ef: Geo enrichment crashed on a shapefile with invalid polygons (self-intersections); shapely
  make_valid() on load fixed it.
> tags: geo, shapely
* di: Found that the Airflow webserver still runs with the default 'admin' user created by the helm
  chart on the dev cluster; disabled it and moved to SSO.
> tags: security, airflow-ui
* wa: The marketing team's Google Sheets source (gsheets_budget) has manually typed dates in three
  formats; the staging model parses them but anything unparseable silently becomes null.
> tags: google-sheets, data-entry
* ck: `make dev-up` starts a local Airflow with docker compose (webserver on 8080, LocalExecutor)
  and mounts dags/ read-only.
> tags: local-dev
* le: Jinja whitespace control ({%- -%}) in dbt macros matters for the compiled SQL readability
  only; it tripped sqlfluff layout rules until the macro was rewritten.
> tags: dbt, jinja
"""

MOBILE_APP = r"""
## topic cocoapods-install-failures native-builds
tags: ios, cocoapods, build
goal: Get the iOS build working after the React Native upgrade
goal: Fix iOS CI after dependency bump
* ef fail: `pod install` after bumping react-native-reanimated: `[!] CocoaPods could not find
  compatible versions for pod "RNReanimated"`. Deleted Podfile.lock and reinstalled; same error.
* ef key=pod_fix chain: The local spec repo was stale. `cd ios && pod install --repo-update`
  resolved RNReanimated 3.6.1; build green on the simulator.
* ck: iOS deps are installed with `bundle exec pod install` (CocoaPods pinned to 1.14.3 in the
  Gemfile); using a globally installed pod binary produces a different Podfile.lock checksum and
  noisy diffs.
* ef: Xcode build failed with `'React/RCTBridgeModule.h' file not found` after a pod update; the
  workspace was opened as AcmeShop.xcodeproj instead of AcmeShop.xcworkspace. Opened the workspace,
  fixed.
* wa: Don't commit a Podfile.lock produced on an Apple Silicon machine with `arch -x86_64`; the
  hermes-engine checksum differs and CI's pod install --deployment fails.
* dup pod_fix
* le key=pod_le: Most pod install failures here come down to three things: a stale spec repo
  (--repo-update), a Ruby/CocoaPods version that doesn't match the Gemfile, or a leftover ios/Pods
  from another branch. Check those before touching the Podfile.
* near pod_le: ("Check those before touching", "Check those first before touching")
* de: ios/Pods is not committed; CI restores it from the cache keyed on Podfile.lock, and a cache
  miss runs a full `bundle exec pod install`.
* di: `pod install` takes 9 minutes on CI because ios/Pods isn't cached; cache key on Podfile.lock
  cuts it to 40s on a hit.

## topic gradle-build-memory native-builds
tags: android, gradle, build, ci
goal: Fix the Android CI build running out of memory
* ef fail: Android release build on CI died with `Expiring Daemon because JVM heap space is
  exhausted`; added --no-daemon to the gradle call. It still ran out of heap.
* ef key=gradle_fix chain: Set org.gradle.jvmargs=-Xmx4g -XX:MaxMetaspaceSize=1g in
  android/gradle.properties; the assembleRelease task no longer OOMs on the 7GB CI runners.
> feedback: GitHub Actions android-release: success in 14m02s
* di: Gradle's Kotlin daemon is a separate JVM with its own heap; the OOM at compileReleaseKotlin
  came from it, not from the Gradle daemon. kotlin.daemon.jvmargs=-Xmx2g fixed that stage.
* ck: android/gradle.properties is the only place JVM args are set; the CI workflow doesn't pass
  -Dorg.gradle.jvmargs, so edit the file, not the YAML.
* wa key=xmx_wa: Bumping -Xmx past ~5g on the 7GB GitHub runner makes the kernel OOM-kill the
  daemon instead (no Gradle error at all, just "Process completed with exit code 137").
* de: Android release builds move to the 16GB larger runner (ubuntu-latest-16core); the 7GB runners
  stay for debug and unit-test jobs.
* le: `./gradlew assembleRelease --scan` shows peak memory per task; the Hermes bundle compile and
  R8 are the two memory-hungry steps here.
* dup gradle_fix

* near xmx_wa: ("makes the kernel OOM-kill the daemon instead", "makes the kernel OOM-kill the
  daemon")
## topic metro-stale-cache native-builds
tags: metro, bundler, javascript
goal: Fix the app showing old code after a branch switch
* ef key=metro_fix: After switching branches the app kept showing the old checkout screen; Metro
  served a stale transform cache. `npx react-native start --reset-cache` fixed it.
* ef: `Unable to resolve module @acme/ui-kit/Button` right after the monorepo package was renamed;
  watchman still had the old path. `watchman watch-del-all` and a Metro restart sorted it out.
* le key=metro_le: Changing babel.config.js (new plugin, changed module-resolver aliases) needs
  --reset-cache - Metro's cache key doesn't include the Babel config contents.
* ck trap=metro-port: Metro runs on port 8081; physical Android devices need `adb reverse tcp:8081
  tcp:8081`.
* ck trap=metro-port: Storybook's Metro runs on port 7007; physical Android devices need `adb
  reverse tcp:7007 tcp:7007`.
* near metro_le: ("needs --reset-cache -", "needs a --reset-cache -")
* di: Metro's cache dir under $TMPDIR had grown to 4.6GB on the self-hosted Mac runner and is never
  cleaned between jobs; stale transforms from other branches can leak into CI bundles.
* ck: `yarn start:clean` (package.json) = watchman watch-del-all && rm -rf $TMPDIR/metro-* &&
  react-native start --reset-cache. Use it when in doubt.
* dup metro_fix

## topic ios-code-signing-ci native-builds
tags: ios, code-signing, fastlane, ci
goal: Get TestFlight uploads working from CI
goal: Rotate the expiring distribution certificate
* ef: fastlane beta failed on CI: `No profile for team 'X7K2P9QJ3L' matching 'match AppStore
  com.acmeshop.app' found`. The match repo had been re-generated locally without pushing; ran
  `fastlane match appstore --readonly false` once and pushed.
* de key=match_dec: CI always runs match with readonly: true. Only the release manager regenerates
  profiles, from a laptop, with the MATCH_PASSWORD from 1Password.
* wa: Xcode "Automatically manage signing" got re-enabled by someone's commit to the pbxproj
  (ProvisioningStyle = Automatic); CI then tries to create profiles and fails. Check the diff of
  project.pbxproj in PRs.
* ef: Codesign error `errSecInternalComponent` on the self-hosted Mac runner: the keychain was
  locked. fastlane now creates a temporary keychain (setup_ci) per run instead of using the login
  keychain.
> feedback: fastlane beta: Successfully uploaded to TestFlight
* ck: Signing config: ios/fastlane/Matchfile (git_url to acme/ios-certificates, type appstore),
  Appfile holds the team id; the App Store Connect API key comes from the ASC_KEY_JSON secret.
* di: The distribution certificate expires on 2026-11-03; match will fail from that day. Needs
  `fastlane match nuke distribution` + regenerate, coordinated with the release calendar.
* near match_dec: ("CI always runs match", "CI always runs fastlane match")

## topic jdk-version-mismatch native-builds window=0.0-0.5
tags: android, java, gradle, upgrade
goal: Upgrade React Native to 0.73
* ef key=jdk_fix: Android build after the RN 0.73 upgrade: `Android Gradle plugin requires Java 17
  to run. You are currently using Java 11.` Installed temurin 17 and set JAVA_HOME; build passes.
* ck trap=jdk: React Native 0.73 requires JDK 17 for Android builds (AGP 8).
* ck trap=jdk: React Native 0.72 builds with JDK 11 for Android builds (AGP 7).
* ef: CI still used Java 11 after the upgrade: actions/setup-java in .github/workflows/android.yml
  pinned java-version: '11'. Changed to '17' with distribution temurin.
* di: The 0.73 template moved to AGP 8, which rejects the `package` attribute in
  AndroidManifest.xml; our manifest still had it, so namespace had to move to
  android/app/build.gradle.
* wa: Android Studio uses its bundled JDK (jbr 17) while the terminal uses whatever JAVA_HOME says;
  a green build in the IDE proves nothing about the CLI build. Run ./gradlew from the terminal
  before pushing.
* near jdk_fix: ("build passes.", "the build passes.")
* le: `npx react-native doctor` reports the JDK version and flags a mismatch; quicker than reading
  Gradle stack traces.

## topic new-architecture-migration native-builds window=0.3-1.0
tags: react-native, new-architecture, fabric
goal: Evaluate enabling the New Architecture
* di: Tried the New Architecture on a branch: react-native-maps 1.8 has no Fabric component yet and
  renders a red "Unimplemented component" box on the store locator screen.
* de trap=newarch: Do enable newArchEnabled=true in android/gradle.properties on the dev-newarch
  branch to track migration issues.
* de trap=newarch: Do not enable newArchEnabled=true in android/gradle.properties on main until
  react-native-maps ships Fabric support.
* ck: iOS New Architecture is controlled by RCT_NEW_ARCH_ENABLED=1 at `pod install` time, not by a
  plist flag; forgetting to re-run pod install after toggling it gives a mixed build.
* le: With the interop layer in 0.73 most legacy native modules still work under the New
  Architecture; the breakages we saw were all view components (maps, the old video player).
* wa: react-native-reanimated 3 and the New Architecture need matching versions; mixing reanimated
  3.3 with newArchEnabled crashed at launch with a JSI error.

## topic deep-link-config navigation-state
tags: deep-links, react-navigation, universal-links
goal: Make product links from emails open in the app
goal: Fix shared links opening the browser instead of the app
* di: Links like https://acmeshop.com/p/1234 from marketing emails open Safari instead of the app:
  apple-app-site-association on the web server only lists /orders/*, not /p/*.
* ef key=aasa_fix: Added "/p/*" to the applinks paths in apple-app-site-association (served by the
  web team at /.well-known/); after reinstalling the app, product links open the ProductDetail
  screen.
* ck: Deep link mapping lives in src/navigation/linking.ts (prefixes: acmeshop://,
  https://acmeshop.com); each screen's path is declared there, not in the screen components.
* ef: Android 12 opened links in Chrome despite the intent filter: autoVerify failed because
  assetlinks.json had only the debug SHA-256. Added the Play App Signing certificate fingerprint.
> feedback: adb shell pm get-app-links com.acmeshop.app: verified
* wa: iOS caches the apple-app-site-association file via Apple's CDN; changes can take up to 24-48h
  to reach devices. Use the ?mode=developer associated domain for testing.
* de: Deep links are handled only through the NavigationContainer `linking` config; no more manual
  Linking listeners inside screens.
* le: Test deep links with `xcrun simctl openurl booted "acmeshop://p/1234"` and `adb shell am
  start -W -a android.intent.action.VIEW -d "acmeshop://p/1234"` before blaming the server config.
* dup aasa_fix
* ef: Cold-start deep link was lost on Android: the navigation container wasn't ready when
  Linking.getInitialURL resolved. Using the `linking` prop of NavigationContainer instead of a
  manual listener fixed it.

## topic redux-persist-migrations navigation-state
tags: redux, redux-persist, state
goal: Fix the crash on launch after the 4.12 release
* di: Crash on launch after updating to 4.12: `TypeError: Cannot read property 'items' of
  undefined` in CartBadge. The persisted cart state from 4.11 has the old shape ({ lines: [] }),
  and the reducer expects { items: [] }.
> feedback: Sentry: 2,341 events from 4.12.0 in the first hour
* ef key=persist_fix: Added version: 5 to the persist config in src/store/index.ts with a
  createMigrate entry that maps cart.lines -> cart.items; upgrading from 4.11 no longer crashes.
> result: hotfix 4.12.1 submitted for expedited review
* de: Every change to the shape of a persisted slice requires bumping the persist version and
  adding a migration, plus a unit test in src/store/__tests__/migrations.test.ts that rehydrates a
  fixture from the previous version.
* wa: Don't persist the whole store: the api cache slice was persisted too and ballooned
  AsyncStorage to 6MB on some devices, slowing startup. Use a whitelist (cart, auth, settings).
* ck: Persisted slices are whitelisted in src/store/persistConfig.ts; storage is react-native-mmkv
  through a redux-persist adapter since 4.10 (AsyncStorage before).
* ef: Migration 5 ran on fresh installs too and threw on undefined state; createMigrate passes
  undefined when there's nothing stored. Guarded with `if (!state) return state`.
* near persist_fix: ("no longer crashes.", "doesn't crash anymore.")
* le: Keep migrations forever - a user can jump from 4.6 to 4.14 in one update, and every
  intermediate migration has to run in order.

## topic android-back-handler navigation-state
tags: android, back-button, react-navigation
goal: Fix the hardware back button closing the app
* di: On Android the hardware back button on the checkout stack closes the whole app instead of
  going back to the cart. BackHandler isn't involved: the checkout stack is registered next to the
  tab navigator, so there is no history to go back to.
* ef key=back_fix: Checkout stack was a sibling of the tab navigator instead of being nested; moved
  it into the root stack as a modal group. Back from checkout now returns to the cart.
* ef: The payment sheet (bottom sheet) ignored back; added a BackHandler in useFocusEffect that
  closes the sheet and returns true, removing the listener on blur.
* le: BackHandler listeners must be added in useFocusEffect, not useEffect, otherwise a screen
  deeper in the stack keeps swallowing back presses after you navigate away.
* wa: Returning true from a BackHandler listener blocks all other handlers including
  react-navigation's; only return true when you actually handled the press.
* near back_fix: ("Back from checkout now returns", "Back from checkout returns")

## topic list-rendering-performance navigation-state
tags: performance, flatlist, rendering
goal: Fix janky scrolling in the product grid
goal: Reduce JS thread load on the home feed
* di: Product grid drops to ~20 fps on a Pixel 4a; the React profiler shows every ProductCard
  re-rendering on each scroll event because renderItem is an inline arrow and the item props are
  recreated from the selector.
* ef key=list_fix: Memoised ProductCard with React.memo, moved renderItem to useCallback and made
  the selector return stable objects (createSelector); grid now scrolls at ~58 fps on the same
  device.
> feedback: Flashlight score: 41 -> 83
* ef: Added getItemLayout (fixed 264px rows) and windowSize=7 to the product FlatList;
  jump-to-category no longer stutters.
* de: Long lists move to @shopify/flash-list (estimatedItemSize required). Home feed and search
  results migrated first; the order history list stays on FlatList (short).
> result: applied to src/screens/Home and src/screens/Search
* wa: FlashList recycles cells, so component state inside a row (e.g. a "liked" toggle kept in
  useState) shows up on a different product after scrolling. Keep row state in the store keyed by
  id.
* le key=list_le: Measure on a low-end Android device in release mode; dev mode and the iOS
  simulator hide most list jank.
* near list_le: ("Measure on a low-end Android device", "Always measure on a low-end Android
  device")
* dup list_fix

## topic android-notification-permission platform-apis
tags: android, notifications, permissions
goal: Fix missing push notifications on Android 13
* di: Android 13 users get no push notifications: after raising targetSdkVersion to 33,
  POST_NOTIFICATIONS has to be requested at runtime and we never ask.
* ef key=notif_fix: Declared POST_NOTIFICATIONS in AndroidManifest.xml and request it with
  PermissionsAndroid.request after onboarding (Platform.Version >= 33 only); notifications arrive
  again on Pixel 7 / Android 14.
* ck trap=target-sdk: targetSdkVersion 33: POST_NOTIFICATIONS is a runtime permission; request it
  before registering for FCM.
* ck trap=target-sdk: targetSdkVersion 32: POST_NOTIFICATIONS is not a runtime permission; the
  system prompts on first channel creation.
* di: Analytics: 38% of Android users are on Android 13+, and only 9% of those had granted
  notification permission before the runtime request shipped.
* wa: If the user denies POST_NOTIFICATIONS twice, Android stops showing the dialog; the settings
  screen must deep link to the app's notification settings (Linking.openSettings()) instead of
  calling request again.
* ef: Notifications still silently dropped on some Samsung devices: no notification channel was
  created before the first message. Create the 'orders' and 'marketing' channels at startup via
  notifee.
* le key=notif_le: Ask for notification permission at a moment that explains the value (after the
  first order), not at first launch; opt-in went from 41% to 67% in the A/B test.
* dup notif_fix

* near notif_le: ("not at first launch;", "not on first launch;")
## topic apns-push-environment platform-apis
tags: ios, push-notifications, apns
goal: Fix iOS push in TestFlight builds
* ef fail: Push works in debug builds but not in TestFlight. Regenerated the APNs key in the
  developer portal; no change.
* ef key=apns_fix chain: The backend sent TestFlight tokens to the sandbox endpoint; TestFlight/App
  Store builds use production APNs. Backend now picks the endpoint from the aps_environment we send
  along with the token.
> feedback: manual test: push received on TestFlight build 4.13 (512)
* ck trap=aps-env: AcmeShop.entitlements (Debug) has aps-environment = development, so debug builds
  get sandbox APNs tokens.
* ck trap=aps-env: AcmeShopRelease.entitlements (Release) has aps-environment = production, so
  release builds get production APNs tokens.
* le: A sandbox device token sent to the production APNs endpoint fails with BadDeviceToken; that
  error almost always means an environment mismatch, not a broken token.
* wa: Reinstalling the app or restoring a device generates a new APNs token; the app must
  re-register the token on every launch, not only at first login.
* near apns_fix: ("Backend now picks", "The backend now picks")

## topic keyboard-avoiding-layout platform-apis
tags: keyboard, layout, ios, android
goal: Fix the login button hidden behind the keyboard
* ef key=kb_fix: On iOS the keyboard covered the Sign in button; wrapped the form in
  KeyboardAvoidingView with behavior="padding" and keyboardVerticalOffset = header height. Android
  left untouched (windowSoftInputMode=adjustResize).
* le: KeyboardAvoidingView: behavior="padding" on iOS, and usually no KAV at all on Android when
  android:windowSoftInputMode="adjustResize" is set - using both double-shifts the layout.
* ef: Address form inside a ScrollView: fields at the bottom stayed hidden. Switched to
  react-native-keyboard-controller's KeyboardAwareScrollView; the focused input scrolls into view
  on both platforms.
* di: Android 15 edge-to-edge enforcement breaks adjustResize: the keyboard overlays content when
  the app targets SDK 35. Noted before we bump targetSdk next year.
* de: Standardise on react-native-keyboard-controller for all forms; KeyboardAvoidingView stays
  only in legacy screens until they are migrated.
* ck: Shared form layout is src/components/forms/FormScreen.tsx; it already handles the keyboard -
  new forms should use it instead of adding their own KeyboardAvoidingView.
* near kb_fix: ("Android left untouched", "Android was left untouched")
* wa: Nested KeyboardAvoidingViews (screen + modal) add up their offsets; the checkout modal jumped
  by twice the keyboard height.

## topic safe-area-insets platform-apis
tags: safe-area, layout, ios
goal: Fix UI under the notch and home indicator
* ef key=safe_fix: The custom header was drawn under the Dynamic Island on iPhone 15 Pro: used the
  SafeAreaView from react-native, which doesn't work on Android and ignores nested views. Switched
  to useSafeAreaInsets() from react-native-safe-area-context.
* ck key=safe_ck: SafeAreaProvider is mounted once in App.tsx; screens use useSafeAreaInsets() or
  the Edges-aware SafeAreaView from react-native-safe-area-context, never react-native's
  SafeAreaView.
* di: insets.top is 59 on iPhone 15 Pro, 47 on iPhone 14 and 20 on iPhone SE; the old header
  hardcoded 44, which is why it sat under the Dynamic Island.
* ef: Bottom "Add to cart" bar overlapped the home indicator on iPhone; paddingBottom:
  insets.bottom on the bar fixed it.
* wa: insets are 0 on the first render inside modals presented with react-navigation's
  presentation: 'modal' on iOS; pass initialMetrics to SafeAreaProvider to avoid the layout jump.
* dup safe_fix
* le: Test layouts on an iPhone SE (no notch) and a 15 Pro (Dynamic Island) simulator; insets
  differ enough that hardcoded paddings break on one of them.

* near safe_ck: ("never react-native's SafeAreaView.", "never the SafeAreaView from react-native.")
## topic android-cleartext-dev-server platform-apis
tags: android, networking, local-dev
goal: Point the Android emulator at the local API
* ef key=cleartext_fix: Android emulator can't reach the local API: `java.io.IOException: Cleartext
  HTTP traffic to 10.0.2.2 not permitted`. Added a network_security_config allowing cleartext for
  10.0.2.2 only.
* ck trap=emu-host: The stock Android emulator reaches the host machine at 10.0.2.2; API_URL for
  local dev is http://10.0.2.2:8000.
* ck trap=emu-host: The Genymotion emulator reaches the host machine at 10.0.3.2; API_URL for local
  dev is http://10.0.3.2:8000.
* ck trap=nsc-path: android/app/src/debug/res/xml/network_security_config.xml allows cleartext to
  10.0.2.2 (debug builds only).
* ck trap=nsc-path: android/app/src/main/res/xml/network_security_config.xml allows cleartext to
  10.0.2.2 (all builds, including release).
* wa: The cleartext exception must never end up in src/main: release builds would then accept plain
  HTTP. Keep it in the debug source set.
* le: `adb reverse tcp:8000 tcp:8000` lets a USB device use http://localhost:8000 for the API, same
  as Metro on 8081; simpler than editing API_URL.
* dup cleartext_fix

## topic token-refresh-race networking
tags: auth, axios, tokens
goal: Fix users getting logged out randomly
* di: Random logouts: when the access token expires, the home screen fires 6 requests at once, each
  gets 401 and each calls /auth/refresh; the refresh token is single-use, so 5 of the 6 refreshes
  fail and the last failure logs the user out.
* ef fail: Added a 300ms debounce around the refresh call in the axios interceptor; fewer parallel
  refreshes, but on slow networks two still slipped through and QA still got logged out.
* ef key=refresh_fix chain: The axios response interceptor in src/api/client.ts now keeps one
  in-flight refresh promise; concurrent 401s await it and retry with the new token. No more random
  logouts in QA.
> feedback: QA regression suite: 0 unexpected logouts in 200 runs
* ck trap=http-auth: On HTTP 401 from the API the client refreshes the token once and retries the
  request.
* ck trap=http-auth: On HTTP 403 from the API the client does not refresh the token and shows the
  'no access' screen.
* ef: Refresh loop: /auth/refresh itself returned 401 and the interceptor tried to refresh it
  again, forever. The interceptor now skips requests flagged with _retry or targeting
  /auth/refresh.
* de: Access tokens live 15 minutes, refresh tokens 30 days and rotate on every use (agreed with
  the backend team); the app never stores the password.
* le: Refresh the access token proactively when it's within 60s of exp (decoded from the JWT)
  rather than waiting for 401s; it removes most of the races at the source.
* near refresh_fix: ("No more random logouts in QA.", "No more random logouts in QA!")
* wa: Tokens are stored in react-native-keychain, not AsyncStorage/MMKV; keep it that way, the
  security review flagged plaintext token storage last year.

## topic offline-mutation-queue networking
tags: offline, sync, idempotency
goal: Make add-to-cart work offline
goal: Fix duplicate cart items after reconnect
* de: Offline writes go into a persisted queue (src/offline/queue.ts) replayed in order when
  NetInfo reports connectivity; reads fall back to the cached data.
* di: Duplicate cart lines after coming back online: the queue replays a mutation whose request
  actually reached the server before the connection dropped; the response was lost, so the app
  thinks it failed.
* ef key=offline_fix: Each queued mutation now carries an Idempotency-Key (uuid v4 created when it
  is enqueued) and the API dedupes on it; replays after a lost response no longer create
  duplicates.
* wa: NetInfo's isConnected is true on a captive portal Wi-Fi; use isInternetReachable before
  replaying the queue, otherwise everything fails and gets retried with backoff.
* ef: The queue replayed mutations in parallel and a "remove item" overtook the "add item" for the
  same line. Replay is now sequential per cart.
* ck: Queue entries are persisted in MMKV under offline.queue.v2; the drain loop lives in
  src/offline/useQueueDrain.ts and is started from App.tsx.
* dup offline_fix
* le key=offline_le: Anything replayed later must be idempotent and ordered; idempotency keys fix
  duplicates, ordering fixes lost updates.
* near offline_le: ("fix duplicates, ordering fixes", "fix duplicates; ordering fixes")

## topic image-cache-memory networking
tags: images, memory, caching
goal: Fix out-of-memory crashes on the product grid
* di: OOM crashes on low-end Android in the product grid: product images are 2400px originals from
  the CDN, decoded at full size into memory even for 160px thumbnails.
* ef key=img_fix: Requesting sized images from the CDN (?w=320&q=70 via src/utils/cdnImage.ts) and
  rendering them with expo-image; memory in the grid went from ~610MB to ~180MB.
* di: Images were re-downloaded on every visit: the CDN sends Cache-Control: no-store on the
  resized variants, so expo-image never keeps them in its disk cache.
* ck: expo-image is configured with cachePolicy="memory-disk" globally in
  src/components/AppImage.tsx; don't use react-native's Image directly for remote images.
* de: All remote images go through AppImage (expo-image) with CDN sizing; react-native-fast-image
  is being removed screen by screen.
* wa: react-native-fast-image is unmaintained and breaks with the New Architecture; don't add new
  usages, migrate remaining ones to AppImage.
* near img_fix: ("memory in the grid went from", "memory usage in the grid went from")
* le: On Android, clear the memory cache on onTrimMemory / AppState background for image-heavy
  screens; the system kills us less often in the background.

## topic detox-flaky-e2e testing-release
tags: detox, e2e, flaky-tests
goal: Get the Detox suite stable on CI
* di: Detox login test fails ~1 in 5 on CI with `Test Failed: Timed out while waiting for the app
  to become idle`: a Lottie animation on the welcome screen loops forever, so the app is never
  idle.
* ef key=detox_fix: Welcome animation is disabled when the DETOX env flag is set (launchArgs: {
  detoxDisableAnimations: true } read via react-native-launch-arguments); idle-sync timeouts gone.
* ef: Checkout e2e flaky because of the 30s polling timer on the order status screen; wrapped that
  spec in device.disableSynchronization() with explicit
  waitFor(...).toBeVisible().withTimeout(10000).
* le key=detox_le: Prefer waitFor(element).toBeVisible().withTimeout() over fixed sleeps; sleeps
  made the suite 4 minutes longer and still flaked on slow runners.
* wa: Don't blanket-disable Detox synchronization in the global setup to "fix" flakiness; it just
  moves the failures to element lookups.
* de: CI runs Detox only against release builds (ios.sim.release, android.emu.release); debug
  builds talking to Metro were too flaky to gate merges.
* ck: Detox config is in .detoxrc.js: ios.sim.release uses iPhone 15 on iOS 17.5,
  android.emu.release uses the Pixel_6_API_34 AVD created in the CI workflow.
* dup detox_fix
* ef fail: Retried flaky specs with jest-circus retryTimes(2); pass rate looked fine but real
  regressions were being retried away. Removed.
* near detox_le: ("over fixed sleeps;", "over fixed sleeps,")

## topic jest-native-module-mocks testing-release
tags: jest, mocks, unit-tests
goal: Fix unit tests after adding native dependencies
* ef key=jest_fix: Unit tests fail with `Invariant Violation:
  TurboModuleRegistry.getEnforcing(...): 'RNCNetInfo' could not be found`; added the official mock
  (jest.mock('@react-native-community/netinfo', () =>
  require('@react-native-community/netinfo/jest/netinfo-mock.js'))) in jest.setup.ts.
* ck key=jest_ck: Global mocks for native modules live in jest.setup.ts (netinfo, mmkv, keychain,
  reanimated, notifee); a new native dependency needs its mock added there.
* di: 14 of the 22 failing test files failed on the same missing native module mock; once it was
  added only 2 real failures were left.
* ef: `SyntaxError: Cannot use import statement outside a module` from @shopify/flash-list in Jest;
  added it to transformIgnorePatterns' exception list in jest.config.js.
* le: transformIgnorePatterns is a negative lookahead list: packages that ship untranspiled ESM
  must be added to the `(?!(...))` group, not removed from it.
* wa: Mocking react-native-reanimated with its own mock requires
  `require('react-native-reanimated/mock')` AND the Babel plugin being last in babel.config.js; in
  the wrong order tests pass locally and fail in CI.
* dup jest_fix
* ef: MMKV tests leaked state between files: the in-memory mock is module-level. jest.setup.ts now
  clears all MMKV instances in afterEach.

* near jest_ck: ("needs its mock added there.", "needs its mock added there too.")
## topic codepush-binary-mismatch testing-release
tags: codepush, ota, releases
goal: Ship the checkout copy fix over the air
goal: Investigate crash after OTA update
* di: Crash after the OTA update 4.13-ota3: the JS bundle calls the new native module RNBiometrics,
  which only exists in binary 4.14; CodePush targeted all 4.x binaries.
* ef key=ota_fix: Rolled back 4.13-ota3 in App Center and re-released it with --targetBinaryVersion
  "4.14.x"; crash rate back to baseline within the hour.
> feedback: Sentry: crash-free sessions 99.1% -> 99.8%
* de: OTA updates are only allowed for JS/asset-only changes; any change to package.json native
  deps or ios/android folders requires a store release. A CI check compares native dependency
  hashes and blocks `appcenter codepush release-react`.
* ck trap=ota-env: Staging builds use bundle id com.acmeshop.app.staging and the CodePush 'Staging'
  deployment.
* ck trap=ota-env: Release builds use bundle id com.acmeshop.app and the CodePush 'Production'
  deployment.
* wa: Always release OTA updates with --rollout 20 first and watch Sentry for an hour; a full
  rollout can't be undone for users who already downloaded it.
* near ota_fix: ("crash rate back to baseline", "crash rate was back to baseline")
* le: CodePush deployment keys are compiled into the binary (Info.plist CodePushDeploymentKey,
  strings.xml CodePushDeploymentKey), so pointing a build at another deployment needs a rebuild.

## topic r8-release-crash testing-release
tags: android, r8, proguard, release
goal: Fix the Android release build crashing on launch
* di: Release APK crashes at launch, debug is fine: `java.lang.ClassNotFoundException:
  com.facebook.hermes.unicode.AndroidUnicodeUtils` - R8 removed a class that is only referenced
  from native code.
* ef fail: Tried -dontoptimize and -keepattributes *Annotation* in proguard-rules.pro; the release
  APK still crashes at launch with the same ClassNotFoundException.
* ef key=r8_fix chain: Added `-keep class com.facebook.hermes.unicode.** { *; }` to
  android/app/proguard-rules.pro; release build launches.
* ck trap=keep-rule: proguard-rules.pro keeps com.facebook.hermes.unicode.** (Hermes unicode utils,
  referenced from JNI).
* ck trap=keep-rule: proguard-rules.pro keeps com.facebook.jni.** (fbjni hybrid classes, referenced
  from JNI).
* le key=r8_le: Always smoke-test the minified release build (./gradlew installRelease on a device)
  before tagging; R8 problems never show up in debug.
* ef: Payment SDK crashed in release only: its models were obfuscated and Gson couldn't map JSON
  fields. Added the SDK's published consumer rules to proguard-rules.pro.
* dup r8_fix
* wa: Don't set minifyEnabled false on release to make a crash go away; APK size goes from 28MB to
  46MB and it hides the real missing keep rule.

* near r8_le: ("R8 problems never show up in debug.", "R8 problems never show up in debug builds.")
## topic hermes-sourcemaps-sentry testing-release
tags: sentry, sourcemaps, hermes, crash-reporting
goal: Make Sentry stack traces readable for release builds
* di: Sentry events from release builds show frames like `index.android.bundle:1:284733`; no source
  maps uploaded for Hermes bytecode bundles.
* ef key=smap_fix: Enabled the Sentry Gradle plugin and the "Bundle React Native code and images"
  Xcode phase wrapper (sentry-xcode.sh); source maps for the Hermes bundles are uploaded per
  release and traces are symbolicated.
* wa: Source maps are matched by release AND dist; CodePush updates change the bundle without
  changing the binary, so OTA releases must upload maps with their own dist or the traces break
  again.
* ck: Sentry release name is `com.acmeshop.app@{versionName}+{versionCode}` and dist is the
  versionCode; both are set in src/monitoring/sentry.ts and must match what the upload uses.
* ef: iOS native frames were still unreadable after the source map fix: dSYMs were never uploaded.
  Added `sentry-cli debug-files upload` for the archive's dSYMs to the fastlane beta lane.
* near smap_fix: ("traces are symbolicated.", "traces are now symbolicated.")
* le: Check symbolication right after the first release build of a version with `sentry-cli
  sourcemaps explain <event-id>`; it tells you exactly which artifact is missing.

## noise
* di: iOS never clears the app icon badge by itself; it stayed at the old count after all messages
  were read until notifee.setBadgeCount(0) was called.
> tags: ios, badge
* ck: Lottie animations live in src/assets/lottie/; the onboarding one is 1.2MB, which is why the
  initial JS bundle is 400KB larger than expected.
> tags: assets, lottie
* ef: Plurals in German showed "1 Artikel(n)": i18next needed the v4 JSON format with _one/_other
  suffixes after the i18next 23 upgrade.
> tags: i18n, i18next
* de: Dark mode colors come only from src/theme/tokens.ts; hardcoded hex values in StyleSheets are
  flagged by a custom ESLint rule.
> tags: theming, eslint
* wa: App Store screenshots must be regenerated for the 6.9" display size; fastlane snapshot config
  still only has the 6.7" device.
> tags: app-store, fastlane
* le: Haptics via react-native-haptic-feedback are no-ops on Android devices where the user
  disabled touch vibration; don't rely on them as the only confirmation.
> tags: haptics, accessibility
* ef: Android adaptive icon looked cropped on Pixel launchers; the foreground layer had no
  safe-zone padding. Regenerated mipmap-anydpi-v26 with a 66dp safe zone.
> tags: android, icons
* di: Custom fonts (Inter) are linked twice on iOS - once via react-native.config.js assets and
  once manually in the Xcode project - producing a duplicate resources warning.
> tags: fonts, ios
* de: Date formatting uses date-fns with per-locale imports instead of moment; saves ~230KB in the
  bundle.
> tags: bundle-size, dates
* ef: VoiceOver read "button" for the icon-only favorite toggle; added accessibilityLabel and
  accessibilityState={{ selected }}.
> tags: accessibility
* ck: PrivacyInfo.xcprivacy in ios/AcmeShop declares the required-reason APIs (UserDefaults, file
  timestamps); App Store Connect rejects uploads without it since spring 2024.
> tags: ios, privacy, app-store
* wa: Firebase Analytics debug mode (-FIRDebugEnabled) was left in the shared Xcode scheme; it
  would have sent debug events from TestFlight builds.
> tags: analytics, firebase
* ef: SVG icons rendered blank on Android after adding react-native-svg-transformer;
  metro.config.js was missing the svg entry in resolver.sourceExts.
> tags: svg, metro
* ck: ESLint config extends @react-native and adds eslint-plugin-react-hooks as error; `yarn lint
  --fix` runs in the pre-commit hook via lint-staged.
> tags: eslint, tooling
* le: Clipboard from react-native core was removed; use @react-native-clipboard/clipboard. The
  coupon screen was the only user.
> tags: clipboard, dependencies
* di: The in-app review prompt (StoreKit requestReview) is shown at most 3 times a year by iOS
  regardless of how often we call it; the analytics "review prompt shown" event overcounts.
> tags: app-store, ratings
* wa: The staging API certificate expires on 2026-10-20; the app pins it via
  react-native-ssl-pinning in staging builds, so staging will stop working that day unless the pin
  is updated.
> tags: ssl-pinning, staging
"""


PROJECTS = [
    Project(
        pid="web-backend",
        prefix="wb",
        start=datetime(2026, 8, 24, tzinfo=UTC),
        task_base=100,
        agents={
            "S": ("agent-codex-2",),
            "T": ("agent-gemini-1",),
            "V": ("agent-claude-1",),
            "N": ("agent-claude-1", "agent-claude-3"),
        },
        feedback_ok=(
            "pytest -q: {n} passed in {s}s",
            "CI (GitHub Actions): lint, mypy, test all green",
            "reviewer: LGTM",
            "pytest tests/api -q: {k} passed",
            "reviewer: approved, nice catch",
        ),
        feedback_fail=(
            "pytest -q: {f} failed, {n} passed in {s}s",
            "CI: job 'test' failed after {m}m",
            "reviewer: changes requested - this hides the symptom, not the cause",
        ),
        feedback_other=(
            "reviewer: makes sense, please add it to docs/",
            "reviewer: agreed",
            "CI: all checks passed",
            "reviewer: can we enforce this with a test?",
        ),
        block=WEB_BACKEND,
    ),
    Project(
        pid="data-pipeline",
        prefix="dp",
        start=datetime(2026, 8, 31, tzinfo=UTC),
        task_base=1100,
        agents={
            "S": ("agent-codex-1", "agent-codex-1", "agent-devin-1"),
            "T": ("agent-devin-1",),
            "V": ("agent-claude-2",),
            "N": ("agent-claude-2", "agent-devin-1"),
        },
        feedback_ok=(
            "CI: all checks passed",
            "staging Airflow: DAG run success, all tasks green",
            "reviewer: LGTM",
            "rerun on staging: green, row counts match prod",
        ),
        feedback_fail=(
            "staging Airflow: task failed again on retry {f}/3",
            "CI: {f} checks failing",
            "reviewer: this hides the failure, it doesn't fix it",
        ),
        feedback_other=(
            "reviewer: agreed, please add it to the runbook",
            "reviewer: +1",
            "reviewer: can you link the incident?",
            "data-eng standup: acknowledged",
        ),
        block=DATA_PIPELINE,
    ),
    Project(
        pid="mobile-app",
        prefix="ma",
        start=datetime(2026, 8, 17, tzinfo=UTC),
        task_base=2100,
        agents={
            "S": ("agent-codex-3", "agent-codex-3", "agent-cursor-1"),
            "T": ("agent-gemini-2",),
            "V": ("agent-claude-4",),
            "N": ("agent-claude-5", "agent-cursor-1"),
        },
        feedback_ok=(
            "jest: {n} tests passed, {k} suites",
            "e2e smoke suite: {k} passed",
            "GitHub Actions ios-build: success in {m}m",
            "QA on device: works as expected",
            "reviewer: LGTM",
        ),
        feedback_fail=(
            "jest: {f} failed, {n} passed",
            "e2e smoke suite: {f} failed",
            "GitHub Actions android-release: failure after {m}m",
        ),
        feedback_other=(
            "reviewer: agreed",
            "reviewer: please add this to the mobile handbook",
            "QA: noted",
            "reviewer: good find",
        ),
        block=MOBILE_APP,
    ),
]


# ---------------------------------------------------------------------------
# Generation: everything below turns the texts above into dated, attributed
# memories. All randomness comes from one seeded Random per project.
# ---------------------------------------------------------------------------

GENERIC_RESULTS: dict[tuple[str, bool | None], tuple[str, ...]] = {
    (EF, True): (
        "fixed",
        "fixed; tests green",
        "fix verified locally and in CI",
        "patched, PR opened",
        "resolved",
    ),
    (EF, False): (
        "not fixed",
        "no improvement; reverted",
        "still reproducible",
        "partial improvement only",
    ),
    (DI, None): ("root cause identified", "findings posted on the ticket", "noted for follow-up"),
    (DE, None): ("decision recorded", "agreed in review", "applied to the codebase"),
    (LE, None): ("noted for future tasks", "added to team notes", "applied going forward"),
    (WA, None): (
        "flagged in the PR description",
        "left a comment in the code",
        "raised with the team",
    ),
    (CK, None): ("noted", "added to docs/architecture.md", "documented in the README"),
}

TOOL_PROFILES: dict[str, dict[str, tuple[int, int]]] = {
    EF: {"bash": (1, 9), "edit": (1, 6), "grep": (0, 5), "read": (2, 10)},
    DI: {"bash": (0, 5), "grep": (1, 8), "read": (3, 14)},
    DE: {"edit": (0, 3), "read": (2, 8), "write": (0, 2)},
    LE: {"bash": (0, 4), "edit": (0, 3), "read": (1, 6)},
    WA: {"bash": (0, 3), "grep": (0, 4), "read": (1, 6)},
    CK: {"glob": (0, 3), "grep": (1, 6), "read": (2, 12)},
}

FEEDBACK_RATE = {EF: 0.65, DI: 0.3, DE: 0.5, LE: 0.35, WA: 0.35, CK: 0.2}

BRANCH_KIND = {EF: "fix", DI: "investigate", DE: "design", LE: "chore", WA: "chore", CK: "docs"}


def _style(text: str) -> str:
    """Rough writing style of a summary, used to attribute it to a consistent agent."""
    if text.count(";") >= 2 or (";" in text and ". " not in text and len(text) < 200):
        return "S"
    if len(text) < 140:
        return "T"
    if len(text) >= 220:
        return "V"
    return "N"


def _default_success(item: Item, mtype: str) -> bool | None:
    if item.ok is not _UNSET:
        return item.ok  # type: ignore[return-value]
    return True if mtype == EF else None


def _resolve(project: Project):
    """Turn the parsed block into units (lists of Rec sharing a task) per topic."""
    topics, noise = parse_block(project.block)
    by_key: dict[str, Rec] = {}
    labelled: dict[str, list[Rec]] = {}
    pairs: list[tuple[Rec, Rec]] = []
    seqs: list[tuple[Topic | None, list[list[Rec]]]] = []
    for topic in topics:
        units: list[list[Rec]] = []
        for item in topic.items:
            ref = item.dup_of or item.near_of or item.trap_of
            if ref:
                src = by_key[ref]
                assert src.topic is topic or item.trap_of, f"{ref} used outside its topic"
                if item.dup_of:
                    rec = Rec(item, topic, src.content, src.mtype, src.success, "exact", src)
                elif item.near_of:
                    text = _apply(src.content, item.edits)
                    rec = Rec(item, topic, text, src.mtype, src.success, "near", src)
                else:
                    text = _apply(src.content, item.edits)
                    mtype = item.mtype or src.mtype
                    rec = Rec(item, topic, text, mtype, _default_success(item, mtype), "trap", src)
                    pairs.append((src, rec))
            else:
                assert item.content and item.mtype, item
                success = _default_success(item, item.mtype)
                rec = Rec(item, topic, item.content, item.mtype, success)
            if item.key:
                assert item.key not in by_key, f"duplicate key {item.key}"
                by_key[item.key] = rec
            if item.trap:
                labelled.setdefault(item.trap, []).append(rec)
            if item.chain and units:
                units[-1].append(rec)
            else:
                units.append([rec])
        seqs.append((topic, units))
    for item in noise:
        assert item.content and item.mtype and item.tags, item
        rec = Rec(item, None, item.content, item.mtype, _default_success(item, item.mtype))
        seqs.append((None, [[rec]]))
    for label, recs in labelled.items():
        assert len(recs) == 2, f"trap {label} has {len(recs)} members"
        pairs.append((recs[0], recs[1]))
    return seqs, pairs


def _feedback(project: Project, rng: random.Random, mtype: str, success: bool | None) -> str:
    if mtype == EF and success is True:
        pool = project.feedback_ok
    elif success is False:
        pool = project.feedback_fail
    else:
        pool = project.feedback_other
    return rng.choice(pool).format(
        n=rng.randint(180, 620),
        f=rng.randint(1, 4),
        s=f"{rng.uniform(18, 240):.1f}",
        m=rng.randint(3, 16),
        k=rng.randint(2, 40),
    )


def _tools(rng: random.Random, mtype: str) -> dict[str, int]:
    counts = {name: rng.randint(lo, hi) for name, (lo, hi) in TOOL_PROFILES[mtype].items()}
    return {name: n for name, n in counts.items() if n}


def build_project(project: Project, seed: int) -> tuple[list[dict], dict]:
    rng = random.Random(seed)
    seqs, pairs = _resolve(project)

    # Spread each topic's units over the six weeks, keeping their written order.
    placed: list[tuple[float, int, Topic | None, list[Rec]]] = []
    order = 0
    for topic, units in seqs:
        lo, hi = topic.window if topic else (0.0, 1.0)
        for pos, unit in zip(sorted(rng.uniform(lo, hi) for _ in units), units, strict=True):
            placed.append((pos, order, topic, unit))
            order += 1
    placed.sort(key=lambda p: (p[0], p[1]))

    # Clock: units of one day fall in a working window; tasks take a few minutes each.
    last = project.start
    by_day: dict[int, list[list[Rec]]] = {}
    for pos, _, _, unit in placed:
        by_day.setdefault(min(int(pos * DAYS), DAYS - 1), []).append(unit)
    for day in sorted(by_day):
        units = by_day[day]
        opening = project.start + timedelta(days=day, seconds=rng.randint(6 * 3600, 9 * 3600))
        offsets = sorted(rng.randint(0, 13 * 3600) for _ in units)
        for offset, unit in zip(offsets, units, strict=True):
            when = max(
                opening + timedelta(seconds=offset),
                last + timedelta(seconds=rng.randint(90, 600)),
            )
            for i, rec in enumerate(unit):
                if i:
                    when += timedelta(seconds=rng.randint(4 * 60, 28 * 60))
                rec.when = when
            last = when

    # Tasks and agents.
    # A unit may join a recent task of the same theme (agents work in parallel, so
    # tasks interleave); otherwise it starts a new task.
    agents_all = sorted({a for names in project.agents.values() for a in names})
    task_no = project.task_base
    tasks: list[dict] = []
    records: list[Rec] = []
    for _, _, topic, unit in placed:
        theme = topic.theme if topic else None
        first = unit[0]
        task = None
        if theme is not None and rng.random() < 0.7:
            for candidate in reversed(tasks[-6:]):
                if (
                    candidate["theme"] == theme
                    and topic.slug not in candidate["topics"]
                    and candidate["size"] + len(unit) <= 3
                    and first.when - candidate["end"] < timedelta(hours=5)
                ):
                    task = candidate
                    break
        if task is None:
            task_no += rng.choice((1, 1, 1, 2, 3))
            task_id = f"task-{task_no:04d}"
            if rng.random() < 0.1:
                agent = rng.choice(agents_all)
            else:
                agent = rng.choice(project.agents[_style(first.content)])
            goal = first.item.goal
            if goal is None and topic is not None and rng.random() < 0.5:
                goal = rng.choice(topic.goals)
            branch = "main" if rng.random() < 0.25 else f"{BRANCH_KIND[first.mtype]}/{task_id}"
            has_pr = first.mtype in (EF, DE) and branch != "main" and rng.random() < 0.5
            pr = rng.randint(200, 990) if has_pr else None
            task = {
                "id": task_id,
                "agent": agent,
                "goal": goal,
                "branch": branch,
                "pr": pr,
                "theme": theme,
                "topics": set(),
                "size": 0,
            }
            tasks.append(task)
        task["topics"].add(topic.slug if topic else None)
        task["size"] += len(unit)
        task["end"] = unit[-1].when
        for rec in unit:
            rec.out["task"] = task
            records.append(rec)

    records.sort(key=lambda r: r.when)
    lines: list[dict] = []
    for n, rec in enumerate(records, start=1):
        rec.rid = f"{project.prefix}-{n:04d}"
        item, task = rec.item, rec.out["task"]
        line: dict = {"id": rec.rid, "project_id": project.pid, "memory_type": rec.mtype}
        line["content"] = rec.content
        goal = item.goal or task["goal"]
        if goal:
            line["goal"] = goal
        result = item.result
        if result is None and rng.random() < 0.4:
            outcome = rec.success if rec.mtype == EF else None
            result = rng.choice(GENERIC_RESULTS[(rec.mtype, outcome)])
        if result:
            line["result"] = result
        feedback = item.feedback
        if feedback is None and rng.random() < FEEDBACK_RATE[rec.mtype]:
            feedback = _feedback(project, rng, rec.mtype, rec.success)
        if feedback:
            line["feedback"] = feedback
        if rng.random() < 0.65:
            line["tool_usage"] = _tools(rng, rec.mtype)
        line["task_id"] = task["id"]
        line["agent_id"] = task["agent"]
        line["success"] = rec.success
        if item.tags:
            tags = list(item.tags)
        else:
            pool = rec.topic.tags if rec.topic else ()
            picked = set(rng.sample(range(len(pool)), rng.choice((1, 2, 2, 3))))
            tags = [t for i, t in enumerate(pool) if i in picked]
        line["tags"] = tags
        files = {EF: (1, 6), DE: (0, 4)}.get(rec.mtype, (0, 2))
        metadata: dict = {"branch": task["branch"], "files_touched": rng.randint(*files)}
        if task["pr"]:
            metadata["pr"] = task["pr"]
        if rng.random() < 0.3:
            metadata["duration_s"] = rng.randint(40, 2400)
        line["metadata"] = metadata
        assert rec.when is not None
        line["created_at"] = rec.when.strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(line)

    key = _answer_key(seqs, pairs, records)
    return lines, key


def _answer_key(seqs, pairs, records: list[Rec]) -> dict:
    topics: dict[str, dict] = {}
    noise: list[str] = []
    exact: dict[str, list[str]] = {}
    near: dict[str, list[str]] = {}
    for topic, units in seqs:
        ids = sorted(rec.rid for unit in units for rec in unit)
        if topic is None:
            noise.extend(ids)
        else:
            topics[topic.slug] = {"theme": topic.theme, "memory_ids": ids}
    for rec in records:
        if rec.kind == "exact":
            exact.setdefault(rec.src.rid, [rec.src.rid]).append(rec.rid)
        elif rec.kind == "near":
            near.setdefault(rec.src.rid, [rec.src.rid]).append(rec.rid)
    assert not set(exact) & set(near), "an original has both exact and near copies"
    return {
        "topics": topics,
        "noise": sorted(noise),
        "exact_duplicate_groups": sorted(sorted(g) for g in exact.values()),
        "near_duplicate_groups": sorted(sorted(g) for g in near.values()),
        "must_not_merge_pairs": sorted(sorted([a.rid, b.rid]) for a, b in pairs),
    }


def _digits(text: str) -> list[str]:
    return re.findall(r"\d+", text)


def check(lines: list[dict], key: dict) -> None:
    """Invariants the generator guarantees; raises AssertionError when one breaks."""
    by_id = {line["id"]: line for line in lines}
    assert len(by_id) == len(lines)
    assert {line["memory_type"] for line in lines} == set(MEMORY_TYPES)
    for line in lines:
        assert 40 <= len(line["content"]) <= 400, (line["id"], len(line["content"]))
    covered = [i for t in key["topics"].values() for i in t["memory_ids"]] + key["noise"]
    assert sorted(covered) == sorted(by_id), "answer key must cover every id exactly once"
    grouped: set[str] = set()
    for group in key["exact_duplicate_groups"]:
        assert len({by_id[i]["content"] for i in group}) == 1, group
        grouped.update(group)
    seen: dict[str, str] = {}
    for line in lines:
        if line["id"] not in grouped:
            assert line["content"] not in seen, (seen.get(line["content"]), line["id"])
            seen[line["content"]] = line["id"]
    for group in key["near_duplicate_groups"]:
        base = by_id[group[0]]["content"]
        for other in group[1:]:
            text = by_id[other]["content"]
            assert text != base, other
            assert _digits(text) == _digits(base), other
            assert difflib.SequenceMatcher(None, base, text).ratio() >= 0.9, other
    for a, b in key["must_not_merge_pairs"]:
        assert by_id[a]["content"] != by_id[b]["content"], (a, b)


def _dump_jsonl(path: Path, lines: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")


def main() -> None:
    answer: dict = {"projects": {}}
    for offset, project in enumerate(PROJECTS):
        lines, key = build_project(project, SEED + offset)
        check(lines, key)
        _dump_jsonl(SAMPLE_DIR / f"{project.pid}.jsonl", lines)
        answer["projects"][project.pid] = key
        print(f"{project.pid}: {len(lines)} memories -> {SAMPLE_DIR / (project.pid + '.jsonl')}")
    ANSWER_KEY.parent.mkdir(parents=True, exist_ok=True)
    ANSWER_KEY.write_text(json.dumps(answer, indent=2) + "\n", encoding="utf-8")
    print(f"answer key -> {ANSWER_KEY}")


if __name__ == "__main__":
    main()
