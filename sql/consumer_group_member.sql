-- eventstore.consumer_group_member(stream_id, group_size): which member (0-based) of a
-- consumer group of group_size members receives the stream.
--
-- The rule, so any language can compute it: hashtextextended(stream_id, 0), PostgreSQL's
-- 64-bit text hash (also used by hash partitioning, stable across releases), modulo
-- group_size, made non-negative. Guarantees: a pure function of its arguments, so every
-- stream goes to exactly one member and stays there while the group size is unchanged.
-- NULL when group_size is NULL or below 1 (eventstore.read_category rejects such sizes
-- with ES400 before it asks).
-- Inlined into its callers, as read_category tests it for every event it scans: a
-- SQL-standard body (its names are bound when it is created), no SET clause and SECURITY
-- INVOKER (grants.sql keeps it so).
create or replace function eventstore.consumer_group_member(stream_id text, group_size integer)
returns integer
language sql
immutable
parallel safe
return case
    when $2 operator(pg_catalog.>=) 1
        then pg_catalog.int4(
            ((pg_catalog.hashtextextended($1, 0) operator(pg_catalog.%) $2) operator(pg_catalog.+) $2)
            operator(pg_catalog.%) $2)
end;

comment on function eventstore.consumer_group_member(text, integer) is
    'The 0-based member of a consumer group of group_size that receives the stream: hashtextextended(stream_id, 0) mod group_size.';
