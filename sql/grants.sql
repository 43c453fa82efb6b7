-- Who may call what: the one home of every privilege in the eventstore schema.
-- Applied LAST (see install-order.txt), after every function file, on every install, so a
-- function added by any later file is covered without editing this one.
--
-- Guarantees, for every function of the schema, whatever file created it:
-- * nobody gets it through PUBLIC; eventstore_admin may execute it;
-- * eventstore_reader (and through membership writer and admin) may execute it when its
--   name is in the reader list below, eventstore_writer when it is in the writer list;
--   any other function (validation helpers, future maintenance) is admin-only;
-- * it runs as its owner (SECURITY DEFINER) with the search_path its file pinned (or, for
--   append_event, with every name qualified: see its header), so the roles reach the
--   tables only through the functions. Trigger functions stay SECURITY
--   INVOKER: they must see who changes the table (refuse_event_change checks it). So do
--   the rule functions in the inlined list: PostgreSQL inlines a SQL function into its
--   caller only when it is neither SECURITY DEFINER nor has a SET clause. They read no
--   table, and their SQL-standard bodies were bound to pg_catalog's objects when they were
--   created, so no search_path can redirect them.
-- And for every table and sequence: no role but the owner has any privilege.
-- A name in a list that no function has yet is simply not granted (other files may add it).
do $grants$
declare
    v_reader constant text[] := array[
        'category', 'version', 'stream_version', 'read_stream', 'load_snapshot', 'load_stream',
        'read_all', 'read_category', 'load_checkpoint', 'subscription_lag', 'is_processed',
        'list_streams', 'stats', 'consumer_group_member', 'number_log', 'log_head',
        'log_number_of', 'list_streams_before', 'read_shards',
        -- the eventsourcing library's persistence module
        'read_versioned', 'stream_log_numbers', 'category_head', 'max_tracking_id'];
    v_writer constant text[] := array[
        'append_to_stream', 'append_event', 'save_snapshot', 'save_checkpoint',
        -- the eventsourcing library's persistence module
        'append_versioned', 'record_tracking'];
    -- The stream lifecycle (issue 18): reading metadata is reading; setting it and the
    -- reversible soft delete are writing; tombstone_stream (final) stays admin-only, and
    -- scavenge with its audit is for admins and the maintenance role.
    v_lifecycle_reader constant text[] := array['get_stream_metadata'];
    v_lifecycle_writer constant text[] := array['set_stream_metadata', 'delete_stream'];
    v_maintenance constant text[] := array['scavenge', 'list_scavenges'];
    v_inlined constant text[] := array['category', 'consumer_group_member', 'stream_id_is_valid',
                                       'is_plain_batch', 'is_plain_event', 'notify_appended',
                                       'framed_xid', 'log_key', 'readable_data', 'stored_data', 'event_is_retired'];
    v_function record;
begin
    revoke all on schema eventstore from public;
    grant usage on schema eventstore to eventstore_reader, eventstore_maintenance;
    revoke all on all tables in schema eventstore
        from public, eventstore_reader, eventstore_writer, eventstore_admin, eventstore_maintenance;
    revoke all on all sequences in schema eventstore
        from public, eventstore_reader, eventstore_writer, eventstore_admin, eventstore_maintenance;

    for v_function in
        select p.oid::regprocedure as signature,
               p.proname::text as name,
               p.prorettype = 'trigger'::regtype as is_trigger
          from pg_catalog.pg_proc p
         where p.pronamespace = 'eventstore'::regnamespace
           and p.prokind in ('f', 'p')
    loop
        execute pg_catalog.format('alter routine %s security %s', v_function.signature,
                                  case when v_function.is_trigger or v_function.name = any (v_inlined)
                                       then 'invoker' else 'definer' end);
        execute pg_catalog.format(
            'revoke all on routine %s from public, eventstore_reader, eventstore_writer, eventstore_maintenance',
            v_function.signature);
        execute pg_catalog.format('grant execute on routine %s to eventstore_admin', v_function.signature);
        if v_function.name = any (v_reader) then
            execute pg_catalog.format('grant execute on routine %s to eventstore_reader', v_function.signature);
        elsif v_function.name = any (v_writer) then
            execute pg_catalog.format('grant execute on routine %s to eventstore_writer', v_function.signature);
        elsif v_function.name = any (v_lifecycle_reader) then
            execute pg_catalog.format('grant execute on routine %s to eventstore_reader', v_function.signature);
        elsif v_function.name = any (v_lifecycle_writer) then
            execute pg_catalog.format('grant execute on routine %s to eventstore_writer', v_function.signature);
        elsif v_function.name = any (v_maintenance) then
            execute pg_catalog.format('grant execute on routine %s to eventstore_maintenance', v_function.signature);
        end if;
    end loop;
end;
$grants$;
