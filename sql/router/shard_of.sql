-- eventstore_router.shard_of(stream_id): the shard that holds a stream.
--
-- Guarantees: the shard its partition (eventstore_router.partition_of) is assigned to now.
create or replace function eventstore_router.shard_of(stream_id text)
returns integer
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select p.shard
      from eventstore_router.partitions p
     where p.partition = eventstore_router.partition_of(shard_of.stream_id);
$$;

comment on function eventstore_router.shard_of(text) is
    'The shard that holds a stream (by its partition).';
