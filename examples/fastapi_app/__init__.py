"""A small blog API on FastAPI and twinrecord's async models: users, posts, comments.

    pip install 'twinrecord[fastapi,postgres]' uvicorn
    DATABASE_URL=postgresql://user@127.0.0.1/blog uvicorn examples.fastapi_app.main:app

Its tests (tests/integration/test_fastapi_app.py) call it through httpx on PostgreSQL.
"""
