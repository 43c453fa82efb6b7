-- eventstore.scavenge(max_events, dry_run): physically remove events that stream
-- metadata, deletions and tombstones made unreadable; one bounded batch per call.
--
-- Which events: of each stream with a row in eventstore.stream_metadata, the longest
-- prefix of its versions (from where the last scavenge stopped) whose events are all
-- unreadable (the rules of eventstore.stream_read_bounds; all of a tombstoned stream)
-- and already numbered in the global log (eventstore.number_log runs first). Removing a
-- prefix only means a reader never sees a later version of a stream vanish before an
-- earlier one, and the stream's scavenged_before records it: those versions stay
-- unreadable even if the metadata is relaxed later.
-- Guarantees:
-- * Online: each call removes at most max_events events (1..100000) and commits with the
--   caller's transaction; appends and reads go on meanwhile and never wait for it, except
--   set_stream_metadata, delete_stream and tombstone_stream on a stream it is processing
--   (it locks that stream's eventstore.stream_metadata row; concurrent scavenges skip it).
--   Call it until it returns no row (pgeventstore scavenge does).
-- * Readers never notice: the removed events were unreadable already; their rows in
--   eventstore.log stay, so a cursor or checkpoint naming one stays valid and continues
--   with the next readable event (check_log_cursor, load_checkpoint, save_checkpoint),
--   and log numbers, subscription_lag and log_head do not change.
-- * Versions stay taken: where it removes a stream's version 0 or its last row it leaves
--   a '$scavenged' placeholder (no data) at that version, so appends expecting -1 fail
--   and versions continue. Snapshots older than what it removed are removed too.
-- * Goes through the immutability rule's admin path (eventstore.permit_event_change, for
--   this call's statements only; the function's owner must be a member of
--   eventstore_admin). Callable by eventstore_admin and eventstore_maintenance only.
-- * Every batch records, per stream and rule, who, when, how many events and which
--   versions in eventstore.scavenges (eventstore.list_scavenges); the rows it returns
--   are the same. The rule is the first of tombstone, delete, truncate_before, max_count,
--   max_age that makes an event unreadable.
-- * dry_run: removes, locks and records nothing; returns everything a run of scavenges
--   would remove now (max_events is then not a bound).
-- ES400 for a max_events outside 1..100000 or a NULL dry_run.
create or replace function eventstore.scavenge(max_events integer default 10000, dry_run boolean default false)
returns table (
    stream_id text,
    rule text,
    events_removed bigint,
    first_version bigint,
    last_version bigint
)
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_budget bigint := scavenge.max_events;
    v_stream eventstore.stream_metadata;
    v_last bigint;
    v_row record;
    v_remove bigint[];
    v_stubs bigint[];
    v_before bigint;
    v_permit text;
    v_streams text[] := '{}';
    v_rules text[] := '{}';
    v_versions bigint[] := '{}';
begin
    perform eventstore.check_max_count(scavenge.max_events);
    if scavenge.dry_run is null then
        raise exception using errcode = 'ES400', message = 'dry_run must be true or false, not NULL';
    end if;
    if scavenge.dry_run then
        v_budget := 9223372036854775807;
    end if;
    if eventstore.number_log() is null then end if;
    for v_stream in
        select m.*
          from eventstore.stream_metadata m
         where m.tombstoned or m.deleted_version is not null or m.truncate_before is not null
            or m.max_count is not null or m.max_age is not null
         order by m.stream_id
    loop
        exit when v_budget <= 0;
        if not scavenge.dry_run then
            -- The current row, locked: set_stream_metadata cannot relax the rules while
            -- this batch removes what they hide.
            select m.* into v_stream from eventstore.stream_metadata m
             where m.stream_id = v_stream.stream_id
               for update skip locked;
            continue when not found;
        end if;
        select e.version into v_last from eventstore.events e
         where e.stream_id = v_stream.stream_id order by e.version desc limit 1;
        continue when v_last is null;
        v_before := v_stream.scavenged_before;
        v_remove := '{}';
        v_stubs := '{}';
        for v_row in
            select e.version, e.global_position, e.recorded_at,
                   case when v_stream.tombstoned then 'tombstone'
                        when e.version <= v_stream.deleted_version then 'delete'
                        when e.version < v_stream.truncate_before then 'truncate_before'
                        when e.version <= v_last - v_stream.max_count then 'max_count'
                        when e.recorded_at < now() - v_stream.max_age then 'max_age'
                   end as rule,
                   e.global_position < 0
                   or exists (select from eventstore.log l where l.global_position = e.global_position) as numbered
              from eventstore.events e
             where e.stream_id = v_stream.stream_id
               and e.version >= v_stream.scavenged_before
             order by e.version
             limit v_budget
        loop
            exit when v_row.rule is null or not v_row.numbered or v_budget <= 0;
            if v_row.global_position < 0 then
                -- A placeholder is no event: it costs no budget, and one at version 0 or
                -- at the last version stays (it keeps that version taken).
                if v_row.version not in (0, v_last) then
                    v_remove := v_remove || v_row.global_position;
                end if;
            else
                v_remove := v_remove || v_row.global_position;
                if v_row.version in (0, v_last) then
                    v_stubs := v_stubs || v_row.global_position;
                end if;
                v_streams := v_streams || v_stream.stream_id;
                v_rules := v_rules || v_row.rule;
                v_versions := v_versions || v_row.version;
                v_budget := v_budget - 1;
            end if;
            v_before := v_row.version + 1;
        end loop;
        continue when scavenge.dry_run or v_before = v_stream.scavenged_before;

        v_permit := current_setting('eventstore.permit_event_change', true);
        perform set_config('eventstore.permit_event_change', 'on', true);
        -- The placeholders take the removed rows' versions and times, in the same statement
        -- (a row this statement deleted no longer holds its key).
        with removed as (
            -- Found through the stream (events have no index on the position alone).
            delete from eventstore.events e
             where e.stream_id = v_stream.stream_id
               and e.global_position = any (v_remove)
            returning e.stream_id, e.version, e.recorded_at, e.global_position
        )
        insert into eventstore.events
            (global_position, stream_id, version, event_id, event_type, data, transaction_id, recorded_at)
        overriding system value
        select -nextval('eventstore.events_global_position_seq'), r.stream_id, r.version,
               gen_random_uuid(), '$scavenged', 'null'::jsonb, '0'::xid8, r.recorded_at
          from removed r
         where r.global_position = any (v_stubs);
        perform set_config('eventstore.permit_event_change', coalesce(v_permit, ''), true);
        update eventstore.stream_metadata m
           set scavenged_before = v_before, updated_at = now()
         where m.stream_id = v_stream.stream_id;
        delete from eventstore.snapshots s where s.stream_id = v_stream.stream_id and s.version < v_before;
    end loop;

    if not scavenge.dry_run then
        insert into eventstore.scavenges (stream_id, rule, events_removed, first_version, last_version)
        select b.stream_id, b.rule, count(*), min(b.version), max(b.version)
          from unnest(v_streams, v_rules, v_versions) as b(stream_id, rule, version)
         group by b.stream_id, b.rule
         order by b.stream_id, min(b.version);
    end if;
    return query
        select b.stream_id, b.rule, count(*), min(b.version), max(b.version)
          from unnest(v_streams, v_rules, v_versions) as b(stream_id, rule, version)
         group by b.stream_id, b.rule
         order by b.stream_id collate "C", min(b.version);
end;
$$;

comment on function eventstore.scavenge(integer, boolean) is
    'Removes up to max_events unreadable, numbered events (metadata, deletions, tombstones) and records it; dry_run only reports.';
