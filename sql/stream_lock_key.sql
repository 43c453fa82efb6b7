-- eventstore.stream_lock_key(stream_id): the transaction-scoped advisory lock key that
-- every append to this stream takes before it reads the stream (eventstore.append_to_stream).
--
-- Guarantees: a pure function of the stream id, so every session computes the same key;
-- other streams map to other keys (barring a 64-bit hash collision, which only costs a wait).
-- Inlined into its callers: a SQL-standard body (names bound when it is created, so
-- search_path cannot redirect them), no SET clause and SECURITY INVOKER (grants.sql keeps
-- it so); as a called function it cost more than the lock (docs/performance.md).
create or replace function eventstore.stream_lock_key(stream_id text)
returns bigint
language sql
immutable
parallel safe
return pg_catalog.hashtextextended('eventstore.stream:' operator(pg_catalog.||) $1, 0);

comment on function eventstore.stream_lock_key(text) is
    'The advisory lock key (bigint) that every append to this stream takes for its transaction.';
