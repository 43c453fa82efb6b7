-- eventstore.raise_duplicate_event_id(event_id, stream_id): raises ES412 for an event id
-- that is already stored, in the stream given.
--
-- Guarantees: always raises. The message names the id and the stream that holds it;
-- DETAIL is a JSON object {"event_id", "stream_id"}; the hint says when an id may be
-- reused (only to retry the very same append).
create or replace function eventstore.raise_duplicate_event_id(event_id uuid, stream_id text)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
    raise exception using
        errcode = 'ES412',
        message = format('event id %s is already stored in stream %s', $1, quote_literal($2)),
        detail = json_build_object('event_id', $1, 'stream_id', $2)::text,
        hint = 'Give every new event a fresh id; reuse an id only to retry the very same append.';
end;
$$;

comment on function eventstore.raise_duplicate_event_id(uuid, text) is
    'Raises ES412 for an event id already stored, naming the stream that holds it.';
