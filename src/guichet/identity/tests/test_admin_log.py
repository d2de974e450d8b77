"""Every change the platform admin makes in the console to who may see citizens' data (roles in
an administration, the account flags active, staff and superuser) is an entry of the log that
names the admin, with the person whose access changed as its subject; nobody else gets in."""

from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import authenticate
from django.test import Client

from guichet.audit.models import Action, ActorKind, AuditEvent
from guichet.audit.service import canonical_bytes
from guichet.demo import DEMO_PASSWORD
from guichet.identity.actions import do_add_membership
from guichet.identity.models import Membership, Organisation, Role, User
from guichet.testing import ApiClient

pytestmark = pytest.mark.django_db

INLINE = "memberships"


@pytest.fixture
def admin_client(world: dict[str, User]) -> Client:
    client = Client()
    client.force_login(world["admin"])
    return client


def _commune() -> Organisation:
    return Organisation.objects.get(slug="commune-dakar-plateau")


def _ansd() -> Organisation:
    return Organisation.objects.get(slug="ansd")


def _new_entries(after: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(seq__gte=after).order_by("seq"))


def _head() -> int:
    return AuditEvent.objects.count()


def _by_admin(event: AuditEvent, world: dict[str, User]) -> bool:
    return (
        event.actor_kind == ActorKind.AGENT
        and event.actor_id == str(world["admin"].pk)
        and event.actor_name == "Administrateur de la plateforme"  # by name, not by email
    )


def _summary(events: list[AuditEvent]) -> list[tuple[int, str, dict[str, Any]]]:
    return [(event.action, event.subject_id, event.details_data) for event in events]


def _role(user: User, organisation: Organisation, role: str) -> dict[str, Any]:
    return {"organisation": str(organisation.pk), "role": role}


def _user_form(
    user: User, rows: list[dict[str, str]], email: str = "", **flags: bool
) -> dict[str, str]:
    """The account page as the console posts it: the fields, the flags checked, the roles."""
    data = {"email": email or user.email, "language": user.language}
    for name in ("is_active", "is_staff", "is_superuser"):
        if flags.get(name, getattr(user, name)):
            data[name] = "on"
    initial = [row for row in rows if row.get("id")]
    data.update(
        {
            f"{INLINE}-TOTAL_FORMS": str(len(rows)),
            f"{INLINE}-INITIAL_FORMS": str(len(initial)),
            f"{INLINE}-MIN_NUM_FORMS": "0",
            f"{INLINE}-MAX_NUM_FORMS": "1000",
        }
    )
    for index, row in enumerate(rows):
        for key, value in {"user": str(user.pk), **row}.items():
            data[f"{INLINE}-{index}-{key}"] = value
    return data


NEW_EMAIL = "moussa.fall@nouvelle-adresse.sn"
NEW_PASSWORD = "Kaolack-Soleil-2027"


def _password_form(password: str | None) -> dict[str, str]:
    """The console's password page: a new password twice, or password sign-in turned off."""
    if password is None:
        return {"usable_password": "false", "unset-password": "1"}
    return {"usable_password": "true", "password1": password, "password2": password}


def _entry_bytes(events: list[AuditEvent]) -> bytes:
    """Every byte the log holds (and publishes) of these entries."""
    return b"".join(canonical_bytes(event) for event in events)


def test_granting_a_role_names_the_admin_and_the_agent(
    admin_client: Client, world: dict[str, User]
) -> None:
    moussa, commune = world["citizen_b"], _commune()
    head = _head()
    response = admin_client.post(
        "/admin/identity/membership/add/",
        {"user": str(moussa.pk), "organisation": str(commune.pk), "role": "instructor"},
    )
    assert response.status_code == 302
    assert Membership.objects.filter(user=moussa, organisation=commune, role="instructor").exists()
    [event] = _new_entries(head)
    assert _summary([event]) == [
        (Action.MEMBERSHIP_GRANTED, str(moussa.pk), _role(moussa, commune, "instructor"))
    ]
    assert _by_admin(event, world)
    assert event.purpose == "Administration of agents"


def test_changing_a_role_is_the_old_one_withdrawn_and_the_new_one_granted(
    admin_client: Client, world: dict[str, User]
) -> None:
    moussa, commune = world["citizen_b"], _commune()
    membership = do_add_membership(moussa, commune, Role.INSTRUCTOR)
    head = _head()
    response = admin_client.post(
        f"/admin/identity/membership/{membership.pk}/change/",
        {"user": str(moussa.pk), "organisation": str(commune.pk), "role": "supervisor"},
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == "supervisor"
    events = _new_entries(head)
    assert _summary(events) == [
        (Action.MEMBERSHIP_REVOKED, str(moussa.pk), _role(moussa, commune, "instructor")),
        (Action.MEMBERSHIP_GRANTED, str(moussa.pk), _role(moussa, commune, "supervisor")),
    ]
    assert all(_by_admin(event, world) for event in events)


def test_moving_a_role_to_another_account_logs_it_for_each_person(
    admin_client: Client, world: dict[str, User]
) -> None:
    moussa, awa, commune = world["citizen_b"], world["citizen_a"], _commune()
    membership = do_add_membership(moussa, commune, Role.INSTRUCTOR)
    head = _head()
    response = admin_client.post(
        f"/admin/identity/membership/{membership.pk}/change/",
        {"user": str(awa.pk), "organisation": str(commune.pk), "role": "instructor"},
    )
    assert response.status_code == 302
    assert _summary(_new_entries(head)) == [
        (Action.MEMBERSHIP_REVOKED, str(moussa.pk), _role(moussa, commune, "instructor")),
        (Action.MEMBERSHIP_GRANTED, str(awa.pk), _role(awa, commune, "instructor")),
    ]


def test_saving_a_role_unchanged_logs_nothing(admin_client: Client, world: dict[str, User]) -> None:
    moussa, commune = world["citizen_b"], _commune()
    membership = do_add_membership(moussa, commune, Role.INSTRUCTOR)
    head = _head()
    response = admin_client.post(
        f"/admin/identity/membership/{membership.pk}/change/",
        {"user": str(moussa.pk), "organisation": str(commune.pk), "role": "instructor"},
    )
    assert response.status_code == 302
    assert _new_entries(head) == []


def test_a_role_held_already_is_refused_on_the_form(
    admin_client: Client, world: dict[str, User]
) -> None:
    moussa, commune = world["citizen_b"], _commune()
    do_add_membership(moussa, commune, Role.SUPERVISOR)
    membership = do_add_membership(moussa, commune, Role.INSTRUCTOR)
    head = _head()
    response = admin_client.post(
        f"/admin/identity/membership/{membership.pk}/change/",
        {"user": str(moussa.pk), "organisation": str(commune.pk), "role": "supervisor"},
    )
    assert response.status_code == 200  # the form again, with the error
    membership.refresh_from_db()
    assert membership.role == "instructor"
    assert _new_entries(head) == []


def test_withdrawing_a_role_is_logged(admin_client: Client, world: dict[str, User]) -> None:
    moussa, commune = world["citizen_b"], _commune()
    membership = do_add_membership(moussa, commune, Role.INSTRUCTOR)
    head = _head()
    response = admin_client.post(
        f"/admin/identity/membership/{membership.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    [event] = _new_entries(head)
    assert _summary([event]) == [
        (Action.MEMBERSHIP_REVOKED, str(moussa.pk), _role(moussa, commune, "instructor"))
    ]
    assert _by_admin(event, world)


def test_withdrawing_several_roles_at_once_logs_each(
    admin_client: Client, world: dict[str, User]
) -> None:
    moussa, awa, commune = world["citizen_b"], world["citizen_a"], _commune()
    first = do_add_membership(moussa, commune, Role.INSTRUCTOR)
    second = do_add_membership(awa, _ansd(), Role.SUPERVISOR)
    head = _head()
    response = admin_client.post(
        "/admin/identity/membership/",
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk__in=[first.pk, second.pk]).exists()
    events = _new_entries(head)
    assert sorted(_summary(events), key=lambda row: row[1]) == sorted(
        [
            (Action.MEMBERSHIP_REVOKED, str(moussa.pk), _role(moussa, commune, "instructor")),
            (Action.MEMBERSHIP_REVOKED, str(awa.pk), _role(awa, _ansd(), "supervisor")),
        ],
        key=lambda row: row[1],
    )
    assert all(_by_admin(event, world) for event in events)


def test_roles_on_the_account_page_go_through_the_log(
    admin_client: Client, world: dict[str, User]
) -> None:
    moussa, commune, ansd = world["citizen_b"], _commune(), _ansd()
    kept = do_add_membership(moussa, commune, Role.INSTRUCTOR)
    dropped = do_add_membership(moussa, ansd, Role.INSTRUCTOR)
    page = admin_client.get(f"/admin/identity/user/{moussa.pk}/change/")
    assert page.status_code == 200
    head = _head()
    rows = [
        {"id": str(kept.pk), "organisation": str(commune.pk), "role": "supervisor"},
        {"id": str(dropped.pk), "organisation": str(ansd.pk), "role": "instructor", "DELETE": "on"},
        {"organisation": str(ansd.pk), "role": "designer"},
    ]
    response = admin_client.post(
        f"/admin/identity/user/{moussa.pk}/change/", _user_form(moussa, rows)
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    held = set(Membership.objects.filter(user=moussa).values_list("organisation__slug", "role"))
    assert held == {("commune-dakar-plateau", "supervisor"), ("ansd", "designer")}
    events = _new_entries(head)
    assert _summary(events) == [
        (Action.MEMBERSHIP_REVOKED, str(moussa.pk), _role(moussa, ansd, "instructor")),
        (Action.MEMBERSHIP_REVOKED, str(moussa.pk), _role(moussa, commune, "instructor")),
        (Action.MEMBERSHIP_GRANTED, str(moussa.pk), _role(moussa, commune, "supervisor")),
        (Action.MEMBERSHIP_GRANTED, str(moussa.pk), _role(moussa, ansd, "designer")),
    ]
    assert all(_by_admin(event, world) for event in events)


def test_the_account_flags_are_logged_with_their_new_values(
    admin_client: Client, world: dict[str, User]
) -> None:
    moussa = world["citizen_b"]
    head = _head()
    response = admin_client.post(
        f"/admin/identity/user/{moussa.pk}/change/",
        _user_form(moussa, [], is_staff=True, is_superuser=True),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    moussa.refresh_from_db()
    assert moussa.is_staff and moussa.is_superuser and moussa.is_active
    [event] = _new_entries(head)
    assert _summary([event]) == [
        (Action.PRIVILEGES_CHANGED, str(moussa.pk), {"is_staff": True, "is_superuser": True})
    ]
    assert _by_admin(event, world)

    head = _head()
    response = admin_client.post(
        f"/admin/identity/user/{moussa.pk}/change/",
        _user_form(moussa, [], is_active=False, is_staff=False, is_superuser=False),
    )
    assert response.status_code == 302
    moussa.refresh_from_db()
    assert not (moussa.is_active or moussa.is_staff or moussa.is_superuser)
    assert _summary(_new_entries(head)) == [
        (
            Action.PRIVILEGES_CHANGED,
            str(moussa.pk),
            {"is_active": False, "is_staff": False, "is_superuser": False},
        )
    ]


def test_saving_an_account_unchanged_logs_nothing(
    admin_client: Client, world: dict[str, User]
) -> None:
    moussa = world["citizen_b"]
    head = _head()
    response = admin_client.post(
        f"/admin/identity/user/{moussa.pk}/change/", _user_form(moussa, [])
    )
    assert response.status_code == 302
    assert _new_entries(head) == []


def test_changing_the_sign_in_email_is_logged_without_either_address(
    admin_client: Client, world: dict[str, User]
) -> None:
    """The address is the login and where password resets go: changing it can hand an account
    over. The entry names the admin and the account, never the old or the new address."""
    moussa, old = world["citizen_b"], world["citizen_b"].email
    head = _head()
    response = admin_client.post(
        f"/admin/identity/user/{moussa.pk}/change/", _user_form(moussa, [], email=NEW_EMAIL)
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    moussa.refresh_from_db()
    assert moussa.email == NEW_EMAIL
    events = _new_entries(head)
    assert _summary(events) == [(Action.EMAIL_CHANGED, str(moussa.pk), {})]
    assert _by_admin(events[0], world)
    assert events[0].purpose == "Administration of agents"
    published = _entry_bytes(events)
    assert old.encode() not in published and NEW_EMAIL.encode() not in published
    assert b"moussa" not in published and b"nouvelle-adresse" not in published
    # The old address no longer opens the account (allauth looks people up by its table of
    # addresses too); the new one must be confirmed, as at sign-up.
    assert authenticate(None, email=old, password=DEMO_PASSWORD) is None
    assert authenticate(None, email=NEW_EMAIL, password=DEMO_PASSWORD) == moussa
    assert list(EmailAddress.objects.filter(user=moussa).values_list("email", "verified")) == [
        (NEW_EMAIL, False)
    ]
    # The person sees it on their own page, as any change of their account's access.
    own = Client()
    own.force_login(moussa)
    page = own.get("/account/data-accesses/").content.decode()
    assert "Adresse électronique de connexion modifiée" in page


def test_an_email_another_account_uses_is_refused_beside_the_field(
    admin_client: Client, world: dict[str, User]
) -> None:
    moussa, awa = world["citizen_b"], world["citizen_a"]
    head = _head()
    for taken, message in (
        (awa.email, "Un autre compte utilise déjà cette adresse électronique."),
        (awa.email.upper(), "Un autre compte utilise déjà cette adresse électronique."),
        ("pas une adresse", "Saisissez une adresse e-mail valide."),
    ):
        response = admin_client.post(
            f"/admin/identity/user/{moussa.pk}/change/", _user_form(moussa, [], email=taken)
        )
        assert response.status_code == 200  # the form again, with the error by the field
        assert response.context["adminform"].form.errors["email"] == [message]
    moussa.refresh_from_db()
    assert moussa.email == "moussa.fall@example.sn"
    assert _new_entries(head) == []


def test_a_change_of_case_only_is_no_change_of_address(
    admin_client: Client, world: dict[str, User]
) -> None:
    moussa = world["citizen_b"]
    head = _head()
    response = admin_client.post(
        f"/admin/identity/user/{moussa.pk}/change/",
        _user_form(moussa, [], email=moussa.email.upper()),
    )
    assert response.status_code == 302
    moussa.refresh_from_db()
    assert moussa.email == "moussa.fall@example.sn"
    assert _new_entries(head) == []


def test_setting_a_password_is_logged_without_it(
    admin_client: Client, world: dict[str, User]
) -> None:
    fatou = world["instructor"]
    page = admin_client.get(f"/admin/identity/user/{fatou.pk}/password/")
    assert page.status_code == 200
    head = _head()
    response = admin_client.post(
        f"/admin/identity/user/{fatou.pk}/password/", _password_form(NEW_PASSWORD)
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response["Location"] == f"/admin/identity/user/{fatou.pk}/change/"
    fatou.refresh_from_db()
    assert fatou.check_password(NEW_PASSWORD)
    events = _new_entries(head)
    assert _summary(events) == [
        (Action.PASSWORD_CHANGED, str(fatou.pk), {"password_sign_in": True})
    ]
    assert _by_admin(events[0], world)
    published = _entry_bytes(events)
    assert NEW_PASSWORD.encode() not in published
    assert fatou.password.encode() not in published
    assert fatou.password.split("$")[-1].encode() not in published  # nor the hash itself


def test_turning_password_sign_in_off_is_logged(
    admin_client: Client, world: dict[str, User]
) -> None:
    fatou = world["instructor"]
    head = _head()
    response = admin_client.post(f"/admin/identity/user/{fatou.pk}/password/", _password_form(None))
    assert response.status_code == 302
    fatou.refresh_from_db()
    assert not fatou.has_usable_password()
    events = _new_entries(head)
    assert _summary(events) == [
        (Action.PASSWORD_CHANGED, str(fatou.pk), {"password_sign_in": False})
    ]
    assert _by_admin(events[0], world)


@pytest.mark.parametrize(
    "data",
    [
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": "autre chose"},
        {"usable_password": "true", "password1": "court", "password2": "court"},
        {"usable_password": "false"},  # turning passwords off without its own button
    ],
    ids=["mismatch", "too short", "conflicting"],
)
def test_a_refused_password_changes_nothing_and_logs_nothing(
    admin_client: Client, world: dict[str, User], data: dict[str, str]
) -> None:
    fatou = world["instructor"]
    head = _head()
    response = admin_client.post(f"/admin/identity/user/{fatou.pk}/password/", data)
    assert response.status_code in (200, 302)  # the form again, or back to it with a message
    fatou.refresh_from_db()
    assert fatou.check_password(DEMO_PASSWORD)
    assert _new_entries(head) == []


def test_a_change_and_its_entry_are_one_transaction(
    world: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the entry cannot be written, the change does not happen either."""
    import guichet.identity.actions as actions

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the log is out of reach")

    monkeypatch.setattr(actions, "record_events", broken)
    monkeypatch.setattr(actions, "record_event", broken)
    client = Client(raise_request_exception=False)
    client.force_login(world["admin"])
    moussa, commune = world["citizen_b"], _commune()
    granted = client.post(
        "/admin/identity/membership/add/",
        {"user": str(moussa.pk), "organisation": str(commune.pk), "role": "instructor"},
    )
    flagged = client.post(
        f"/admin/identity/user/{moussa.pk}/change/", _user_form(moussa, [], is_staff=True)
    )
    readdressed = client.post(
        f"/admin/identity/user/{moussa.pk}/change/", _user_form(moussa, [], email=NEW_EMAIL)
    )
    passworded = client.post(
        f"/admin/identity/user/{moussa.pk}/password/", _password_form(NEW_PASSWORD)
    )
    statuses = {response.status_code for response in (granted, flagged, readdressed, passworded)}
    assert statuses == {500}
    assert not Membership.objects.filter(user=moussa).exists()
    moussa.refresh_from_db()
    assert not moussa.is_staff
    assert moussa.email == "moussa.fall@example.sn"
    assert moussa.check_password(DEMO_PASSWORD) and not moussa.check_password(NEW_PASSWORD)
    assert list(EmailAddress.objects.filter(user=moussa).values_list("email", flat=True)) == [
        "moussa.fall@example.sn"
    ]


def test_accounts_are_not_deleted_from_the_console(
    admin_client: Client, world: dict[str, User]
) -> None:
    instructor = world["instructor"]
    assert admin_client.get(f"/admin/identity/user/{instructor.pk}/delete/").status_code == 403
    response = admin_client.post(f"/admin/identity/user/{instructor.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert User.objects.filter(pk=instructor.pk).exists()
    assert Membership.objects.filter(user=instructor).exists()


def test_deleting_an_organisation_withdraws_its_roles_through_the_log(
    admin_client: Client, world: dict[str, User]
) -> None:
    office = Organisation.objects.create(slug="bureau-essai", name="Bureau d'essai", kind="agency")
    moussa = world["citizen_b"]
    do_add_membership(moussa, office, Role.INSTRUCTOR)
    head = _head()
    response = admin_client.post(
        f"/admin/identity/organisation/{office.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Organisation.objects.filter(pk=office.pk).exists()
    [event] = _new_entries(head)
    assert _summary([event]) == [
        (Action.MEMBERSHIP_REVOKED, str(moussa.pk), _role(moussa, office, "instructor"))
    ]
    assert _by_admin(event, world)


def test_the_agent_sees_the_change_on_their_own_page(
    admin_client: Client, world: dict[str, User]
) -> None:
    moussa, commune = world["citizen_b"], _commune()
    admin_client.post(
        "/admin/identity/membership/add/",
        {"user": str(moussa.pk), "organisation": str(commune.pk), "role": "instructor"},
    )
    own = Client()
    own.force_login(moussa)
    page = own.get("/account/data-accesses/").content.decode()
    assert "Rôle attribué dans une administration" in page


@pytest.mark.parametrize(
    "persona", ["anonymous", "citizen_a", "citizen_b", "instructor", "supervisor", "other_agent"]
)
def test_nobody_but_the_platform_admin_changes_roles_or_flags(
    world: dict[str, User], persona: str
) -> None:
    moussa, commune = world["citizen_b"], _commune()
    membership = do_add_membership(world["other_agent"], commune, Role.INSTRUCTOR)
    client = Client()
    if persona != "anonymous":
        client.force_login(world[persona])
    head = _head()
    requests = [
        ("get", "/admin/identity/membership/", {}),
        ("get", f"/admin/identity/membership/{membership.pk}/change/", {}),
        ("get", f"/admin/identity/user/{moussa.pk}/change/", {}),
        (
            "post",
            "/admin/identity/membership/add/",
            {"user": str(moussa.pk), "organisation": str(commune.pk), "role": "supervisor"},
        ),
        (
            "post",
            f"/admin/identity/membership/{membership.pk}/change/",
            {"user": str(moussa.pk), "organisation": str(commune.pk), "role": "supervisor"},
        ),
        ("post", f"/admin/identity/membership/{membership.pk}/delete/", {"post": "yes"}),
        (
            "post",
            f"/admin/identity/user/{moussa.pk}/change/",
            _user_form(moussa, [], is_staff=True, is_superuser=True),
        ),
        (
            "post",
            f"/admin/identity/user/{moussa.pk}/change/",
            _user_form(moussa, [], email=NEW_EMAIL),
        ),
        ("get", f"/admin/identity/user/{moussa.pk}/password/", {}),
        ("post", f"/admin/identity/user/{moussa.pk}/password/", _password_form(NEW_PASSWORD)),
        ("post", f"/admin/identity/user/{moussa.pk}/password/", _password_form(None)),
    ]
    for method, url, data in requests:
        response = getattr(client, method)(url, data)
        # The console sends everyone who is not staff to its sign-in page.
        assert response.status_code == 302, (method, url)
        assert response["Location"].startswith("/admin/login/"), (method, url)
    moussa.refresh_from_db()
    assert not moussa.is_staff and not moussa.is_superuser
    assert moussa.email == "moussa.fall@example.sn" and moussa.check_password(DEMO_PASSWORD)
    assert list(Membership.objects.filter(user=moussa).values_list("role", flat=True)) == []
    assert Membership.objects.filter(pk=membership.pk, role="instructor").exists()
    assert _new_entries(head) == []


DEMO_NAMES = (
    "Awa Diop",
    "Moussa Fall",
    "Fatou Ndiaye",
    "Ibrahima Sarr",
    "Ousmane Sy",
    "Administrateur de la plateforme",
)


@pytest.mark.parametrize(
    "persona",
    ["anonymous", "citizen_a", "citizen_b", "instructor", "supervisor", "other_agent", "admin"],
)
def test_the_consoles_list_of_accounts_is_the_admins_and_shows_no_sealed_data(
    world: dict[str, User], persona: str
) -> None:
    client = Client()
    if persona != "anonymous":
        client.force_login(world[persona])
    listing = client.get("/admin/identity/user/")
    awa_page = client.get(f"/admin/identity/user/{world['citizen_a'].pk}/change/")
    if persona != "admin":
        for response in (listing, awa_page):
            assert response.status_code == 302
            assert response["Location"].startswith("/admin/login/")
        return
    assert listing.status_code == awa_page.status_code == 200
    for response in (listing, awa_page):
        html = response.content.decode()
        assert "awa.diop@example.sn" in html
        # Names, phones and national ids are sealed: the console never opens them.
        assert not any(name in html for name in DEMO_NAMES)
    assert all(
        User.objects.get(pk=user.pk).email in listing.content.decode() for user in world.values()
    )


def test_closing_ones_account_ends_roles_and_console_rights_in_the_log(
    world: dict[str, User],
) -> None:
    """Closure deletes the person's roles and clears their flags: the log says so, with the
    person as the actor (by account id only, as for every account change they make)."""
    fatou, admin = world["instructor"], world["admin"]
    for user in (fatou, admin):
        head = _head()
        assert ApiClient(user).delete("me").status_code == 200
        events = _new_entries(head)
        ended = [event for event in events if event.action in ACCESS_ACTIONS]
        assert all(
            event.actor_kind == ActorKind.CITIZEN
            and event.actor_id == str(user.pk)
            and event.actor_name == ""
            and event.purpose == "Request of the data subject"
            for event in ended
        )
        if user == fatou:
            assert _summary(ended) == [
                (Action.MEMBERSHIP_REVOKED, str(fatou.pk), _role(fatou, _commune(), "instructor"))
            ]
        else:
            assert _summary(ended) == [
                (
                    Action.PRIVILEGES_CHANGED,
                    str(admin.pk),
                    {"is_staff": False, "is_superuser": False},
                )
            ]
        assert not Membership.objects.filter(user=user).exists()


ACCESS_ACTIONS = (Action.MEMBERSHIP_REVOKED, Action.MEMBERSHIP_GRANTED, Action.PRIVILEGES_CHANGED)
