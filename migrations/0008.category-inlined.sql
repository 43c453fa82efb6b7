-- 0008: eventstore.category is inlined wherever it is used, in events_category_idx too.
--
-- PostgreSQL inlines a SQL function into the expression that calls it only when the
-- function has no SET clause and is not SECURITY DEFINER. category had both, so every
-- event inserted ran it as a function of its own to compute the index key: the SQL
-- function machinery read and planned its body again for every insert, about 68,000
-- instructions of a one-event append's ~440,000 (docs/performance.md, round 4). Its body
-- is SQL-standard, bound to pg_catalog.split_part when 0001 created it, so no search_path
-- can redirect it, and it reads no table; grants.sql now lists it with the other inlined
-- rules, which run as the caller. The index needs no rebuild: its values do not change.
alter function eventstore.category(text) reset search_path;

-- A session keeps the index's key expression as it first read it, not inlined, until the
-- index's cache entry is invalidated; a query's category condition, inlined from now on,
-- would then no longer match the index in sessions that outlive the upgrade. Setting the
-- key column's statistics target to its default changes nothing but invalidates that
-- entry in every session.
alter index eventstore.events_category_idx alter column 1 set statistics -1;

insert into eventstore.schema_migrations (migration_id) values ('0008.category-inlined');
