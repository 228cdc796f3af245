"""Where a schema fuzzer (schemathesis) found the simulator answering unlike Quo's published spec.

- A method a known path does not take is ``405 Method Not Allowed`` with ``Allow`` and the documented
  JSON error body (an unknown path stays ``404``).
- ``phoneNumbers`` takes 1-100 items matching ``^PN(.*)$`` or E.164: 100 of them are valid, also
  next to the deprecated ``phoneNumber``, which is another parameter with its own value.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from airflow_provider_quo.testing import QuoSimulator

KEY = "test-key"
DOCUMENTED_FIELDS = {"message", "code", "status", "docs", "title", "trace"}


@pytest.fixture(scope="module")
def sim() -> Iterator[QuoSimulator]:
    with QuoSimulator(api_key=KEY, conversations=60, seed=5) as simulator:
        yield simulator


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/conversations", "GET"),
        ("POST", "/v1/conversations", "GET"),
        ("PUT", "/v1/phone-numbers", "GET"),
        ("OPTIONS", "/v1/phone-numbers", "GET"),
        ("TRACE", "/v1/conversations", "GET"),
        ("GET", "/v1/conversations/CN1/mark-as-read", "POST"),
        ("PATCH", "/v1/conversations/CN1/mark-as-done", "POST"),
        ("DELETE", "/v1/conversations/CN1/mark-as-open", "POST"),
    ],
)
def test_a_method_a_known_path_does_not_take_is_405_with_allow(
    sim: QuoSimulator, method: str, path: str, allowed: str
) -> None:
    for headers in ({"Authorization": KEY}, {}):  # whatever the key, like an unknown route
        response = requests.request(method, sim.base_url + path, headers=headers, timeout=5)
        assert response.status_code == 405, response.text
        assert response.headers["Allow"] == allowed
        assert response.headers["Content-Type"].startswith("application/json")
        body = response.json()
        assert body.keys() >= DOCUMENTED_FIELDS
        assert (body["status"], body["title"]) == (405, "Method Not Allowed")
        assert method in body["message"]
        assert allowed in body["message"]
    assert sim.request_count(method=method, path_prefix=path, status=405) == 2
    assert sim.read_ids() == sim.done_ids() == set(), "nothing changed"


def test_head_on_a_mark_path_is_405_without_a_body(sim: QuoSimulator) -> None:
    response = requests.head(f"{sim.base_url}/v1/conversations/CN1/mark-as-read", timeout=5)
    assert (response.status_code, response.headers["Allow"], response.content) == (405, "POST", b"")


@pytest.mark.parametrize("path", ["/v1/conversation", "/v1/conversations/CN1", "/v1/conversations/CN1/mark-as-x"])
def test_an_unknown_path_stays_404(sim: QuoSimulator, path: str) -> None:
    response = requests.delete(sim.base_url + path, headers={"Authorization": KEY}, timeout=5)
    assert response.status_code == 404
    assert "Allow" not in response.headers


def listing(sim: QuoSimulator, query: str) -> requests.Response:
    return requests.get(f"{sim.base_url}/v1/conversations?{query}", headers={"Authorization": KEY}, timeout=5)


def test_100_phone_numbers_and_the_deprecated_phone_number_are_accepted(sim: QuoSimulator) -> None:
    number = sim.phone_numbers[0]
    query = "&".join([f"phoneNumbers={number['id']}"] * 100) + "&phoneNumber=" + number["number"].replace("+", "%2B")
    response = listing(sim, query + "&maxResults=100")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data
    assert {c["phoneNumberId"] for c in data} == {number["id"]}


def test_100_values_of_pn_are_valid_by_the_spec_so_not_a_400(sim: QuoSimulator) -> None:
    """``PN`` matches ``^PN(.*)$``; it is no number of this workspace, so Quo's answer is 403, never 400."""
    for extra in ("", "&phoneNumber=PN"):
        response = listing(sim, "&".join(["phoneNumbers=PN"] * 100) + extra)
        assert response.status_code == 403, response.text
        assert response.json()["title"] == "Not Phone Number User"


def test_101_phone_numbers_are_a_400_naming_the_limit(sim: QuoSimulator) -> None:
    number_id = sim.phone_numbers[0]["id"]
    response = listing(sim, "&".join([f"phoneNumbers={number_id}"] * 101))
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["path"], error["schema"]["maxItems"]) == ("/phoneNumbers", 100)


@pytest.mark.parametrize("value", ["PN1\n", "PN\r", "PN x", "PN\u2028y", "PNunknown"])
def test_pn_followed_by_anything_is_well_formed_so_an_unknown_one_is_quos_403(sim: QuoSimulator, value: str) -> None:
    """The spec's ``^PN(.*)$`` takes ``PN`` and any characters; Quo answers an id it does not know with 403."""
    response = requests.get(
        f"{sim.base_url}/v1/conversations", params={"phoneNumbers": value}, headers={"Authorization": KEY}, timeout=5
    )
    assert response.status_code == 403, response.text
    body = response.json()
    assert (body["code"], body["title"], body["message"], body["description"]) == (
        "1001403",
        "Not Phone Number User",
        "Not Phone Number User",
        "Not Phone Number User",
    )


@pytest.mark.parametrize("value", ["+1555\u0661\u0662\u0663", "QN1", "pn1"])
def test_values_outside_the_spec_patterns_are_a_400(sim: QuoSimulator, value: str) -> None:
    response = requests.get(
        f"{sim.base_url}/v1/conversations", params={"phoneNumbers": value}, headers={"Authorization": KEY}, timeout=5
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["path"] == "/phoneNumbers"
