-- eventstore.stream_lock_key(stream_id): the transaction-scoped advisory lock key that
-- every append to this stream takes before anything else (eventstore.append_to_stream).
--
-- Guarantees: a pure function of the stream id, so every session computes the same key;
-- other streams map to other keys (barring a 64-bit hash collision, which only costs a wait).
create or replace function eventstore.stream_lock_key(stream_id text)
returns bigint
language sql
immutable
strict
parallel safe
set search_path = pg_catalog, pg_temp
return hashtextextended('eventstore.stream:' || $1, 0);

comment on function eventstore.stream_lock_key(text) is
    'The advisory lock key (bigint) that every append to this stream takes for its transaction.';
