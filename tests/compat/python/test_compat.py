"""Compatibility tests: drive a Chorus server with the Mattermost Python driver (mattermostdriver).

    CHORUS_URL=http://127.0.0.1:8065 .venv/bin/python -m pytest -q

Optional: CHORUS_ADMIN_USER / CHORUS_ADMIN_PASSWORD name a system admin, used by the tests that
need one when the users they sign up are not admins themselves.

Every test signs up its own users with random names, so the suite can run against a server that
already holds data, and the tests do not depend on each other.
"""

import asyncio
import json
import os
import re
import secrets
import threading
import time
import urllib.parse

import pytest
import requests
from mattermostdriver import Driver
from mattermostdriver.client import Client
from mattermostdriver.endpoints.bots import Bots
from mattermostdriver.exceptions import (
    InvalidOrMissingParameters,
    NoAccessTokenProvided,
    NotEnoughPermissions,
    ResourceNotFound,
)
from mattermostdriver.websocket import Websocket

CHORUS_URL = os.environ.get("CHORUS_URL", "").rstrip("/")
ADMIN_USER = os.environ.get("CHORUS_ADMIN_USER", "")
ADMIN_PASSWORD = os.environ.get("CHORUS_ADMIN_PASSWORD", "")

EVENT_TIMEOUT = 5.0
ID_RE = re.compile(r"^[a-z0-9]{26}$")


@pytest.fixture(scope="session", autouse=True)
def chorus_server():
    """Fail the whole run at once, with a clear message, when there is no server to test."""
    if not CHORUS_URL:
        pytest.exit(
            "CHORUS_URL is not set: point it at a running Chorus server, e.g. "
            "CHORUS_URL=http://127.0.0.1:8065 .venv/bin/python -m pytest -q",
            returncode=2,
        )
    parts = urllib.parse.urlsplit(CHORUS_URL)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        pytest.exit(f"CHORUS_URL must look like http://host:port (got {CHORUS_URL!r})", returncode=2)
    ping = f"{CHORUS_URL}/api/v4/system/ping"
    try:
        requests.get(ping, timeout=5)
    except requests.RequestException as err:
        pytest.exit(f"cannot reach the Chorus server at CHORUS_URL={CHORUS_URL} (GET {ping} failed: {err})", returncode=1)
    return CHORUS_URL


# -------------------------------------------------------------------------------------------------
# helpers


class CheckedClient(Client):
    """mattermostdriver's Client, failing loudly where the driver would silently hand back the raw
    response: it parses a GET answer only when Content-Type is exactly "application/json"."""

    def get(self, endpoint, options=None, params=None):
        result = super().get(endpoint, options=options, params=params)
        if isinstance(result, requests.Response):
            raise AssertionError(
                f"GET {endpoint}: the driver did not parse the answer as JSON (HTTP {result.status_code}, "
                f"Content-Type {result.headers.get('Content-Type')!r}, must be exactly 'application/json'): "
                f"{result.text[:200]!r}"
            )
        return result


def new_driver(**extra):
    return Driver(driver_options(**extra), client_cls=CheckedClient)


def driver_options(**extra):
    """mattermostdriver options (url / scheme / port / basepath) parsed from CHORUS_URL."""
    parts = urllib.parse.urlsplit(CHORUS_URL)
    scheme = parts.scheme
    options = {
        "url": parts.hostname,
        "scheme": scheme,
        "port": parts.port or (443 if scheme == "https" else 80),
        "basepath": parts.path.rstrip("/") + "/api/v4",
        "verify": True,
        "request_timeout": 30,
        # the websocket loop wakes up this often (and then sends a heartbeat pong frame);
        # short so that a test can stop its websocket promptly
        "timeout": 1,
    }
    options.update(extra)
    return options


def rnd(prefix):
    return prefix + secrets.token_hex(6)


def pending_id(user_id):
    return f"{user_id}:{int(time.time() * 1000)}{secrets.token_hex(3)}"


def is_system_admin(user):
    return "system_admin" in str(user.get("roles", "")).split()


class User:
    def __init__(self, driver, user, username, email, password):
        self.driver = driver
        self.user = user
        self.id = user["id"]
        self.username = username
        self.email = email
        self.password = password


# users seen in this run that turned out to be system admins (the first user on a fresh server)
KNOWN_ADMINS = []


def signup():
    username = rnd("u")
    email = f"{username}@example.com"
    password = f"Pw-{secrets.token_hex(8)}-X1!"
    driver = new_driver(login_id=username, password=password)
    created = driver.users.create_user(options={"username": username, "email": email, "password": password})
    assert ID_RE.match(created["id"]), created
    me = driver.login()
    assert me["id"] == created["id"]
    assert driver.client.token, "login did not yield a session token (Token response header)"
    user = User(driver, created, username, email, password)
    if is_system_admin(created):
        KNOWN_ADMINS.append(user)
    return user


def admin_driver(candidate=None):
    """A Driver logged in as a system admin: the candidate itself when it is one, else the admin
    named by CHORUS_ADMIN_USER / CHORUS_ADMIN_PASSWORD, else an admin signed up earlier in this run."""
    if candidate is not None and is_system_admin(candidate.user):
        return candidate.driver
    if ADMIN_USER and ADMIN_PASSWORD:
        driver = new_driver(login_id=ADMIN_USER, password=ADMIN_PASSWORD)
        me = driver.login()
        assert is_system_admin(me), f"CHORUS_ADMIN_USER {ADMIN_USER} is not a system_admin (roles: {me.get('roles')})"
        return driver
    if KNOWN_ADMINS:
        return KNOWN_ADMINS[0].driver
    pytest.fail(
        "this test needs a system admin: set CHORUS_ADMIN_USER and CHORUS_ADMIN_PASSWORD "
        "(or run against a fresh server, where the first user signed up becomes system_admin)"
    )


def setup_team_and_channel():
    a = signup()
    b = signup()
    team = a.driver.teams.create_team(options={"name": rnd("t"), "display_name": "Compat Team", "type": "O"})
    channel = a.driver.channels.create_channel(
        options={"team_id": team["id"], "name": rnd("c"), "display_name": "Compat Channel", "type": "O"}
    )
    a.driver.teams.add_user_to_team(team["id"], options={"team_id": team["id"], "user_id": b.id})
    a.driver.channels.add_user(channel["id"], options={"user_id": b.id})
    return a, b, team, channel


class RecordingWebsocket(Websocket):
    """mattermostdriver's own Websocket, remembering its connection so the test can close it."""

    def __init__(self, options, token):
        super().__init__(options, token)
        self.connection = None
        self.connections = 0

    async def _authenticate_websocket(self, websocket, event_handler):
        self.connection = websocket
        self.connections += 1
        return await super()._authenticate_websocket(websocket, event_handler)


class WebsocketListener:
    """Runs driver.init_websocket() (which blocks in its own asyncio loop) in a thread and records
    every message the driver hands to the event handler (events and replies alike)."""

    def __init__(self, driver):
        self.driver = driver
        self.messages = []
        self.error = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="mattermostdriver-websocket", daemon=True)
        self._thread.start()

    def _run(self):
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            # returns once driver.disconnect() has been called (the loop then wakes within 'timeout')
            self.driver.init_websocket(self._handle, websocket_cls=RecordingWebsocket)
            connection = self.driver.websocket.connection
            if connection is not None:
                loop.run_until_complete(connection.close())
        except BaseException as err:  # noqa: BLE001 - reported by stop()
            self.error = err
        finally:
            loop.close()

    async def _handle(self, message):
        parsed = json.loads(message)
        with self._cond:
            self.messages.append(parsed)
            self._cond.notify_all()

    def events(self):
        with self._cond:
            return [m for m in self.messages if "event" in m]

    def describe(self):
        return " ".join(f"{m.get('seq')}:{m.get('event')}" for m in self.events())

    def wait_for(self, event, pred=lambda m: True, timeout=EVENT_TIMEOUT):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages:
                    if m.get("event") == event and pred(m):
                        return m
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout} s waiting for websocket event {event!r}; "
                        f"events so far: [{self.describe()}]; last messages: {self.messages[-5:]}"
                    )
                self._cond.wait(remaining)

    def stop(self):
        if self.driver.websocket is not None:
            self.driver.disconnect()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the websocket thread did not stop"
        assert self.error is None, f"the websocket thread failed: {self.error!r}"


# -------------------------------------------------------------------------------------------------
# tests


def test_signup_login_get_me():
    username = rnd("u")
    email = f"{username}@example.com"
    password = f"Pw-{secrets.token_hex(8)}-X1!"

    anonymous = new_driver()
    created = anonymous.users.create_user(options={"username": username, "email": email, "password": password})
    assert ID_RE.match(created["id"])
    assert created["username"] == username
    assert created["email"] == email
    assert not created.get("password"), "create_user must not echo the password (hash)"

    by_username = new_driver(login_id=username, password=password)
    result = by_username.login()
    assert result["id"] == created["id"]
    assert by_username.client.token, "no Token response header on login"
    assert by_username.client.userid == created["id"]
    me = by_username.users.get_user("me")
    assert (me["id"], me["username"], me["email"]) == (created["id"], username, email)

    by_email = new_driver(login_id=email, password=password)
    assert by_email.login()["id"] == created["id"]
    assert by_email.client.token and by_email.client.token != by_username.client.token

    if is_system_admin(created):
        KNOWN_ADMINS.append(User(by_username, created, username, email, password))

    wrong = new_driver(login_id=username, password=password + "-wrong")
    with pytest.raises(NoAccessTokenProvided):  # mattermostdriver's exception for 401
        wrong.login()


def test_team_channel_member_post():
    a = signup()
    b = signup()
    team_name = rnd("t")
    team = a.driver.teams.create_team(options={"name": team_name, "display_name": "Compat Team", "type": "O"})
    assert ID_RE.match(team["id"])
    assert team["name"] == team_name
    assert a.driver.teams.get_team(team["id"])["id"] == team["id"]
    assert a.driver.teams.get_team_by_name(team_name)["id"] == team["id"]
    assert any(t["id"] == team["id"] for t in a.driver.teams.get_user_teams("me"))
    town_square = a.driver.channels.get_channel_by_name(team["id"], "town-square")
    assert town_square["name"] == "town-square"

    channel = a.driver.channels.create_channel(
        options={"team_id": team["id"], "name": rnd("c"), "display_name": "Compat Channel", "type": "O"}
    )
    assert ID_RE.match(channel["id"])
    assert channel["team_id"] == team["id"]

    member = a.driver.teams.add_user_to_team(team["id"], options={"team_id": team["id"], "user_id": b.id})
    assert member["user_id"] == b.id
    member = a.driver.channels.add_user(channel["id"], options={"user_id": b.id})
    assert member["user_id"] == b.id and member["channel_id"] == channel["id"]
    member_ids = {m["user_id"] for m in a.driver.channels.get_channel_members(channel["id"])}
    assert {a.id, b.id} <= member_ids

    message = f"hello from the python driver {rnd('m')}"
    post = b.driver.posts.create_post(
        options={"channel_id": channel["id"], "message": message, "pending_post_id": pending_id(b.id)}
    )
    assert ID_RE.match(post["id"])
    assert post["message"] == message
    assert post["user_id"] == b.id

    listing = a.driver.posts.get_posts_for_channel(channel["id"], params={"page": 0, "per_page": 60})
    assert post["id"] in listing["order"]
    assert listing["posts"][post["id"]]["message"] == message


def test_websocket_posted_event():
    a, b, _team, channel = setup_team_and_channel()
    listener = WebsocketListener(b.driver)
    try:
        hello = listener.wait_for("hello")
        assert hello["seq"] == 0
        assert len(hello["data"]["connection_id"]) == 26

        message = f"websocket check {rnd('m')}"
        post = a.driver.posts.create_post(
            options={"channel_id": channel["id"], "message": message, "pending_post_id": pending_id(a.id)}
        )

        def is_our_post(m):
            assert isinstance(m["data"]["post"], str), "posted: data.post must be a JSON string"
            return json.loads(m["data"]["post"])["id"] == post["id"]

        posted = listener.wait_for("posted", is_our_post)
        assert json.loads(posted["data"]["post"])["message"] == message
        assert posted["data"]["channel_name"] == channel["name"]
        assert posted["data"]["channel_type"] == "O"
        assert posted["data"]["sender_name"].lstrip("@") == a.username
        assert posted["broadcast"]["channel_id"] == channel["id"]

        seqs = [m["seq"] for m in listener.events()]
        assert seqs == list(range(len(seqs))), f"event seq values must be 0,1,2,...: [{listener.describe()}]"
        assert listener.driver.websocket.connections == 1, "the driver had to reconnect"
    finally:
        listener.stop()


def test_personal_access_token_bot_flow():
    user = signup()
    team = user.driver.teams.create_team(options={"name": rnd("t"), "display_name": "Bot Team", "type": "O"})
    town_square = user.driver.channels.get_channel_by_name(team["id"], "town-square")

    admin = admin_driver(user)
    pat = admin.users.create_user_access_token(user.id, options={"description": "compat bot token"})
    assert ID_RE.match(pat["token"]), pat
    assert pat["user_id"] == user.id

    # bot style: a Driver given only the token; login() then just fetches users/me with it
    bot = new_driver(token=pat["token"])
    me = bot.login()
    assert me["id"] == user.id
    assert me["username"] == user.username
    assert bot.client.token == pat["token"]

    post = bot.posts.create_post(options={"channel_id": town_square["id"], "message": "posted with a token"})
    assert post["user_id"] == user.id


def test_bad_input_is_4xx_not_500():
    user = signup()
    # mattermostdriver raises InvalidOrMissingParameters for 400 and ResourceNotFound for 404;
    # a 500 would surface as a plain requests.HTTPError instead
    with pytest.raises((InvalidOrMissingParameters, ResourceNotFound)):
        user.driver.users.get_user("notanid")


def test_app_start_up_config_license_roles_preferences_and_saved_posts():
    a, b, _team, channel = setup_team_and_channel()

    config = a.driver.system.get_client_configuration(params={"format": "old"})
    for key in ("Version", "SiteName", "MaxFileSize", "CollapsedThreads", "FeatureFlagAppsEnabled"):
        assert isinstance(config[key], str), f"config.{key}: {config.get(key)!r}"
    license = a.driver.system.get_client_license(params={"format": "old"})
    assert license == {"IsLicensed": "false"}

    # the driver's get_list_of_roles_by_name sends no body; the apps POST the names
    roles = a.driver.client.post("/roles/names", options=["system_user", "team_user", "channel_user"])
    assert sorted(role["name"] for role in roles) == ["channel_user", "system_user", "team_user"]
    channel_user = next(role for role in roles if role["name"] == "channel_user")
    assert "create_post" in channel_user["permissions"]
    assert a.driver.roles.get_role_by_id(channel_user["id"]) == channel_user
    assert a.driver.roles.get_role_by_name("channel_user") == channel_user

    listener = WebsocketListener(a.driver)
    try:
        listener.wait_for("hello")
        post = b.driver.posts.create_post(
            options={"channel_id": channel["id"], "message": rnd("save me "), "pending_post_id": pending_id(b.id)}
        )
        saved = [
            {"user_id": a.id, "category": "display_settings", "name": "use_military_time", "value": "true"},
            {"user_id": a.id, "category": "flagged_post", "name": post["id"], "value": "true"},
        ]
        assert a.driver.preferences.save_user_preferences(a.id, options=saved) == {"status": "OK"}
        changed = listener.wait_for("preferences_changed")
        assert json.loads(changed["data"]["preferences"]) == saved

        mine = a.driver.preferences.get_user_preferences("me")
        assert [p for p in mine if p["category"] == "display_settings"] == [saved[0]]
        assert a.driver.preferences.list_user_preferences_by_category(a.id, "flagged_post") == [saved[1]]
        assert a.driver.preferences.get_specific_user_preference(a.id, "display_settings", "use_military_time") == saved[0]

        flagged = a.driver.posts.get_list_of_flagged_posts(a.id)
        assert flagged["order"] == [post["id"]]

        a.driver.preferences.delete_user_preferences(a.id, options=[saved[1]])
        deleted = listener.wait_for("preferences_deleted")
        assert json.loads(deleted["data"]["preferences"])[0]["name"] == post["id"]
        assert a.driver.posts.get_list_of_flagged_posts(a.id)["order"] == []

        with pytest.raises(NotEnoughPermissions):
            b.driver.preferences.get_user_preferences(a.id)
    finally:
        listener.stop()


# --- sidebar, channels, unreads (issue 13) ---


def test_sidebar_categories_with_the_driver_client():
    a, _b, team, channel = setup_team_and_channel()
    path = f"/users/{a.id}/teams/{team['id']}/channels/categories"
    listener = WebsocketListener(a.driver)
    try:
        listener.wait_for("hello")
        categories = a.driver.client.get(path)
        assert [c["type"] for c in categories["categories"]] == ["favorites", "channels", "direct_messages"]
        assert channel["id"] in categories["categories"][1]["channel_ids"]
        custom = a.driver.client.post(
            path,
            options={"user_id": a.id, "team_id": team["id"], "display_name": "Py", "channel_ids": [channel["id"]]},
        )
        assert ID_RE.match(custom["id"]) and custom["type"] == "custom"
        assert listener.wait_for("sidebar_category_created")["data"]["category_id"] == custom["id"]
        order = a.driver.client.get(path + "/order")
        assert order[1] == custom["id"]
        assert a.driver.client.put(path + "/order", options=list(reversed(order))) == list(reversed(order))
        assert listener.wait_for("sidebar_category_order_updated")["data"]["order"] == list(reversed(order))
        renamed = a.driver.client.put(path + "/" + custom["id"], options={**custom, "display_name": "Renamed"})
        assert renamed["display_name"] == "Renamed"
        updated = listener.wait_for("sidebar_category_updated")
        assert json.loads(updated["data"]["updatedCategories"])[0]["display_name"] == "Renamed"
        assert a.driver.client.delete(path + "/" + custom["id"]) == {"status": "OK"}
        assert listener.wait_for("sidebar_category_deleted")["data"]["category_id"] == custom["id"]
        with pytest.raises(InvalidOrMissingParameters):
            a.driver.client.delete(path + "/" + categories["order"][0])
    finally:
        listener.stop()


def test_channels_unreads_member_settings_and_team_settings():
    a, b, team, channel = setup_team_and_channel()
    b.driver.posts.create_post(
        options={"channel_id": channel["id"], "message": f"@{a.username} hi", "pending_post_id": pending_id(b.id)}
    )
    unreads = a.driver.teams.get_team_unreads_for_user(a.id)
    unread = next(u for u in unreads if u["team_id"] == team["id"])
    assert unread["msg_count"] == 1 and unread["mention_count"] == 1
    assert any(c["id"] == channel["id"] for c in a.driver.client.get(f"/users/{a.id}/channels"))
    assert any(m["channel_id"] == channel["id"] for m in a.driver.client.get(f"/users/{a.id}/channel_members"))

    town_square = a.driver.channels.get_channel_by_name(team["id"], "town-square")
    view = a.driver.channels.view_channel(a.id, options={"channel_id": town_square["id"], "prev_channel_id": channel["id"]})
    assert view["status"] == "OK" and channel["id"] in view["last_viewed_at_times"]
    assert a.driver.channels.get_unread_messages(a.id, channel["id"])["msg_count"] == 0

    assert a.driver.channels.update_channel_notifications(
        channel["id"], a.id, options={"channel_id": channel["id"], "user_id": a.id, "mark_unread": "mention"}
    ) == {"status": "OK"}
    with pytest.raises(InvalidOrMissingParameters):
        a.driver.channels.update_channel_notifications(channel["id"], a.id, options={"mark_unread": "never"})
    with pytest.raises(NotEnoughPermissions):
        b.driver.channels.update_channel_notifications(channel["id"], a.id, options={"mark_unread": "all"})
    assert a.driver.channels.update_channel_roles(
        channel["id"], b.id, options={"roles": "channel_user channel_admin"}
    ) == {"status": "OK"}

    stats = a.driver.channels.get_channel_statistics(channel["id"])
    assert stats["channel_id"] == channel["id"] and stats["member_count"] == 2
    a.driver.channels.delete_channel(channel["id"])
    assert a.driver.channels.restore_channel(channel["id"])["delete_at"] == 0

    assert a.driver.teams.get_team_stats(team["id"]) == {
        "team_id": team["id"], "total_member_count": 2, "active_member_count": 2,
    }
    invite_only = a.driver.teams.create_team(options={"name": rnd("t"), "display_name": "Invite", "type": "I"})
    joined = b.driver.teams.add_user_to_team_from_invite(params={"invite_id": invite_only["invite_id"]})
    assert joined["team_id"] == invite_only["id"] and joined["user_id"] == b.id
    with pytest.raises(ResourceNotFound):
        b.driver.teams.add_user_to_team_from_invite(params={"invite_id": "abcdefghijklmnopqrstuvwxyz"})
    assert a.driver.teams.delete_team(invite_only["id"]) == {"status": "OK"}
    assert a.driver.client.post(f"/teams/{invite_only['id']}/restore")["delete_at"] == 0


def test_unread_posts_around_the_last_view():
    a, b, _team, channel = setup_team_and_channel()
    a.driver.channels.view_channel(a.id, options={"channel_id": channel["id"]})
    post = b.driver.posts.create_post(
        options={"channel_id": channel["id"], "message": "unread", "pending_post_id": pending_id(b.id)}
    )
    around = a.driver.posts.get_unread_posts_for_channel(a.id, channel["id"], params={"limit_after": 10})
    assert around["order"][0] == post["id"]
    assert around["posts"][post["id"]]["message"] == "unread"


# --- people, posts, operators (issue 13) ---


def test_profile_image_deactivation_custom_status_and_finding_users():
    a, b, team, channel = setup_team_and_channel()

    # the generated default, then an upload through the driver, then back to the default
    image = b.driver.client.make_request("get", f"/users/{a.id}/image")
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/png"
    assert image.content[1:4] == b"PNG"
    etag = image.headers["ETag"]
    cached = b.driver.client.make_request("get", f"/users/{a.id}/image", params=None)
    assert cached.headers["ETag"] == etag
    assert a.driver.users.set_user_profile_image(a.id, files={"image": ("me.png", image.content, "image/png")}) == {
        "status": "OK"
    }
    assert a.driver.users.get_user("me")["last_picture_update"] > 0
    assert a.driver.client.delete(f"/users/{a.id}/image") == {"status": "OK"}
    assert a.driver.users.get_user("me")["last_picture_update"] < 0

    # custom status in props.customStatus, as Mattermost keeps it
    status = {"emoji": "palm_tree", "text": "On holiday", "duration": "this_week"}
    assert a.driver.client.put("/users/me/status/custom", options=status) == {"status": "OK"}
    seen = b.driver.users.get_user(a.id)
    assert json.loads(seen["props"]["customStatus"])["text"] == "On holiday"
    with pytest.raises(NotEnoughPermissions):
        b.driver.client.put(f"/users/{a.id}/status/custom", options=status)
    assert a.driver.client.delete("/users/me/status/custom") == {"status": "OK"}

    # finding people
    found = b.driver.users.search_users(options={"term": a.username, "team_id": team["id"]})
    assert [user["id"] for user in found] == [a.id]
    with pytest.raises(InvalidOrMissingParameters):
        b.driver.users.search_users(options={"term": ""})
    completed = b.driver.users.autocomplete_users(
        params={"in_team": team["id"], "in_channel": channel["id"], "name": a.username}
    )
    assert [user["id"] for user in completed["users"]] == [a.id]
    assert completed["out_of_channel"] == []
    stats = b.driver.users.get_stats()
    assert isinstance(stats["total_users_count"], int) and stats["total_users_count"] >= 2

    # deactivation: the session ends, login is refused, reactivation lets them back
    admin = admin_driver(a)
    target = b if is_system_admin(a.user) else a
    assert admin.users.update_user_active_status(target.id, options={"active": False}) == {"status": "OK"}
    with pytest.raises(Exception) as refused:
        target.driver.users.get_user("me")
    assert "401" in str(refused.value) or "expired" in str(refused.value).lower()
    relogin = requests.post(
        f"{CHORUS_URL}/api/v4/users/login",
        json={"login_id": target.username, "password": target.password},
        timeout=30,
    )
    assert relogin.status_code == 401
    assert relogin.json()["id"] == "api.user.login.inactive.app_error"
    assert admin.users.update_user_active_status(target.id, options={"active": True}) == {"status": "OK"}
    assert new_driver(login_id=target.username, password=target.password).login()["id"] == target.id


def test_pins_posts_by_ids_permalinks_and_searches():
    a, b, team, channel = setup_team_and_channel()
    word = "zq" + secrets.token_hex(5).translate(str.maketrans("0123456789", "ghijklmnop"))
    post = a.driver.posts.create_post(
        options={"channel_id": channel["id"], "message": f"{word} pinned", "pending_post_id": pending_id(a.id)}
    )

    listener = WebsocketListener(a.driver)
    try:
        listener.wait_for("hello")
        assert b.driver.posts.pin_post_to_channel(post["id"]) == {"status": "OK"}
        edited = listener.wait_for(
            "post_edited", lambda m: json.loads(m["data"]["post"])["id"] == post["id"]
        )
        assert json.loads(edited["data"]["post"])["is_pinned"] is True
    finally:
        listener.stop()
    pinned = a.driver.channels.get_channel_pinned_posts(channel["id"])
    assert pinned["order"] == [post["id"]]
    assert b.driver.posts.unpin_post_to_channel(post["id"]) == {"status": "OK"}
    assert a.driver.channels.get_channel_pinned_posts(channel["id"])["order"] == []

    lobby = a.driver.channels.create_channel(
        options={"team_id": team["id"], "name": rnd("c"), "display_name": "Lobby", "type": "O"}
    )
    lobby_post = a.driver.posts.create_post(
        options={"channel_id": lobby["id"], "message": f"{word} lobby", "pending_post_id": pending_id(a.id)}
    )
    assert b.driver.posts.get_post(lobby_post["id"])["message"] == f"{word} lobby"
    by_ids = b.driver.client.post("/posts/ids", options=[post["id"], lobby_post["id"]])
    assert sorted(p["id"] for p in by_ids) == sorted([post["id"], lobby_post["id"]])

    everywhere = a.driver.client.post("/posts/search", options={"terms": word, "is_or_search": False})
    assert sorted(everywhere["order"]) == sorted([post["id"], lobby_post["id"]])
    in_team = a.driver.posts.search_for_team_posts(team["id"], options={"terms": word, "is_or_search": False})
    assert sorted(in_team["order"]) == sorted([post["id"], lobby_post["id"]])

    uploaded = a.driver.files.upload_file(channel["id"], files={"files": (f"{word}.txt", b"notes")})
    file_id = uploaded["file_infos"][0]["id"]
    a.driver.posts.create_post(
        options={"channel_id": channel["id"], "message": "attached", "file_ids": [file_id], "pending_post_id": pending_id(a.id)}
    )
    files = b.driver.client.post(f"/teams/{team['id']}/files/search", options={"terms": word, "is_or_search": False})
    assert files["order"] == [file_id]
    assert files["file_infos"][file_id]["name"] == f"{word}.txt"


def test_operators_logs_and_server_busy():
    a = signup()
    admin = admin_driver(a)
    logs = admin.system.get_logs(params={"page": 0, "logs_per_page": 10})
    assert isinstance(logs, list) and all(isinstance(line, str) for line in logs)
    assert admin.client.post("/server_busy", params={"seconds": 30}) == {"status": "OK"}
    try:
        state = admin.client.get("/server_busy")
        assert state["busy"] is True and state["expires"] > time.time()
        with pytest.raises(Exception) as busy:
            a.driver.users.search_users(options={"term": a.username})
        assert "busy" in str(busy.value).lower() or "503" in str(busy.value)
    finally:
        assert admin.client.delete("/server_busy") == {"status": "OK"}
    assert admin.client.get("/server_busy")["busy"] is False
    if not is_system_admin(a.user):
        with pytest.raises(NotEnoughPermissions):
            a.driver.system.get_logs(params={"page": 0, "logs_per_page": 10})


# --- integrations (issue 16) ---


def enable_integrations(admin):
    """Bot accounts and personal access tokens on (Mattermost's defaults are off), where the
    config may be changed at run time; elsewhere the server must have them on already."""
    try:
        admin.client.make_request(
            "put",
            "/config/patch",
            options={"ServiceSettings": {"EnableBotAccountCreation": True, "EnableUserAccessTokens": True}},
        )
    except (requests.HTTPError, NotEnoughPermissions, InvalidOrMissingParameters):
        pass


def test_a_driver_bot_answers_a_message():
    a, _b, team, channel = setup_team_and_channel()
    admin = admin_driver(a)
    enable_integrations(admin)
    # the Driver builds a Bots endpoint but has no property for it
    bots = Bots(admin.client)
    bot = bots.create_bot(options={"username": rnd("bot"), "display_name": "Echo bot", "description": "answers"})
    assert ID_RE.match(bot["user_id"]), bot
    assert bots.get_bot(bot["user_id"])["username"] == bot["username"]
    assert any(listed["user_id"] == bot["user_id"] for listed in bots.get_bots())
    admin.teams.add_user_to_team(team["id"], options={"team_id": team["id"], "user_id": bot["user_id"]})
    admin.channels.add_user(channel["id"], options={"user_id": bot["user_id"]})
    token = admin.users.create_user_access_token(bot["user_id"], options={"description": "echo bot"})

    # The bot as people write them: a Driver with the token, a websocket, an answer per message.
    bot_driver = new_driver(token=token["token"])
    me = bot_driver.login()
    assert me["id"] == bot["user_id"] and me["is_bot"] is True
    listener = WebsocketListener(bot_driver)
    try:
        listener.wait_for("hello")
        asked = a.driver.posts.create_post(options={"channel_id": channel["id"], "message": "!ping"})

        def is_question(m):
            return json.loads(m["data"]["post"])["id"] == asked["id"]

        question = json.loads(listener.wait_for("posted", is_question)["data"]["post"])
        bot_driver.posts.create_post(
            options={"channel_id": question["channel_id"], "root_id": question["id"], "message": "pong"}
        )
    finally:
        listener.stop()
    thread = a.driver.posts.get_thread(asked["id"])
    answers = [p for p in thread["posts"].values() if p["user_id"] == bot["user_id"]]
    assert [p["message"] for p in answers] == ["pong"]
    assert answers[0]["props"]["from_bot"] == "true"


def test_incoming_webhook_with_matterhook_and_the_driver():
    from matterhook import Webhook

    a, _b, team, channel = setup_team_and_channel()
    hook = a.driver.webhooks.create_incoming_hook(options={"channel_id": channel["id"], "display_name": "CI"})
    assert hook["team_id"] == team["id"] and ID_RE.match(hook["id"])

    Webhook(CHORUS_URL, hook["id"]).send("built with *matterhook*")
    a.driver.webhooks.call_webhook(hook["id"], options={"text": "called by the driver"})
    posts = a.driver.posts.get_posts_for_channel(channel["id"], params={"per_page": 5})
    messages = [posts["posts"][post_id]["message"] for post_id in posts["order"]]
    assert messages[:2] == ["called by the driver", "built with *matterhook*"]
    newest = posts["posts"][posts["order"][0]]
    assert newest["props"]["from_webhook"] == "true"

    with pytest.raises(InvalidOrMissingParameters):
        a.driver.webhooks.call_webhook("x" * 26, options={"text": "no such hook"})


def test_outgoing_webhook_and_command_crud_with_the_driver():
    a, _b, team, channel = setup_team_and_channel()
    hook = a.driver.webhooks.create_outgoing_hook(
        options={
            "team_id": team["id"],
            "channel_id": channel["id"],
            "trigger_words": ["build"],
            "callback_urls": ["http://example.com/hook"],
            "display_name": "Builder",
        }
    )
    assert hook["trigger_words"] == ["build"] and ID_RE.match(hook["token"])
    regenerated = a.driver.webhooks.regenerate_token_outgoing_hook(hook["id"])
    assert regenerated["token"] != hook["token"]
    listed = a.driver.webhooks.list_outgoing_hooks(params={"team_id": team["id"]})
    assert [h["id"] for h in listed] == [hook["id"]]
    a.driver.webhooks.delete_outgoing_hook(hook["id"])

    command = a.driver.commands.create_command(
        options={"team_id": team["id"], "trigger": rnd("c"), "url": "http://example.com/cmd", "method": "P"}
    )
    assert ID_RE.match(command["token"])
    # (the driver's list_autocomplete_commands and update/delete_command drop a slash)
    autocomplete = a.driver.client.get(f"/teams/{team['id']}/commands/autocomplete")
    assert any(c["trigger"] == "join" for c in autocomplete)
    shrug = a.driver.commands.execute_command(options={"channel_id": channel["id"], "command": "/shrug ok"})
    assert shrug["response_type"] == "in_channel"
