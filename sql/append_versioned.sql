-- eventstore.append_versioned(stream_id, events): append a batch whose events carry their
-- own version numbers, strictly increasing, in metadata.originator_version.
--
-- The persistence module of Python's eventsourcing library writes through this: that
-- library numbers an aggregate's events itself with any unique integers (1, 2, 3 ... for
-- its aggregates; sparse for snapshots), while a stream's versions here are 0-based and
-- gapless. Each event keeps the library's number in metadata.originator_version and gets
-- the stream's next version as usual.
-- Guarantees:
-- * Every event's metadata.originator_version is a JSON integer between -2^63 and
--   2^63 - 1, the batch's are strictly increasing, and the first is above that of the
--   stream's last event; otherwise nothing is written: ES400 for a missing or malformed
--   number, ES409 for one not above its predecessor (the number is taken, or a newer one
--   is stored: a concurrent writer won). So within a stream the numbers are unique and
--   increase with the versions (eventstore.read_versioned relies on it).
-- * The batch is appended by eventstore.append_to_stream with the stream's last version as
--   expected_version: all or nothing, with its result, its validation (ES400, ES412) and
--   ES409 when another writer appended in between.
-- * ES409 (DETAIL as append_to_stream's) also when the stream's last event has no
--   originator_version: the stream was not written through this function.
create or replace function eventstore.append_versioned(stream_id text, events jsonb)
returns eventstore.append_result
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_version bigint;
    v_metadata jsonb;
    v_previous numeric;
    v_bad record;
begin
    if jsonb_typeof(append_versioned.events) is distinct from 'array' then
        raise exception using
            errcode = 'ES400',
            message = 'events must be a JSON array',
            hint = 'Pass [{"type": ..., "data": ..., "metadata": {"originator_version": n}}, ...].';
    end if;
    select e.version, e.metadata into v_version, v_metadata
      from eventstore.events e
     where e.stream_id = append_versioned.stream_id
     order by e.version desc
     limit 1;
    if found then
        if jsonb_typeof(v_metadata -> 'originator_version') is distinct from 'number' then
            raise exception using
                errcode = 'ES409',
                message = format('stream %s was not written by eventstore.append_versioned: its last event has '
                                 'no metadata.originator_version', quote_literal(append_versioned.stream_id)),
                detail = json_build_object('stream_id', append_versioned.stream_id,
                                           'expected_version', null, 'actual_version', v_version)::text,
                hint = 'Append to this stream with eventstore.append_to_stream.';
        end if;
        v_previous := (v_metadata -> 'originator_version')::numeric;
    end if;

    -- One statement finds the first event whose number is malformed or not above the one
    -- before it (the stream's last, for the first event).
    select b.n, b.given, b.number, coalesce(b.before, v_previous) as before into v_bad
      from (select x.n, x.event #> '{metadata,originator_version}' as given,
                   case when jsonb_typeof(x.event #> '{metadata,originator_version}') = 'number'
                        then (x.event #> '{metadata,originator_version}')::numeric end as number,
                   lag(case when jsonb_typeof(x.event #> '{metadata,originator_version}') = 'number'
                            then (x.event #> '{metadata,originator_version}')::numeric end)
                       over (order by x.n) as before
              from jsonb_array_elements(append_versioned.events) with ordinality as x(event, n)) b
     where b.number is null
        or b.number <> trunc(b.number)
        or b.number not between -9223372036854775808 and 9223372036854775807
        or b.number <= coalesce(b.before, v_previous)
     order by b.n
     limit 1;
    if found then
        if v_bad.number is null or v_bad.number <> trunc(v_bad.number)
           or v_bad.number not between -9223372036854775808 and 9223372036854775807 then
            raise exception using
                errcode = 'ES400',
                message = format('event %s: metadata.originator_version must be an integer between -2^63 and '
                                 '2^63 - 1, got %s', v_bad.n, coalesce(v_bad.given::text, 'nothing')),
                hint = 'Give every event its version number in metadata.originator_version.';
        end if;
        raise exception using
            errcode = 'ES409',
            message = format('stream %s: originator version %s of event %s is not above %s',
                             quote_literal(append_versioned.stream_id), v_bad.number, v_bad.n, v_bad.before),
            detail = json_build_object('stream_id', append_versioned.stream_id,
                                       'expected_version', null,
                                       'actual_version', coalesce(v_version, -1))::text,
            hint = 'That version is stored (or a newer one is): reload the aggregate and decide again.';
    end if;

    return eventstore.append_to_stream(append_versioned.stream_id, coalesce(v_version, -1),
                                       append_versioned.events);
end;
$$;

comment on function eventstore.append_versioned(text, jsonb) is
    'Appends a batch whose events carry strictly increasing metadata.originator_version numbers, after the stream''s last one.';
