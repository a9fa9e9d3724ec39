"""Schemathesis against the app's own ``/openapi.json``, in process over a small real index
with a real engine: no server errors, and every response conforms to the schema (status
code, content type and body), for valid and invalid requests, with and without the key.

The operations are driven with schemathesis' Hypothesis strategies directly (its pytest
plugin does not run under this pytest), so each operation and generation mode is its own
Hypothesis run and every failure is collected before the test reports.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from qa.api.app import create_app
from qa.engine import Engine
from tests.reliability.conftest import AUTH, make_settings

pytestmark = pytest.mark.slow  # schemathesis over the whole API

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
]
MAX_EXAMPLES = 50  # per operation and generation mode: the whole file stays under 2 min


# With the key these fetch the URLs they are given: fuzzing must send nothing off the machine
# (tests/qa/api/test_sources_api.py tests them against a local site).
FETCHING = {"POST /api/sources"}


def _fuzz(schema: schemathesis.BaseSchema, headers: dict[str, str] | None) -> list[str]:
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if headers and operation.label in FETCHING:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to get wrong (e.g. /healthz)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:  # schemathesis raises exception groups; collect all
                failures.append(f"{operation.label} [{mode.value}]: {e}")
    return failures


@pytest.fixture
def schema_factory(small_index_copy) -> Callable[[], schemathesis.BaseSchema]:  # noqa: ANN001
    def make() -> schemathesis.BaseSchema:
        settings_ = make_settings(small_index_copy)
        app = create_app(settings_, engine=Engine(settings_))
        return schemathesis.openapi.from_asgi("/openapi.json", app)

    return make


@pytest.mark.parametrize("with_key", [False, True], ids=["without-key", "with-key"])
def test_api_conforms_to_its_schema(schema_factory, with_key: bool) -> None:  # noqa: ANN001
    """Without the key every write is a declared 401; with it, writes really run."""
    schema = schema_factory()
    operations = [r.ok().label for r in schema.get_all_operations()]
    assert {"POST /api/ask", "POST /api/articles", "DELETE /api/articles/{article_id}"} <= set(
        operations
    )
    failures = _fuzz(schema, AUTH if with_key else None)
    assert not failures, "\n\n".join(failures)
