-- Consumer groups of eventstore.read_category: the members of a group share a category,
-- each stream to exactly one member, every event to exactly one member, in log order.
select plan(12);

select eventstore.append_to_stream('order-' || (g % 40), null,
           jsonb_build_array(jsonb_build_object('type', 'E', 'data', jsonb_build_object('g', g))))
  from generate_series(1, 400) g;
select eventstore.append_to_stream('cart-1', null, '[{"type":"E","data":{}}]');

create temporary table shares as
select m.member, e.stream_id, e.version, e.global_position, r.ordinality
  from generate_series(0, 2) m(member),
       lateral eventstore.read_category('order', 0, 1000, m.member, 3) with ordinality r
       join lateral (select r.stream_id, r.version, r.global_position) e on true;

select results_eq(
    $$select global_position from shares order by global_position$$,
    $$select global_position from eventstore.read_category('order', 0, 1000) order by global_position$$,
    'three members together get every event of the category exactly once');
select is(
    (select count(*) from (select stream_id from shares group by stream_id having count(distinct member) > 1) x),
    0::bigint,
    'no stream is split between members');
select ok((select count(distinct member) = 3 from shares), 'forty streams spread over all three members');
select is_empty(
    $$select 1 from shares a join shares b using (member, stream_id)
       where a.ordinality < b.ordinality and a.version > b.version$$,
    'each member gets its streams in version order');
select is_empty(
    $$select 1 from shares s where s.member <> eventstore.consumer_group_member(s.stream_id, 3)$$,
    'a member gets exactly the streams consumer_group_member assigns to it');
select is(eventstore.consumer_group_member('order-1', 1), 0, 'a group of one is member 0');
-- Pinned values of the documented rule (hashtextextended(stream_id, 0) mod n, made
-- non-negative): a client in another language computes the same member, and an upgrade
-- that changed the hash would move streams between running members (caught here).
select results_eq(
    $$select eventstore.consumer_group_member(s, n)
        from (values ('order-1', 3), ('order-2', 3), ('order-3', 3), ('order-42', 3),
                     ('order-1', 4), ('order-3', 7), ('cart-7', 7), ('order-ü', 7)) v(s, n)$$,
    $$values (1), (2), (1), (0), (3), (2), (0), (4)$$,
    'consumer_group_member is the documented stable hash, non-negative for negative hashes too');
select is(hashtextextended('order-3', 0) < 0, true, 'order-3 above is a negative hash');

select eventstore.append_to_stream('order-' || (g % 40), null, '[{"type":"F","data":{}}]')
  from generate_series(1, 60) g;
select results_eq(
    $$select m.member, r.global_position
        from generate_series(0, 2) m(member),
             lateral eventstore.read_category('order', 0, 1000, m.member, 3, array['F']) r
       order by r.global_position$$,
    $$select eventstore.consumer_group_member(r.stream_id, 3), r.global_position
        from eventstore.read_category('order', 0, 1000) r
       where r.event_type = 'F'
       order by r.global_position$$,
    'with an event_types filter, each member gets exactly its streams'' events of those types');

select throws_ok($$select * from eventstore.read_category('order', 0, 10, 3, 3)$$, 'ES400', null,
                 'member must be below the group size');
select throws_ok($$select * from eventstore.read_category('order', 0, 10, 0, null)$$, 'ES400', null,
                 'member without size is ES400');
select throws_ok($$select * from eventstore.read_category('order', 0, 10, null, 0)$$, 'ES400', null,
                 'size without member (or below 1) is ES400');

select * from finish();
