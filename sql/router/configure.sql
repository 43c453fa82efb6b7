-- eventstore_router.configure(connstrs, partitions): the router's shards and partitions.
--
-- connstrs: the libpq connection string of each shard, shard 0 first, as the router's
-- server process connects (its password from a passfile that process may read).
-- partitions: how many partitions the streams are hashed into, a power of two from 1 to
-- 65536, at least the number of shards.
-- Guarantees: the first call assigns partition p to shard p % (number of shards). A later
-- call may change the connection strings and add shards (which then hold no partition
-- until eventstore_router.assign_partition moves some), never remove a shard or change the
-- number of partitions (that would move every stream): ES400, and nothing changes.
-- Raises the configuration's version, so every session routes by the new one at its next
-- call.
create or replace function eventstore_router.configure(connstrs text[], partitions integer)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_shards integer := coalesce(cardinality(configure.connstrs), 0);
    v_known integer;
    v_partitions integer;
begin
    if v_shards = 0 or array_position(configure.connstrs, null) is not null then
        raise exception using
            errcode = 'ES400',
            message = 'a sharded store needs at least one shard connection string, none NULL',
            hint = 'Pass the connection string of every shard, shard 0 first.';
    end if;
    if configure.partitions is null or configure.partitions not between 1 and 65536
       or configure.partitions & (configure.partitions - 1) <> 0
       or configure.partitions < v_shards then
        raise exception using
            errcode = 'ES400',
            message = format('partitions must be a power of two from 1 to 65536 and at least the %s shards, got %s',
                             v_shards, coalesce(configure.partitions::text, 'NULL')),
            hint = 'Choose many partitions per shard (e.g. 256), so that shards added later take whole partitions.';
    end if;
    lock table eventstore_router.shards, eventstore_router.partitions, eventstore_router.cluster
        in exclusive mode;
    select count(*) into v_known from eventstore_router.shards;
    select count(*) into v_partitions from eventstore_router.partitions;
    if v_known > v_shards then
        raise exception using
            errcode = 'ES400',
            message = format('the router has %s shards; a configuration cannot remove any, got %s',
                             v_known, v_shards),
            hint = 'Move a shard''s partitions away (eventstore_router.assign_partition) before retiring it.';
    end if;
    if v_partitions not in (0, configure.partitions) then
        raise exception using
            errcode = 'ES400',
            message = format('the router has %s partitions; changing that to %s would move every stream',
                             v_partitions, configure.partitions),
            hint = 'Keep the number of partitions; add shards and move partitions to them instead.';
    end if;
    insert into eventstore_router.shards (shard, connstr)
    select c.n - 1, c.connstr
      from unnest(configure.connstrs) with ordinality as c(connstr, n)
    on conflict (shard) do update set connstr = excluded.connstr;
    if v_partitions = 0 then
        insert into eventstore_router.partitions (partition, shard)
        select p, p % v_shards from generate_series(0, configure.partitions - 1) as p;
    end if;
    update eventstore_router.cluster set version = version + 1;
    if not found then
        insert into eventstore_router.cluster (version) values (1);
    end if;
end;
$$;

comment on function eventstore_router.configure(text[], integer) is
    'Sets the shards'' connection strings and, the first time, assigns the partitions to them.';
