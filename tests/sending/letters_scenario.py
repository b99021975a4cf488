"""Test set-up shared by the postal letter and retention tests: an approved notice sent to a
small list through the dev outbox, then bounces and drops from the Event Webhook."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask

from composer.delivery import preparing, reconcile
from composer.delivery.webhook import parse_events
from composer.extensions import db
from composer.incidents import create_incident
from composer.models import Delivery, Recipient, SendRun, User, utcnow
from composer.notices import versions
from composer.recipients.cohorts import latest_list
from composer.recipients.lists import import_csv
from composer.workers.inprocess import worker_for
from tests.sending.fake_sendgrid import Accepted, make_events
from tests.sending.scenario import approve_version

HEADER = (
    "email,first_name,last_name,reference,address_line_1,address_line_2,city,postcode,"
    "country,us_state,data_categories,language"
)
#: Who is on the list, in file order, and what happens to their email.
PEOPLE = [
    # email and address: the email bounces
    "zeb.quiller@example.org,Zebedee,Quiller,QR-1001,1 Quill Street,,Leeds,LS1 1QQ,GB,,email,cy-GB",
    # email and address: the email is dropped
    "ottoline.frame@example.org,Ottoline,Framewright,QR-1002,2 Frame Road,,York,YO1 2FF,GB,,email,",
    # email only: bounces, but there is no address to write to
    "hepzibah.nox@example.org,Hepzibah,Noxworth,QR-1003,,,,,GB,,email,",
    # email and address: delivered
    "barnaby.plum@example.org,Barnaby,Plumtree,QR-1004,4 Plum Lane,,Hull,HU1 4PP,GB,,email,",
    # email and address: accepted, nothing more heard
    "cressida.vane@example.org,Cressida,Vanebridge,QR-1005,5 Vane Close,,Bath,BA1 5VV,GB,,email,",
    # email and address: refused by the gateway (made invalid by hand)
    "ignatius.roe@example.org,Ignatius,Roebuck,QR-1006,6 Roe Row,,Ely,CB7 6RR,GB,,email,",
    # post only
    ",Philippa,Postlethwaite,QR-1007,7 Post Street,Flat 3,Leeds,LS7 7PP,GB,,email,",
    # post only, hostile values: markup, a spreadsheet formula, a file URL, a web image
    ",\"=cmd|' /C calc'!A0\",<script>alert(1)</script>,@SUM(1+1),file:///etc/passwd,"
    "-2+3 <img src=http://127.0.0.1:9/x.png>,Leeds,LS8 8XX,GB,,email,",
    # post only, another cohort (Massachusetts, other data categories)
    ",Mercy,Bostwick,QR-1009,9 Harbor Way,,Boston,02109,US,MA,postal-address,",
    # a row the import rejects: its values go into the error report
    "not-an-address,Rejectus,Wrongrow,QR-1010,10 Wrong Way,,Leeds,LS10 1WW,GB,,email,",
]
CSV = "\n".join([HEADER, *PEOPLE]) + "\n"

#: Values that must never be left anywhere after a purge.
PERSONAL = [
    "Zebedee",
    "Quiller",
    "zeb.quiller",
    "Ottoline",
    "Framewright",
    "Hepzibah",
    "Noxworth",
    "Barnaby",
    "Plumtree",
    "Cressida",
    "Ignatius",
    "Philippa",
    "Postlethwaite",
    "7 Post Street",
    "Quill Street",
    "LS7 7PP",
    "QR-1001",
    "QR-1007",
    "Bostwick",
    "Harbor Way",
    "Rejectus",
    "Wrongrow",
    "not-an-address",
    "/C calc",
    "etc/passwd",
    "cy-GB",
]


@dataclass(frozen=True)
class Sent:
    incident_id: int
    run_id: int
    list_id: int
    author_id: int
    approver_id: int


def delivery_of(email_or_last_name: str) -> Delivery:
    """The delivery of the recipient with this email address or last name."""
    found = db.session.scalar(
        sa.select(Delivery)
        .join(Recipient, Recipient.id == Delivery.recipient_id)
        .where(
            sa.or_(Recipient.email == email_or_last_name, Recipient.last_name == email_or_last_name)
        )
    )
    assert found is not None, email_or_last_name
    return found


def webhook(event: str, *who: str) -> None:
    """Apply Event Webhook events of one kind for these recipients (email or last name)."""
    accepted = []
    for name in who:
        delivery = delivery_of(name)
        accepted.append(
            Accepted(
                message_id=delivery.message_id or "",
                index=0,
                email="someone@example.org",
                custom_args={"o": str(delivery.id), "b": str(delivery.batch_id)},
            )
        )
    reconcile.apply_events(
        db.session(), parse_events(json.dumps(make_events(accepted, event)).encode()), now=utcnow()
    )
    db.session.commit()


BODY = "Dear {{ first_name }},\n\nA criminal copied your email address on 3 May.\n"


def send_notice(
    app: Flask,
    users: dict[str, int],
    *,
    dispatch: bool = True,
    csv: str = CSV,
    title: str = "Leak",
    body: str = BODY,
) -> Sent:
    """An incident whose approved notice is sent to :data:`PEOPLE` through the dev outbox (when
    ``dispatch``); then Zebedee's email bounces, Ottoline's is dropped, Hepzibah's bounces,
    Barnaby's is delivered and Ignatius's address is refused."""
    app.config["SEND_WORKER"] = "none"
    with app.app_context():
        session = db.session()
        ana = session.get(User, users["author"])
        lee = session.get(User, users["approver"])
        assert ana is not None
        assert lee is not None
        catalogue = app.extensions["composer.catalogue"]
        incident = create_incident(session, catalogue, title=title, by=ana)
        version = versions.save_version(
            session,
            incident,
            subject="We lost your email address",
            body=body,
            by=ana,
        ).version
        assert version is not None
        import_csv(
            session,
            io.BytesIO(csv.encode()),
            incident=incident,
            by=ana,
            categories=set(catalogue.categories),
            places=catalogue.place_names,
            filename="people.csv",
            max_bytes=1_000_000,
        )
        session.commit()
        release = approve_version(
            session,
            incident,
            version,
            author=ana,
            approver=lee,
            config=app.config,
            catalogue=catalogue,
        )
        recipient_list = latest_list(session, incident)
        assert recipient_list is not None
        run = preparing.start_run(session, incident, recipient_list, release, by=ana)
        session.commit()
        preparing.prepare(session, run.id)  # as the worker would
        sent = Sent(incident.id, run.id, recipient_list.id, ana.id, lee.id)
    if dispatch:
        sender = worker_for(app)
        for _ in range(10):
            sender.work_once()
        with app.app_context():
            webhook("bounce", "zeb.quiller@example.org", "hepzibah.nox@example.org")
            webhook("dropped", "ottoline.frame@example.org")
            webhook("delivered", "barnaby.plum@example.org")
            db.session.execute(
                sa.update(Delivery)
                .where(Delivery.id == delivery_of("ignatius.roe@example.org").id)
                .values(state="invalid")
            )
            db.session.commit()
    return sent


def run_of(sent: Sent) -> SendRun:
    run = db.session.get(SendRun, sent.run_id)
    assert run is not None
    return run


def catalogue_of(app: Flask) -> Any:
    return app.extensions["composer.catalogue"]
