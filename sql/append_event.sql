-- eventstore.append_event(stream_id, expected_version, type, data, metadata, event_id):
-- append one event without building a JSON array.
--
-- Guarantees: exactly the semantics, result and errors of eventstore.append_to_stream
-- with a one-event batch (it builds that batch and delegates). A NULL type is ES400;
-- a NULL data is stored as JSON null.
create or replace function eventstore.append_event(
    stream_id text,
    expected_version bigint,
    type text,
    data jsonb,
    metadata jsonb default null,
    event_id uuid default null
)
returns table (stream_version bigint, first_position bigint, last_position bigint)
language sql
volatile
set search_path = pg_catalog, pg_temp
begin atomic
    select a.stream_version, a.first_position, a.last_position
      from eventstore.append_to_stream(
               $1, $2,
               jsonb_build_array(jsonb_build_object(
                   'type', $3, 'data', coalesce($4, 'null'::jsonb), 'metadata', $5, 'id', $6))) a;
end;

comment on function eventstore.append_event(text, bigint, text, jsonb, jsonb, uuid) is
    'Appends one event; the same semantics, result and errors as append_to_stream with a one-event batch.';
