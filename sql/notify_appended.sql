-- eventstore.notify_appended(): the notification an append sends, when the caller asked.
--
-- Guarantees: the one home of the notify rule. With the setting eventstore.notify = 'on'
-- (for the session, role or database) it queues a NOTIFY on the channel 'eventstore' with
-- an empty payload, which PostgreSQL delivers when the transaction commits, once however
-- many appends the transaction made (identical notifications fold); otherwise it does
-- nothing. Subscribers LISTEN on that channel and poll as well.
-- Inlined into the appends, which call it in an IF condition: a SQL-standard body (its
-- names are bound when it is created), no SET clause and SECURITY INVOKER (grants.sql
-- keeps it so), so checking the setting costs no function call.
create or replace function eventstore.notify_appended()
returns void
language sql
volatile
return case
    when pg_catalog.current_setting('eventstore.notify', true) operator(pg_catalog.=) 'on'
        then pg_catalog.pg_notify('eventstore', '')
end;

comment on function eventstore.notify_appended() is
    'Queues the append NOTIFY on the channel eventstore when eventstore.notify is on (inlined into the appends).';
