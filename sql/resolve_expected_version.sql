-- eventstore.resolve_expected_version(stream_id, expected_version, last_version,
-- last_position): append_to_stream's answer when the expected version does not match the
-- stream's last row, or that row is a placeholder (global position below 0).
--
-- Guarantees: returns, letting the append go on after the last row, exactly when the
-- last row is a placeholder and the expected version matches the stream's version as
-- eventstore.placeholder_version gives it (-1 after a deletion, the version after a
-- scavenge), or is NULL, or is the placeholder's own version (the version
-- eventstore.delete_stream returned). Raises ES410 for a tombstoned stream and ES409
-- (eventstore.raise_wrong_expected_version, with the stream's version as actual) for
-- every other mismatch. Appends whose expectation matches an event reach it never.
create or replace function eventstore.resolve_expected_version(
    stream_id text,
    expected_version bigint,
    last_version bigint,
    last_position bigint
)
returns void
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    v_actual bigint := resolve_expected_version.last_version;
begin
    if resolve_expected_version.last_position < 0 then
        v_actual := eventstore.placeholder_version(
            resolve_expected_version.stream_id, resolve_expected_version.last_version,
            (select e.event_type
               from eventstore.events e
              where e.stream_id = resolve_expected_version.stream_id
                and e.version = resolve_expected_version.last_version));
        if resolve_expected_version.expected_version is null
           or resolve_expected_version.expected_version in (v_actual, resolve_expected_version.last_version)
           or (resolve_expected_version.expected_version = -2 and v_actual >= 0) then
            return;
        end if;
    end if;
    if eventstore.raise_wrong_expected_version(resolve_expected_version.stream_id,
                                               resolve_expected_version.expected_version,
                                               null, v_actual) is null then end if;
end;
$$;

comment on function eventstore.resolve_expected_version(text, bigint, bigint, bigint) is
    'Lets an append go on after a deletion or scavenge placeholder when its expectation matches; ES410 for a tombstone, ES409 otherwise.';
