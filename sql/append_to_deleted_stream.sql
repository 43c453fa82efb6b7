-- eventstore.append_to_deleted_stream(stream_id, events): append_to_stream's one-event
-- append expecting no stream (-1) when the stream's version 0 is taken.
--
-- Guarantees: when the stream was deleted (eventstore.delete_stream) and nothing was
-- appended since, appends the events after the deletion's placeholder, with
-- append_to_stream's result and guarantees, so the new versions follow the deleted
-- ones; ES410 for a tombstoned stream; otherwise ES409 with the stream's actual version,
-- as before the stream lifecycle existed.
create or replace function eventstore.append_to_deleted_stream(stream_id text, events jsonb)
returns eventstore.append_result
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_last bigint;
    v_last_position bigint;
begin
    select e.version, e.global_position
      into v_last, v_last_position
      from eventstore.events e
     where e.stream_id = append_to_deleted_stream.stream_id
     order by e.version desc
     limit 1;
    if eventstore.resolve_expected_version(append_to_deleted_stream.stream_id, -1,
                                           v_last, v_last_position) is null then end if;
    -- The placeholder's own version is an expectation that resolve_expected_version
    -- accepts; a writer that appended meanwhile makes it ES409.
    return eventstore.append_to_stream(append_to_deleted_stream.stream_id, v_last,
                                       append_to_deleted_stream.events);
end;
$$;

comment on function eventstore.append_to_deleted_stream(text, jsonb) is
    'An append expecting no stream whose version 0 is taken: continues after a deletion, ES410/ES409 otherwise.';
