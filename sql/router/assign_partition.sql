-- eventstore_router.assign_partition(partition, shard): route a partition to a shard.
--
-- Guarantees: from the next call of every session on, the streams of the partition are
-- read and written on the shard given. It moves no data: the resharding procedure
-- (docs/scaling.md) copies the partition's streams first, with writes to them stopped.
-- ES400 for a partition or shard the router does not have.
create or replace function eventstore_router.assign_partition(partition integer, shard integer)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
    if not exists (select from eventstore_router.shards s where s.shard = assign_partition.shard) then
        raise exception using
            errcode = 'ES400',
            message = format('the router has no shard %s', coalesce(assign_partition.shard::text, 'NULL')),
            hint = 'Add the shard first: eventstore_router.configure with every shard''s connection string.';
    end if;
    update eventstore_router.partitions p set shard = assign_partition.shard
     where p.partition = assign_partition.partition;
    if not found then
        raise exception using
            errcode = 'ES400',
            message = format('the router has no partition %s', coalesce(assign_partition.partition::text, 'NULL')),
            hint = 'Partitions are numbered from 0 to the number of partitions - 1.';
    end if;
    update eventstore_router.cluster set version = version + 1;
end;
$$;

comment on function eventstore_router.assign_partition(integer, integer) is
    'Routes one partition to another shard (moves no data).';
