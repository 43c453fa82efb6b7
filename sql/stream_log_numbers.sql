-- eventstore.stream_log_numbers(stream_id, from_version, to_version): the log numbers of
-- a stream's events from_version to to_version, in version order; when some have none
-- yet, after numbering what is readable (eventstore.number_log).
--
-- A writer that needs the log numbers of the events it appended (the eventsourcing
-- library's insert_events returns them) calls this after its transaction committed; it
-- numbers only when some of the range's events have no number yet.
-- Guarantees: one element per stored event of the range, in version order; an element is
-- NULL while that event has no number (a transaction older than it is still open, or on
-- a standby, a number not replicated yet): call again later. A number, once returned, is
-- final, and every event numbered later has a greater one. An empty array when the range
-- holds no event; ES400 for an invalid stream id or a NULL bound.
create or replace function eventstore.stream_log_numbers(stream_id text, from_version bigint, to_version bigint)
returns bigint[]
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_numbers bigint[];
begin
    perform eventstore.check_stream_id(stream_log_numbers.stream_id);
    if stream_log_numbers.from_version is null or stream_log_numbers.to_version is null then
        raise exception using
            errcode = 'ES400',
            message = 'from_version and to_version must not be NULL';
    end if;
    -- Numbering commits with this call's transaction, under numbering's lock: a writer
    -- whose events another caller numbered meanwhile (writers committing at once number
    -- each other's events) writes nothing and waits for no one.
    for i in 1..2 loop
        v_numbers := coalesce(
            (select array_agg(l.log_number order by e.version)
               from eventstore.events e
               left join eventstore.log l on l.global_position = e.global_position
              where e.stream_id = stream_log_numbers.stream_id
                and e.version between stream_log_numbers.from_version and stream_log_numbers.to_version),
            '{}');
        exit when array_position(v_numbers, null) is null or i = 2;
        if eventstore.number_log() is null then end if;
    end loop;
    return v_numbers;
end;
$$;

comment on function eventstore.stream_log_numbers(text, bigint, bigint) is
    'The log numbers of a stream''s events in a version range, in version order (NULL while not numbered).';
