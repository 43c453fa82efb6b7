-- eventstore_router.refuse_on_router(name): raises ES501 for a function of the store that
-- has no single answer on the router of a sharded store.
--
-- Guarantees: always raises. The global log, its numbers and cursors, checkpoints and
-- subscriptions are per shard (each shard is a complete store with a log of its own), so
-- their functions are called on each shard, or, for the merged log, through
-- eventstore.read_shards; the hint says so. routed_functions.sql installs the router's
-- versions of those functions, which call this one.
create or replace function eventstore_router.refuse_on_router(name text)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
    raise exception using
        errcode = 'ES501',
        message = format('eventstore.%s has no single answer on the router of a sharded store', refuse_on_router.name),
        hint = 'Call it on each shard (every shard is a complete store with its own global log, '
               'checkpoints and subscriptions), or read the merged log with eventstore.read_shards.';
end;
$$;

comment on function eventstore_router.refuse_on_router(text) is
    'Raises ES501: this function of the store is per shard and is not answered by the router.';
