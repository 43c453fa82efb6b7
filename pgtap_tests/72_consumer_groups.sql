-- Consumer groups of eventstore.read_category: the members of a group share a category,
-- each stream to exactly one member, every event to exactly one member, in log order.
select plan(9);

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

select throws_ok($$select * from eventstore.read_category('order', 0, 10, 3, 3)$$, 'ES400', null,
                 'member must be below the group size');
select throws_ok($$select * from eventstore.read_category('order', 0, 10, 0, null)$$, 'ES400', null,
                 'member without size is ES400');
select throws_ok($$select * from eventstore.read_category('order', 0, 10, null, 0)$$, 'ES400', null,
                 'size without member (or below 1) is ES400');

select * from finish();
