-- eventstore.find_stored_batch(stream_id, expected_version, event_ids): recognises an
-- idempotent retry of an append whose events all carry ids.
--
-- Guarantees: no row when none of the ids is stored; the original append's result when
-- exactly these ids are stored in this stream, in this order, at consecutive versions
-- directly after expected_version (anywhere for NULL and -2; for -1 at version 0 or
-- directly after the stream's deletion, eventstore.delete_stream); ES412 when one of them is
-- stored in another stream; ES409 for any other (partial or out-of-place) match.
create or replace function eventstore.find_stored_batch(
    stream_id text,
    expected_version bigint,
    event_ids uuid[]
)
returns setof eventstore.append_result
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    v_found integer;
    v_offsets integer;
    v_first_version bigint;
    v_other_id uuid;
    v_other_stream text;
    v_result eventstore.append_result;
begin
    select e.event_id, e.stream_id
      into v_other_id, v_other_stream
      from eventstore.events e
     where e.event_id = any (find_stored_batch.event_ids)
       and e.stream_id <> find_stored_batch.stream_id
     limit 1;
    if found then
        if eventstore.raise_duplicate_event_id(v_other_id, v_other_stream) is null then end if;
    end if;

    select count(*), count(distinct e.version - x.n), min(e.version),
           max(e.version), min(e.global_position), max(e.global_position)
      into v_found, v_offsets, v_first_version,
           v_result.stream_version, v_result.first_position, v_result.last_position
      from unnest(find_stored_batch.event_ids) with ordinality as x(event_id, n)
      join eventstore.events e on e.event_id = x.event_id
     where e.stream_id = find_stored_batch.stream_id;

    if v_found = 0 then
        return;
    end if;
    if v_found < cardinality(find_stored_batch.event_ids)
       or v_offsets <> 1
       or (find_stored_batch.expected_version >= 0
           and v_first_version - 1 <> find_stored_batch.expected_version)
       or (find_stored_batch.expected_version = -1 and v_first_version <> 0
           -- -1 after eventstore.delete_stream appended directly after its placeholder
           and not exists (select from eventstore.stream_metadata m
                            where m.stream_id = find_stored_batch.stream_id
                              and m.deleted_version = v_first_version - 1)) then
        perform eventstore.raise_wrong_expected_version(
            find_stored_batch.stream_id, find_stored_batch.expected_version,
            format('%s of the %s event ids are already stored, but not as this batch directly after the expected version',
                   v_found, cardinality(find_stored_batch.event_ids)));
    end if;
    return next v_result;
end;
$$;

comment on function eventstore.find_stored_batch(text, bigint, uuid[]) is
    'Returns the original result of an append whose ids are all stored as one batch; raises ES409/ES412 on partial matches.';
