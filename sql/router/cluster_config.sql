-- PL/Proxy's cluster configuration API for the cluster 'eventstore', read from the
-- tables of router_schema.sql.
--
-- Guarantees: get_cluster_partitions lists the connection string of each partition's
-- shard in partition order (PL/Proxy refuses a count that is not a power of two);
-- get_cluster_version returns eventstore_router.cluster's version, so a change made by
-- eventstore_router.configure or assign_partition reaches every session at its next call;
-- any other cluster name is an error. get_cluster_config sets nothing: PL/Proxy's
-- defaults apply.
create schema if not exists plproxy;

revoke all on schema plproxy from public;

create or replace function plproxy.get_cluster_version(cluster_name text)
returns integer
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    v_version integer;
begin
    if get_cluster_version.cluster_name <> 'eventstore' then
        raise exception 'no PL/Proxy cluster %', get_cluster_version.cluster_name;
    end if;
    select c.version into v_version from eventstore_router.cluster c;
    if v_version is null then
        raise exception using
            errcode = 'ES400',
            message = 'the router has no shards configured',
            hint = 'Run pgeventstore shard init with the shards'' DSNs.';
    end if;
    return v_version;
end;
$$;

create or replace function plproxy.get_cluster_partitions(cluster_name text)
returns setof text
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select s.connstr
      from eventstore_router.partitions p
      join eventstore_router.shards s on s.shard = p.shard
     where get_cluster_partitions.cluster_name = 'eventstore'
     order by p.partition;
$$;

create or replace function plproxy.get_cluster_config(in cluster_name text, out key text, out val text)
returns setof record
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select null::text, null::text where false;
$$;

revoke all on all functions in schema plproxy from public;
