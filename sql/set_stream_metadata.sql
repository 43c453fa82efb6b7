-- eventstore.set_stream_metadata(stream_id, metadata, expected_metadata_version): store a
-- stream's metadata, replacing the previous object; returns its new metadata version.
--
-- metadata is a JSON object. Reserved keys (a JSON null leaves the rule unset):
-- * max_count: an integer >= 1: only the stream's newest max_count versions are readable;
-- * max_age: an interval as a string ('30 days', 'PT12H', ...), above zero: events
--   recorded longer ago than that are not readable;
-- * truncate_before: an integer >= 0: versions below it are not readable.
-- Every other key is the application's and is stored as given.
-- expected_metadata_version: NULL any; -1 no metadata stored yet; n >= 0 the stored
-- metadata version must be exactly n. The first stored metadata has version 0.
-- Guarantees: the rules apply to every read from the commit on (eventstore.stream_read_bounds);
-- the stream need not exist. Two writers with the same expectation: one wins, the other
-- gets ES409 (DETAIL: stream_id, expected_version, actual_version, all of the metadata).
-- ES400 for an invalid stream id, a metadata value that is not an object, an invalid
-- reserved key (the message names it) or an expected version below -1; ES410 for a
-- tombstoned stream.
create or replace function eventstore.set_stream_metadata(
    stream_id text,
    metadata jsonb,
    expected_metadata_version bigint default null
)
returns bigint
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_max_count bigint;
    v_max_age interval;
    v_truncate_before bigint;
    v_key text;
    v_current eventstore.stream_metadata;
    v_version bigint;
begin
    perform eventstore.check_stream_id(set_stream_metadata.stream_id);
    if set_stream_metadata.metadata is null or jsonb_typeof(set_stream_metadata.metadata) <> 'object' then
        raise exception using
            errcode = 'ES400',
            message = format('stream metadata must be a JSON object, got %s',
                             coalesce(jsonb_typeof(set_stream_metadata.metadata), 'NULL')),
            hint = 'Pass an object such as {"max_count": 100}; {} clears every rule.';
    end if;
    if set_stream_metadata.expected_metadata_version < -1 then
        raise exception using
            errcode = 'ES400',
            message = format('expected metadata version must be NULL, -1 or >= 0, got %s',
                             set_stream_metadata.expected_metadata_version),
            hint = 'Use NULL for any, -1 for no metadata yet, or the metadata version get_stream_metadata returned.';
    end if;
    foreach v_key in array array['max_count', 'truncate_before'] loop
        if set_stream_metadata.metadata -> v_key is not null
           and set_stream_metadata.metadata -> v_key <> 'null'::jsonb
           and (jsonb_typeof(set_stream_metadata.metadata -> v_key) <> 'number'
                or (set_stream_metadata.metadata ->> v_key)::numeric
                   <> trunc((set_stream_metadata.metadata ->> v_key)::numeric)
                or (set_stream_metadata.metadata ->> v_key)::numeric
                   not between (case v_key when 'max_count' then 1 else 0 end) and 9223372036854775807) then
            raise exception using
                errcode = 'ES400',
                message = format('stream metadata key %s must be an integer >= %s, got %s',
                                 v_key, case v_key when 'max_count' then 1 else 0 end,
                                 set_stream_metadata.metadata -> v_key),
                hint = 'Reserved keys: max_count (integer >= 1), max_age (an interval such as ''30 days''), '
                       'truncate_before (integer >= 0).';
        end if;
    end loop;
    v_max_count := nullif(set_stream_metadata.metadata -> 'max_count', 'null'::jsonb)::text::numeric;
    v_truncate_before := nullif(set_stream_metadata.metadata -> 'truncate_before', 'null'::jsonb)::text::numeric;
    if set_stream_metadata.metadata -> 'max_age' is not null
       and set_stream_metadata.metadata -> 'max_age' <> 'null'::jsonb then
        begin
            if jsonb_typeof(set_stream_metadata.metadata -> 'max_age') <> 'string' then
                raise sqlstate '22007';
            end if;
            v_max_age := (set_stream_metadata.metadata ->> 'max_age')::interval;
        exception when sqlstate '22007' or sqlstate '22008' or sqlstate '22015' or sqlstate '22P02' then
            v_max_age := null;
        end;
        if v_max_age is null or v_max_age <= interval '0' then
            raise exception using
                errcode = 'ES400',
                message = format('stream metadata key max_age must be an interval above zero as a string, got %s',
                                 set_stream_metadata.metadata -> 'max_age'),
                hint = 'For example "30 days", "12 hours" or "P30D".';
        end if;
    end if;

    -- The row exists once anything of the stream's lifecycle was stored: insert the first
    -- one, then change it only where the expectation holds.
    insert into eventstore.stream_metadata as m (stream_id)
    values (set_stream_metadata.stream_id)
    on conflict do nothing;
    update eventstore.stream_metadata m
       set metadata = set_stream_metadata.metadata,
           metadata_version = m.metadata_version + 1,
           max_count = v_max_count,
           max_age = v_max_age,
           truncate_before = v_truncate_before,
           updated_at = now()
     where m.stream_id = set_stream_metadata.stream_id
       and not m.tombstoned
       and (set_stream_metadata.expected_metadata_version is null
            or m.metadata_version = set_stream_metadata.expected_metadata_version)
    returning m.metadata_version into v_version;
    if found then
        return v_version;
    end if;
    select m.* into v_current
      from eventstore.stream_metadata m
     where m.stream_id = set_stream_metadata.stream_id;
    if v_current.tombstoned then
        if eventstore.placeholder_version(set_stream_metadata.stream_id, null, '$tombstone') is null then end if;
    end if;
    raise exception using
        errcode = 'ES409',
        message = format('wrong expected metadata version for stream %s: expected %s, actual %s',
                         quote_literal(set_stream_metadata.stream_id),
                         set_stream_metadata.expected_metadata_version, v_current.metadata_version),
        detail = json_build_object('stream_id', set_stream_metadata.stream_id,
                                   'expected_version', set_stream_metadata.expected_metadata_version,
                                   'actual_version', v_current.metadata_version)::text,
        hint = 'Read the metadata again (get_stream_metadata), decide again, and set it with that metadata version.';
end;
$$;

comment on function eventstore.set_stream_metadata(text, jsonb, bigint) is
    'Replaces a stream''s metadata (reserved keys max_count, max_age, truncate_before) if its metadata version matches; returns the new one.';
