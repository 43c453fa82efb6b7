-- eventstore_router.partition_of(stream_id): the partition a stream lives in.
--
-- Guarantees: the partition is hashtext(stream_id) & (number of partitions - 1), exactly
-- as the routed functions' RUN ON pg_catalog.hashtext(stream_id) picks it (PL/Proxy masks
-- the hash with the partition count); a NULL or invalid stream id goes to partition 0,
-- whose shard then refuses it as the unsharded store does.
create or replace function eventstore_router.partition_of(stream_id text)
returns integer
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select coalesce(pg_catalog.hashtext(partition_of.stream_id), 0) & (count(*)::integer - 1)
      from eventstore_router.partitions;
$$;

comment on function eventstore_router.partition_of(text) is
    'The partition of a stream: hashtext(stream_id) masked by the number of partitions.';
