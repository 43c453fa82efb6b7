-- The router of a sharded store: the schema eventstore_router, its configuration tables
-- and PL/Proxy.
--
-- A router database holds the whole store (so its types and function signatures are the
-- shards' own) with the API functions replaced by routing ones (routed_functions.sql);
-- its own tables stay empty (refuse_local_write.sql). The configuration:
-- * eventstore_router.shards: one row per shard database, numbered from 0, with the libpq
--   connection string the router's server process connects with;
-- * eventstore_router.partitions: the partitions 0..N-1 (N a power of two), each held by
--   one shard. A stream lives in partition hashtext(stream_id) & (N-1)
--   (eventstore_router.partition_of), so moving a partition to another shard moves whole
--   streams, and adding shards moves partitions, never rehashes streams;
-- * eventstore_router.cluster: the configuration's version, raised by every change, so
--   every session's PL/Proxy reloads it on its next call.
create extension if not exists plproxy;

create schema if not exists eventstore_router;

comment on schema eventstore_router is
    'pgeventstore: the routing of a sharded store (PL/Proxy functions and their configuration)';

revoke all on schema eventstore_router from public;

create table if not exists eventstore_router.shards (
    shard integer primary key check (shard between 0 and 32767),
    connstr text not null
);

create table if not exists eventstore_router.partitions (
    partition integer primary key check (partition >= 0),
    shard integer not null references eventstore_router.shards
);

create table if not exists eventstore_router.cluster (
    version integer not null
);

revoke all on all tables in schema eventstore_router from public;
