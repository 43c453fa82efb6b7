-- eventstore.stream_lock_key(stream_id): the transaction-scoped advisory lock key that
-- every append to this stream takes before anything else (eventstore.append_to_stream).
--
-- Guarantees: a pure function of the stream id, so every session computes the same key;
-- other streams map to other keys (barring a 64-bit hash collision, which only costs a wait).
-- PL/pgSQL rather than SQL: a SQL function with a SET clause is never inlined, and each
-- statement that calls it parses and plans its body again; PL/pgSQL keeps it compiled
-- (docs/performance.md).
create or replace function eventstore.stream_lock_key(stream_id text)
returns bigint
language plpgsql
immutable
strict
parallel safe
set search_path = pg_catalog, pg_temp
as $$
begin
    return hashtextextended('eventstore.stream:' || $1, 0);
end;
$$;

comment on function eventstore.stream_lock_key(text) is
    'The advisory lock key (bigint) that every append to this stream takes for its transaction.';
