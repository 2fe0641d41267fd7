"""Plans, quotas, rate limits, the ledger and invoices, through the real server."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx

from tests.integration.billing.conftest import IRIS_ROW, client_for, make_org, serve_iris
from tests.integration.servers import LiveServer


def _set_plan(operator: httpx.Client, name: str, **terms: object) -> None:
    body = {"name": name, **terms}
    assert operator.put(f"/v1/plans/{name}", json=body).status_code == 200


def test_a_free_plan_stops_at_its_quota_with_a_clear_message(
    server: LiveServer, operator: httpx.Client, iris_file: Path
) -> None:
    _set_plan(
        operator,
        "tiny-free",
        kind="free",
        included_units={"requests": "3"},
        monthly_quota={"requests": "3"},
    )
    org = make_org(operator, "freebie", plan="tiny-free")
    with org.client(server) as client:
        serve_iris(client, "free-iris", iris_file)
        for _ in range(3):
            assert client.post("/v1/models/free-iris:predict", json=IRIS_ROW).status_code == 200
        stopped = client.post("/v1/models/free-iris:predict", json=IRIS_ROW)
        assert stopped.status_code == 402
        error = stopped.json()["error"]
        assert error["code"] == "quota_exceeded"
        assert "monthly quota of 3 requests" in error["message"]
        assert "resets at" in error["message"]
        invoice = client.get("/v1/orgs/freebie/invoices/" + _this_month()).json()
        assert Decimal(invoice["total"]) == 0


def test_a_pay_as_you_go_invoice_is_the_sum_of_its_ledger(
    server: LiveServer, operator: httpx.Client, iris_file: Path
) -> None:
    org = make_org(operator, "payer")
    with org.client(server) as client:
        serve_iris(client, "payg-iris", iris_file)
        # The operator prices the organisation's model by its full name.
        for unit, amount, per in (("requests", "0.0125", 1), ("items", "2.00", 1000)):
            price = {"model": "payer:payg-iris", "unit": unit, "amount": amount, "per": per}
            assert operator.put("/v1/prices", json=price).status_code == 200
        rows = {"instances": [[5.1, 3.5, 1.4, 0.2]] * 3}
        answered = [client.post("/v1/models/payg-iris:predict", json=rows) for _ in range(7)]
        assert [response.status_code for response in answered] == [200] * 7
        joules = [Decimal(str(r.json()["usage"]["energy_joules"])) for r in answered]
        assert all(amount > 0 for amount in joules)
        failed = client.post("/v1/models/payg-iris:predict", json={"instances": [[1.0]]})
        assert failed.status_code == 422  # failed requests are not billed

        usage = client.get("/v1/usage", params={"group_by": "model"}).json()["usage"]
        used = {
            row["unit"]: Decimal(row["quantity"])
            for row in usage
            if row["model"] == "payer:payg-iris"
        }
        # Energy adds up exactly: the responses, the usage API and the invoice agree.
        assert used == {"requests": 7, "items": 21, "energy_joules": sum(joules)}
        invoice = client.get(f"/v1/orgs/payer/invoices/{_this_month()}").json()
        assert Decimal(invoice["energy_joules"]) == sum(joules)
        (listed,) = invoice["energy"]
        assert (listed["model"], Decimal(listed["joules"])) == ("payer:payg-iris", sum(joules))
        assert invoice["status"] == "draft"
        expected = Decimal("0.0125") * 7 + Decimal("2.00") * 21 / 1000
        assert Decimal(invoice["total"]) == expected.quantize(Decimal("0.01"))
        assert sum(Decimal(line["amount"]) for line in invoice["lines"]) == Decimal(
            invoice["total"]
        )
        csv = client.get(f"/v1/orgs/payer/invoices/{_this_month()}", params={"format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text.splitlines()[-1].endswith(invoice["total"])
        page = client.get(f"/v1/orgs/payer/invoices/{_this_month()}", params={"format": "html"})
        assert "<table>" in page.text
        assert invoice["total"] in page.text
        not_over = operator.post(f"/v1/orgs/payer/invoices/{_this_month()}:finalize")
        assert not_over.status_code == 422


def test_rate_limits_answer_429_with_retry_after(
    server: LiveServer, operator: httpx.Client, iris_file: Path
) -> None:
    _set_plan(operator, "trickle", kind="pay-as-you-go", requests_per_minute=2)
    org = make_org(operator, "hasty", plan="trickle")
    with org.client(server) as client:
        serve_iris(client, "hasty-iris", iris_file)
        codes = [client.post("/v1/models/hasty-iris:predict", json=IRIS_ROW) for _ in range(3)]
        assert [r.status_code for r in codes] == [200, 200, 429]
        assert 1 <= int(codes[2].headers["retry-after"]) <= 60
        assert codes[2].json()["error"]["code"] == "rate_limited"
        slow = client.post("/v1/orgs/hasty/keys", json={"name": "slow", "requests_per_minute": 1})
        assert slow.json()["requests_per_minute"] == 1
    with client_for(server, slow.json()["key"]) as slow_client:
        refused = slow_client.post("/v1/models/hasty-iris:predict", json=IRIS_ROW)
        assert refused.status_code == 429  # the org's window is still full
        assert "organisation" in refused.json()["error"]["message"]


def test_an_idempotency_key_bills_a_retried_request_once(
    server: LiveServer, operator: httpx.Client, iris_file: Path
) -> None:
    org = make_org(operator, "careful")
    with org.client(server) as client:
        serve_iris(client, "careful-iris", iris_file)
        headers = {"Idempotency-Key": "order-42"}
        first = client.post("/v1/models/careful-iris:predict", json=IRIS_ROW, headers=headers)
        again = client.post("/v1/models/careful-iris:predict", json=IRIS_ROW, headers=headers)
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        usage = client.get("/v1/usage", params={"group_by": "model"}).json()["usage"]
        requests = [row for row in usage if row["unit"] == "requests"]
        assert requests == [{"model": "careful:careful-iris", "unit": "requests", "quantity": "1"}]


def test_an_idempotency_key_is_refused_for_any_other_request(
    server: LiveServer, operator: httpx.Client, iris_file: Path
) -> None:
    org = make_org(operator, "strict")
    headers = {"Idempotency-Key": "order-7"}
    with org.client(server) as client:
        serve_iris(client, "strict-iris", iris_file)
        path = "/v1/models/strict-iris:predict"
        assert client.post(path, json=IRIS_ROW, headers=headers).status_code == 200
        other = client.post(path, json={"instances": [[6.0, 2.9, 4.5, 1.5]]}, headers=headers)
        assert other.status_code == 422
        error = other.json()["error"]
        assert error["code"] == "idempotency_key_reused"
        assert "use a new key for a new request" in error["message"]
        second = client.post("/v1/orgs/strict/keys", json={"name": "second"})
        assert second.status_code == 201, second.text
    with client_for(server, second.json()["key"]) as second_client:
        same_request = second_client.post(path, json=IRIS_ROW, headers=headers)
        assert same_request.status_code == 422  # the key is bound to the API key that used it
    with org.client(server) as client:
        usage = client.get("/v1/usage", params={"group_by": "model"}).json()["usage"]
    assert [row["quantity"] for row in usage if row["unit"] == "requests"] == ["1"]


def _this_month() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m")


def test_the_data_sharing_plan_keeps_redacted_inputs_only_with_consent(
    server: LiveServer, operator: httpx.Client
) -> None:
    import time

    assert (
        operator.post(
            "/v1/deployments", json={"model": "langid", "isolation": "thread"}
        ).status_code
        == 201
    )
    org = make_org(operator, "sharer", plan="data-sharing")
    text = {"input": "Please write to jane.doe@example.com about the invoice today."}
    with org.client(server) as client:
        refused = client.post("/v1/tasks/language", json=text)
        assert refused.status_code == 402
        assert "data_sharing_consent" in refused.json()["error"]["message"]
        assert (
            client.patch("/v1/orgs/sharer", json={"data_sharing_consent": True}).status_code == 200
        )
        assert client.post("/v1/tasks/language", json=text).status_code == 200
        assert client.get("/v1/retained/langid").status_code == 403  # not its model
    deadline = time.monotonic() + 60
    while not (lines := operator.get("/v1/retained/langid").text.splitlines()):
        assert time.monotonic() < deadline, "the input was not kept"
        time.sleep(0.2)
    assert "<EMAIL_ADDRESS>" in lines[0]
    assert "jane.doe" not in lines[0]
