-- eventstore.list_scavenges(since, max_count): the audit record of eventstore.scavenge,
-- newest first.
--
-- Result: the rows of eventstore.scavenges (scavenge_id, scavenged_at, scavenged_by,
-- stream_id, rule, events_removed, first_version, last_version) recorded at or after
-- since (NULL: all), at most max_count of them, newest first.
-- Guarantees: read-only; ES400 for a max_count outside 1..100000. Callable by
-- eventstore_admin and eventstore_maintenance only.
create or replace function eventstore.list_scavenges(since timestamptz default null, max_count integer default 1000)
returns setof eventstore.scavenges
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
    perform eventstore.check_max_count(list_scavenges.max_count);
    return query
        select s.*
          from eventstore.scavenges s
         where list_scavenges.since is null or s.scavenged_at >= list_scavenges.since
         order by s.scavenge_id desc
         limit list_scavenges.max_count;
end;
$$;

comment on function eventstore.list_scavenges(timestamptz, integer) is
    'The scavenge audit (who, when, which stream, rule, how many events, which versions), newest first.';
