"""The FastAPI example (examples/fastapi_app) through httpx on PostgreSQL, async kind:
CRUD, the 404 / 409 / 422 mappings, ids and timestamps a client cannot set, relations,
pagination and filters, request transactions (all or nothing, concurrently), aggregates.

The app gets a database of its own on the server for this run (beside the harness's
run database), created here and dropped when the module's tests end.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Optional

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from .harness import (  # noqa: E402
    POSTGRES_SERVER_URL,
    RUN_DATABASE,
    _admin_connection,
    _with_database,
    require_server,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from fastapi_app.main import create_app  # noqa: E402
from fastapi_app.models import TABLES, Post, User  # noqa: E402

BLOG_DATABASE = f"{RUN_DATABASE}_blog"


@pytest.fixture(scope="module")
def blog_url() -> Iterator[str]:
    require_server("postgres")
    admin = _admin_connection("postgres")
    try:
        admin.cursor().execute(f'CREATE DATABASE "{BLOG_DATABASE}"')
    finally:
        admin.close()
    # A pool smaller than the concurrency below, so requests queue for connections.
    yield _with_database(POSTGRES_SERVER_URL, BLOG_DATABASE) + "?pool_size=10"
    admin = _admin_connection("postgres")
    try:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{BLOG_DATABASE}" WITH (FORCE)')
    finally:
        admin.close()


@contextlib.asynccontextmanager
async def blog(url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running (httpx's ASGI transport sends no lifespan
    events) and empty tables."""
    app = create_app(url, create_tables=True)
    async with app.router.lifespan_context(app):
        names = ", ".join(model.__table_name__ for model in TABLES)
        await User.backend().execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://blog") as client:
            yield client


async def make_user(client: httpx.AsyncClient, name: str = "Ada") -> dict:
    response = await client.post("/users", json={"name": name, "email": f"{name.lower()}@x.org"})
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_read_update_delete_user(blog_url):
    async with blog(blog_url) as client:
        user = await make_user(client)
        assert user["id"] == 1 and user["name"] == "Ada"
        assert user["created_at"] is not None and user["created_at"] == user["updated_at"]
        assert (await client.get("/users/1")).json() == user
        patched = await client.patch("/users/1", json={"name": "Ada L."})
        assert patched.status_code == 200 and patched.json()["name"] == "Ada L."
        assert patched.json()["email"] == "ada@x.org"  # a PATCH leaves what it does not send
        assert (await client.delete("/users/1")).status_code == 204
        assert (await client.get("/users/1")).status_code == 404


async def test_a_client_cannot_set_id_or_timestamps(blog_url):
    async with blog(blog_url) as client:
        for extra in ({"id": 999}, {"created_at": "2000-01-01T00:00:00Z"}, {"updated_at": None}):
            body = {"name": "Eve", "email": "eve@x.org", **extra}
            response = await client.post("/users", json=body)
            assert response.status_code == 422
            [error] = response.json()["detail"]
            assert error["loc"] == ["body", next(iter(extra))] and error["type"] == "extra_forbidden"
        assert await User.query().count() == 0
        user = await make_user(client)
        response = await client.patch(f"/users/{user['id']}", json={"id": 999})
        assert response.status_code == 422
        assert await User.find_one(999) is None and await User.find_one(user["id"]) is not None


async def test_not_found_is_404(blog_url):
    async with blog(blog_url) as client:
        response = await client.get("/users/41")
        assert response.status_code == 404
        assert "User" in response.json()["detail"]
        assert (await client.post("/users/41/posts", json={"title": "t"})).status_code == 404
        assert (await client.get("/posts/7")).status_code == 404


async def test_duplicate_is_409_naming_the_constraint_without_the_values(blog_url):
    async with blog(blog_url) as client:
        await make_user(client)
        response = await client.post("/users", json={"name": "Ada2", "email": "ada@x.org"})
        assert response.status_code == 409
        body = response.json()
        assert body["constraint"] == "uq_users_email"
        assert "ada@x.org" not in response.text  # the server's message quotes the value


async def test_invalid_record_is_422_in_pydantic_shape(blog_url):
    async with blog(blog_url) as client:
        user = await make_user(client)
        # The record's own validation (RecordInvalid from query().update()).
        response = await client.post(f"/users/{user['id']}/rename", params={"name": ""})
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"] == ["name"] and error["type"] == "string_too_short"
        assert set(error) == {"loc", "msg", "type"}
        # A model-level validator the input model does not carry (a ValidationError while
        # the endpoint builds the record) is a 422 of the same shape.
        response = await client.post(
            f"/users/{user['id']}/posts", json={"title": "t", "published": True, "body": ""}
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["msg"].endswith("a published post needs a body")
        # The request body's own validation stays FastAPI's.
        response = await client.post("/users", json={"name": "", "email": "no-at-sign"})
        assert response.status_code == 422
        assert {tuple(e["loc"]) for e in response.json()["detail"]} == {
            ("body", "name"), ("body", "email")}


async def test_relations_pagination_and_filters(blog_url):
    async with blog(blog_url) as client:
        ada, bob = await make_user(client, "Ada"), await make_user(client, "Bob")
        for i in range(25):
            owner = ada if i % 2 == 0 else bob
            response = await client.post(
                f"/users/{owner['id']}/posts",
                json={"title": f"post {i:02d}", "body": "text", "published": i % 5 == 0},
            )
            assert response.status_code == 201, response.text
        page = (await client.get("/posts", params={"limit": 10, "offset": 0})).json()
        assert page["total"] == 25 and len(page["items"]) == 10
        assert [i["post"]["title"] for i in page["items"]][:2] == ["post 24", "post 23"]
        assert page["items"][0]["author"]["name"] == "Ada"
        last = (await client.get("/posts", params={"limit": 10, "offset": 20})).json()
        assert len(last["items"]) == 5
        mine = (await client.get("/posts", params={"user_id": bob["id"], "order": "title"})).json()
        assert mine["total"] == 12
        assert all(i["author"]["id"] == bob["id"] for i in mine["items"])
        published = (await client.get("/posts", params={"published": "true"})).json()
        assert published["total"] == 5
        found = (await client.get("/posts", params={"q": "post 1"})).json()
        assert found["total"] == 10  # post 10 .. post 19
        assert (await client.get("/posts", params={"order": "id; DROP TABLE posts"})).status_code == 422
        assert (await client.get("/posts", params={"limit": 1000})).status_code == 422
        users = (await client.get("/users", params={"name": "b"})).json()
        assert [u["name"] for u in users["items"]] == ["Bob"]

        post_id = page["items"][0]["post"]["id"]
        for text in ("first", "second"):
            response = await client.post(
                f"/posts/{post_id}/comments", json={"user_id": bob["id"], "body": text})
            assert response.status_code == 201, response.text
        detail = (await client.get(f"/posts/{post_id}")).json()
        assert detail["author"]["name"] == "Ada"
        assert [c["body"] for c in detail["comments"]] == ["first", "second"]
        response = await client.post(f"/posts/{post_id}/comments", json={"user_id": 99, "body": "x"})
        assert response.status_code == 422


async def test_aggregates(blog_url):
    async with blog(blog_url) as client:
        ada, bob = await make_user(client, "Ada"), await make_user(client, "Bob")
        for i in range(3):
            await client.post(f"/users/{ada['id']}/posts", json={"title": f"a{i}", "body": "b", "published": i == 0})
        await client.post(f"/users/{bob['id']}/posts", json={"title": "b0"})
        assert (await client.get("/stats/posts-per-user")).json() == [
            {"user_id": ada["id"], "posts": 3}, {"user_id": bob["id"], "posts": 1}]
        await client.post("/posts/1/comments", json={"user_id": ada["id"], "body": "c"})
        assert (await client.get(f"/users/{ada['id']}/stats")).json() == {
            "posts": 3, "published": 1, "comments": 1}


async def test_request_transaction_is_all_or_nothing(blog_url):
    async with blog(blog_url) as client:
        ada = await make_user(client)
        ok = await client.post(f"/users/{ada['id']}/posts/batch",
                               json={"posts": [{"title": "one"}, {"title": "two"}]})
        assert ok.status_code == 201 and [p["title"] for p in ok.json()] == ["one", "two"]
        # The third post's title is taken: 409, and the batch's first two are rolled back.
        clash = await client.post(f"/users/{ada['id']}/posts/batch",
                                  json={"posts": [{"title": "three"}, {"title": "four"}, {"title": "one"}]})
        assert clash.status_code == 409
        # An HTTP error raised by the endpoint (404 here) rolls back as well.
        missing = await client.post("/users/99/posts/batch", json={"posts": [{"title": "five"}]})
        assert missing.status_code == 404
        titles = sorted(p.title for p in await Post.find_all())
        assert titles == ["one", "two"]


async def test_merge_is_one_transaction(blog_url):
    async with blog(blog_url) as client:
        ada, bob = await make_user(client, "Ada"), await make_user(client, "Bob")
        await client.post(f"/users/{ada['id']}/posts", json={"title": "p"})
        await client.post("/posts/1/comments", json={"user_id": ada["id"], "body": "c"})
        # A missing target: 404 and nothing changed.
        assert (await client.post(f"/users/{ada['id']}/merge-into/99")).status_code == 404
        assert (await client.get(f"/users/{ada['id']}/stats")).json() == {
            "posts": 1, "published": 0, "comments": 1}
        merged = await client.post(f"/users/{ada['id']}/merge-into/{bob['id']}")
        assert merged.status_code == 200 and merged.json()["name"] == "Bob"
        assert (await client.get(f"/users/{ada['id']}")).status_code == 404
        assert (await client.get(f"/users/{bob['id']}/stats")).json() == {
            "posts": 1, "published": 0, "comments": 1}


async def test_one_hundred_concurrent_requests(blog_url):
    async with blog(blog_url) as client:
        created = await asyncio.gather(*(
            client.post("/users", json={"name": f"u{i}", "email": f"u{i}@x.org"})
            for i in range(100)))
        assert [r.status_code for r in created] == [201] * 100
        assert len({r.json()["id"] for r in created}) == 100
        # 100 request transactions at once on a pool of 10: every tenth batch holds a
        # taken title and is refused whole; the others commit whole.
        await client.post("/users/1/posts", json={"title": "taken"})

        def batch(i: int) -> dict:
            titles = [f"b{i}-1", f"b{i}-2"] + (["taken"] if i % 10 == 0 else [])
            return {"posts": [{"title": t} for t in titles]}

        responses = await asyncio.gather(*(
            client.post(f"/users/{i + 1}/posts/batch", json=batch(i)) for i in range(100)))
        codes = [r.status_code for r in responses]
        assert codes == [409 if i % 10 == 0 else 201 for i in range(100)]
        reads = await asyncio.gather(*(client.get(f"/users/{i + 1}/stats") for i in range(100)))
        posts = [r.json()["posts"] for r in reads]
        assert posts == [(1 if i == 0 else 0) if i % 10 == 0 else 2 for i in range(100)]


# ---- docs/fastapi.md: its async blocks are the example's code, its sync block runs -------
ROOT = Path(__file__).resolve().parents[2]


def fastapi_page_blocks() -> list[tuple[str, str]]:
    """(tab, code) of every python block of docs/fastapi.md, the tab's indent removed."""
    found: list[tuple[str, str]] = []
    tab, code, indent = "", None, ""
    for line in (ROOT / "docs" / "fastapi.md").read_text().splitlines():
        if code is None:
            if line.startswith("=== "):
                tab = line.split('"')[1]
            stripped = line.lstrip()
            if stripped.startswith("```python"):
                indent, code = line[: len(line) - len(stripped)], []
        elif line.strip() == "```" and line.startswith(indent + "```"):
            found.append((tab, "\n".join(code)))
            code = None
        else:
            code.append(line[len(indent):])
    return found


def test_fastapi_page_async_samples_are_the_examples_code():
    sources = "\n".join(
        path.read_text() for path in [
            *sorted((ROOT / "examples" / "fastapi_app").glob("*.py")), Path(__file__)])
    blocks = [code for tab, code in fastapi_page_blocks() if tab == "async"]
    assert len(blocks) >= 8
    for code in blocks:
        assert code in sources, f"docs/fastapi.md shows code the example no longer has:\n{code}"


def test_fastapi_page_sync_sample_runs(tmp_path, monkeypatch):
    [code] = [code for tab, code in fastapi_page_blocks() if tab == "sync"]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/fastapi.md", "exec", dont_inherit=True), {"__name__": "doc_fastapi"})


async def test_combined_model_lifespan_inner_and_request_transaction(blog_url):
    """A combined model (sync first): the dependency uses its async face; `inner` runs
    inside the lifespan; an HTTPException after a write rolls the write back; shutdown
    closes both kinds' pools."""
    from fastapi import FastAPI, HTTPException

    from twinrecord import AsyncBaseActiveRecord, BaseActiveRecord
    from twinrecord.fastapi import lifespan, transaction

    class Shared(BaseActiveRecord, AsyncBaseActiveRecord):
        pass

    class Tag(Shared):
        __table_name__ = "tags"
        id: Optional[int] = None
        label: str

    order: list[str] = []

    @contextlib.asynccontextmanager
    async def inner(app: FastAPI) -> AsyncIterator[None]:
        order.append("inner up")
        yield
        order.append("inner down")

    app = FastAPI(lifespan=lifespan(Shared, blog_url, create_tables=[Tag], inner=inner))

    @app.post("/tags/{label}", dependencies=[transaction(Shared)])
    async def add(label: str, fail: bool = False) -> dict:
        await Tag.aio.create(label=label)
        if fail:
            raise HTTPException(400, "changed my mind")
        return {"ok": True}

    @app.get("/tags")
    async def labels() -> list[str]:
        return [t.label for t in await Tag.aio.query().order_by("label").all()]

    async with app.router.lifespan_context(app):
        assert order == ["inner up"]
        await Tag.aio.query().delete()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.post("/tags/a")).status_code == 200
            assert (await client.post("/tags/b", params={"fail": True})).status_code == 400
            assert (await client.get("/tags")).json() == ["a"]
            Tag.drop_table()  # the sync face, configured by the same lifespan
    assert order == ["inner up", "inner down"]
    # Both kinds' pools were closed: no session of this database is left on the server.
    admin = _admin_connection("postgres")
    try:
        cursor = admin.cursor()
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (BLOG_DATABASE,))
        assert cursor.fetchone()[0] == 0
    finally:
        admin.close()


async def test_request_transaction_refuses_sync_models_and_sync_endpoints(blog_url):
    """The request transaction is async: a sync model is refused when the route is
    declared; a sync endpoint (FastAPI runs it in a worker thread, outside the
    transaction) is refused at its first request, before anything is written, rather
    than being silently not atomic. Inside a sync endpoint `with Model.transaction():`
    gives the all-or-nothing."""
    from fastapi import FastAPI, HTTPException

    from twinrecord import AsyncBaseActiveRecord, BaseActiveRecord, ConfigurationError
    from twinrecord.fastapi import lifespan, transaction

    class SyncBase(BaseActiveRecord):
        pass

    with pytest.raises(ConfigurationError, match=r"with SyncBase\.transaction\(\)"):
        transaction(SyncBase)

    class Shared(BaseActiveRecord, AsyncBaseActiveRecord):
        pass

    class Label(Shared):
        __table_name__ = "labels"
        id: Optional[int] = None
        text: str

    app = FastAPI(lifespan=lifespan(Shared, blog_url, create_tables=[Label]))

    @app.post("/wrapped/{text}", dependencies=[transaction(Shared)])
    def wrapped(text: str) -> dict:
        Label.create(text=text)
        return {"ok": True}

    @app.post("/own/{text}")
    def own(text: str, fail: bool = False) -> dict:
        with Label.transaction():
            Label.create(text=text)
            if fail:
                raise HTTPException(400, "changed my mind")
        return {"ok": True}

    async with app.router.lifespan_context(app):
        await Label.aio.query().delete()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            with pytest.raises(ConfigurationError, match=r"wrapped\(\) is a sync endpoint"):
                await client.post("/wrapped/a")
            assert (await client.post("/own/b")).status_code == 200
            assert (await client.post("/own/c", params={"fail": True})).status_code == 400
        assert [x.text for x in await Label.aio.query().all()] == ["b"]
        await Label.aio.drop_table()
