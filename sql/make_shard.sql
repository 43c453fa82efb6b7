-- eventstore.make_shard(shard): make this store shard number `shard` of a sharded store.
--
-- Guarantees: the events appended here from now on get global positions in this shard's
-- range, shard * 2^48 + 1 to (shard + 1) * 2^48, so global positions stay unique across
-- up to 32768 shards (each keeps its own order; there is no order across shards).
-- Running it again changes nothing. ES400 for a shard outside 0..32767, or when this
-- store already holds an event outside that range (a store with events can become shard 0
-- only, whose range its positions are in).
create or replace function eventstore.make_shard(shard integer)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_first bigint;
    v_last bigint;
    v_low bigint;
    v_high bigint;
begin
    if make_shard.shard is null or make_shard.shard not between 0 and 32767 then
        raise exception using
            errcode = 'ES400',
            message = format('shard must be between 0 and 32767, got %s', coalesce(make_shard.shard::text, 'NULL')),
            hint = 'Number the shards 0, 1, 2, ... in the order the router lists them.';
    end if;
    v_low := make_shard.shard::bigint << 48;
    v_high := v_low + (1::bigint << 48);
    lock table eventstore.events in share row exclusive mode;
    -- Rows at negative positions are the stream lifecycle's placeholders, not events.
    select min(e.global_position), max(e.global_position) into v_first, v_last
      from eventstore.events e
     where e.global_position > 0;
    if v_first <= v_low or v_last > v_high then
        raise exception using
            errcode = 'ES400',
            message = format('this store holds events at global positions %s to %s, outside the range of shard %s',
                             v_first, v_last, make_shard.shard),
            hint = 'Make an empty store a shard; a store with events can only be shard 0.';
    end if;
    if coalesce(v_last, v_low) = v_low then
        execute format('alter table eventstore.events alter column global_position restart with %s', v_low + 1);
    end if;
end;
$$;

comment on function eventstore.make_shard(integer) is
    'Gives this store''s new events the global positions of one shard of a sharded store.';
