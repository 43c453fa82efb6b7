"""The eventsourcing library's own test cases, run against pgeventstore.eventsourcing.

Subclassed as the library's PostgreSQL tests subclass them: each test gets a fresh
database with the store installed (the ``dsn`` fixture) and connects as a login role that
is only a member of ``eventstore_writer``, so the module needs nothing but the SQL API.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import TestCase
from uuid import UUID, uuid4

import eventsourcing.tests.application as app_cases
import eventsourcing.tests.persistence as cases
import psycopg
import pytest
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import Aggregate, DomainEventProtocol, event
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    StoredEvent,
    TrackingRecorder,
)
from eventsourcing.projection import EventSourcedProjection, EventSourcedProjectionRunner
from eventsourcing.utils import Environment, get_topic
from psycopg.conninfo import conninfo_to_dict

from cluster_support import PRIMARY_SETTINGS, clusters, create_store, execute, one
from eventsourcing_support import ROLE, ROLE_PASSWORD, store_settings
from eventsourcing_support import eventsourcing_role as eventsourcing_role  # the fixture
from pgeventstore.eventsourcing import (
    Factory,
    PgEventStoreAggregateRecorder,
    PgEventStoreApplicationRecorder,
    PgEventStoreProcessRecorder,
    PgEventStoreTrackingRecorder,
)

pytestmark = pytest.mark.usefixtures("eventsourcing_role")


class OnTheStore:
    """A fresh store per test; the recorders' factories are closed after it."""

    factories: list[Factory]
    settings: dict[str, str]

    @pytest.fixture(autouse=True)
    def _on_the_store(self, dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        self.settings = store_settings(dsn)
        for key, value in self.settings.items():
            monkeypatch.setenv(key, value)
        self.factories = []
        self.env = Environment("", dict(self.settings))
        yield
        for factory in self.factories:
            factory.close()

    def factory(self, name: str = "") -> Factory:
        factory = Factory(Environment(name, dict(self.settings)))
        self.factories.append(factory)
        return factory


class TestAggregateRecorder(OnTheStore, cases.AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return self.factory().aggregate_recorder()


class TestSnapshotRecorder(OnTheStore, cases.AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return self.factory("Snapshotting").aggregate_recorder("snapshots")


class TestApplicationRecorder(OnTheStore, cases.ApplicationRecorderTestCase[ApplicationRecorder]):
    def create_recorder(self) -> ApplicationRecorder:
        return self.factory().application_recorder()

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class TestTextOriginatorIds(OnTheStore, cases.ApplicationRecorderTestCase[ApplicationRecorder]):
    def new_originator_id(self) -> str:
        return f"account-{super().new_originator_id()}"

    def create_recorder(self) -> ApplicationRecorder:
        self.settings["ORIGINATOR_ID_TYPE"] = "text"
        return self.factory().application_recorder()


class TestTrackingRecorder(OnTheStore, cases.TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        return self.factory("Downstream").tracking_recorder()


class TestProcessRecorder(OnTheStore, cases.ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        return self.factory("Process").process_recorder()


class TestNonInterleavingNotificationIds(OnTheStore, cases.NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> ApplicationRecorder:
        return self.factory().application_recorder()


class MyTrackingRecorder(PgEventStoreTrackingRecorder):
    pass


class TestInfrastructureFactory(OnTheStore, cases.InfrastructureFactoryTestCase[Factory]):
    def setUp(self) -> None:
        self.env = Environment(
            "TestCase", {"PERSISTENCE_MODULE": "pgeventstore.eventsourcing", **self.settings}
        )
        super().setUp()

    def expected_factory_class(self) -> type[Factory]:
        return Factory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return PgEventStoreAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return PgEventStoreApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return PgEventStoreTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return MyTrackingRecorder

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return PgEventStoreProcessRecorder

    def test_topic_resolves_the_factory(self) -> None:
        assert get_topic(type(self.factory)) == "pgeventstore.eventsourcing:Factory"


class TestApplication(OnTheStore, app_cases.ApplicationTestCase):
    pass


class TestExampleApplication(OnTheStore, app_cases.ExampleApplicationTestCase):
    expected_factory_topic = "pgeventstore.eventsourcing:Factory"


class Dog(Aggregate):
    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name


class DogSchool(Application[UUID]):
    def register(self, name: str) -> int:
        recordings = self.save(Dog(name))
        return recordings[-1].notification.id


class Place(Aggregate):
    @event("Assigned")
    def __init__(self, dog_id: UUID) -> None:
        self.dog_id = dog_id


class Kennel(EventSourcedProjection[UUID]):
    """Gives every dog registered at the school a place: a process application."""

    @singledispatchmethod
    def policy(
        self, domain_event: DomainEventProtocol[UUID], processing_event: ProcessingEvent[UUID]
    ) -> None:
        """Other events need nothing."""

    @policy.register
    def _(self, domain_event: Dog.Registered, processing_event: ProcessingEvent[UUID]) -> None:
        processing_event.collect_events(Place(domain_event.originator_id))


class TestProcessApplicationFollowsUpstream(OnTheStore, TestCase):
    """Two applications in one store: the follower reads the school's notifications only
    (its subscription), records its events with tracking, and its own log is its own."""

    def test_kennel_follows_the_school(self) -> None:
        with EventSourcedProjectionRunner(application_class=DogSchool, projection_class=Kennel) as runner:
            school, kennel = runner.app, runner.projection
            ids = [school.register(name) for name in ("Fido", "Rex", "Lassie")]
            runner.wait(ids[-1], timeout=10)
            assert kennel.recorder.max_tracking_id("DogSchool") == ids[-1]
            places = kennel.notification_log.select(start=None, limit=10)
            assert [n.topic.rsplit(".", 1)[1] for n in places] == ["Assigned"] * 3
            assert {kennel.repository.get(n.originator_id).dog_id for n in places} == {
                school.notification_log.select(start=i, limit=1)[0].originator_id for i in ids
            }
            # One log: the school's and the kennel's ids are numbers of it, never shared.
            assert not set(ids) & {n.id for n in places}
            assert school.recorder.max_notification_id() == ids[-1]


def test_role_is_only_a_writer(dsn: str) -> None:
    """The role the cases run as cannot read the tables: the module uses the SQL API only."""
    params: dict[str, Any] = {**conninfo_to_dict(dsn), "user": ROLE, "password": ROLE_PASSWORD}
    params.pop("passfile", None)
    with psycopg.connect(**params) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select * from eventstore.events")


def test_notification_ids_survive_a_crash_before_their_numbering_is_flushed() -> None:
    """insert_events commits its events durably but their numbering without waiting for the
    WAL flush: a crash that loses that numbering is followed by the same numbers again.

    Commits wait for their flush here (synchronous_commit on; fsync off, which a crash of
    the server's processes alone does not need) and the WAL writer sleeps 10 s, so the
    numbering's commit record is still in the WAL buffers when the server stops in
    immediate mode (a crash); the events, flushed by their own commits, are not lost. Two
    events appended by other transactions are numbered by the same numbering, so the order
    among them is what is checked.
    """
    with clusters() as made:
        primary = made.primary(
            "crash", settings={**PRIMARY_SETTINGS, "synchronous_commit": "on", "wal_writer_delay": "10s"}
        )
        dsn = create_store(primary, "es_crash")
        execute(dsn, f"create role {ROLE} login password '{ROLE_PASSWORD}' in role eventstore_writer")
        log_sql = (
            "select coalesce(array_agg(array[log_number::text, event_id::text] order by log_number), '{}') "
            "from eventstore.log"
        )
        for attempt in range(3):
            for writer in ("a", "b"):
                one(
                    dsn,
                    "select (eventstore.append_event(%s, -1, 'Other', '{}')).stream_version",
                    (f"o-{attempt}{writer}",),
                )
            factory = Factory(Environment("Crash", store_settings(dsn)))
            try:
                ids = factory.application_recorder().insert_events(
                    [StoredEvent(originator_id=uuid4(), originator_version=1, topic="t:T", state=b"{}")]
                )
            finally:
                factory.close()
            numbered = one(dsn, log_sql)
            assert ids is not None and int(numbered[-1][0]) == ids[0]
            primary.stop("immediate")
            primary.start()
            if one(dsn, log_sql) != numbered:
                break
        else:
            raise AssertionError("the numbering survived three crashes: the test did not lose it")
        assert one(dsn, "select eventstore.number_log()") >= 3
        assert one(dsn, log_sql) == numbered
