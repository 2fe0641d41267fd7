"""The web console in a real browser against a real server: sign in, deploy a catalogue
model, call it in the playground, upload a dataset, train on it, deploy the trained model and
call it, create and revoke a key, and see usage move. Screenshots of each page are kept as
artifacts."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import skimage.data
from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright
from sklearn.datasets import load_iris

from modelmart.config import Settings
from tests.integration.servers import LiveServer, live_server

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
SHARED_SHOTS = Path("/tmp/console-shots")
OPERATOR_KEY = "mm_0123456789ab_console-operator-secret"
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("console") / "data",
        json_logs=False,
        auth_enabled=True,
        bootstrap_api_key=OPERATOR_KEY,
    )
    with live_server(settings) as running:
        yield running


@pytest.fixture
def page(server: LiveServer) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        context.set_default_timeout(30_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            yield page
        finally:
            browser.close()
        assert errors == [], "the console threw in the browser"


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    SHARED_SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    shutil.copy(ARTIFACTS / f"{name}.png", SHARED_SHOTS / f"{name}.png")


def sign_in(page: Page, server: LiveServer, key: str) -> None:
    page.goto(f"{server.url}/console")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def test_a_bad_key_is_refused_with_the_apis_message(page: Page, server: LiveServer) -> None:
    sign_in(page, server, "mm_000000000000_not-a-key")
    expect(page.get_by_role("alert")).to_contain_text("API key is not valid")
    expect(page.get_by_label("API key")).to_be_visible()


def test_a_revoked_key_sends_the_user_back_to_sign_in(page: Page, server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    created = httpx.post(
        f"{server.url}/v1/orgs/operator/keys",
        headers=headers,
        json={"name": "short-lived", "role": "developer"},
    ).json()
    sign_in(page, server, created["key"])
    expect(page.get_by_role("heading", name="Catalogue and models")).to_be_visible()
    httpx.delete(f"{server.url}/v1/orgs/operator/keys/{created['id']}", headers=headers)
    page.get_by_role("link", name="Deployments").click()
    expect(page.get_by_role("alert")).to_contain_text("Sign in again")
    expect(page.get_by_label("API key")).to_be_visible()
    expect(page.get_by_role("navigation")).to_be_hidden()
    shoot(page, "00-expired-key")


def test_chart_helpers_read_prometheus_text(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/console/")
    figures = page.evaluate(
        """async () => {
            const m = await import("./metrics.js");
            const text = [
              '# TYPE modelmart_batch_duration_seconds histogram',
              'modelmart_batch_duration_seconds_bucket{deployment="a",le="0.01"} 50.0',
              'modelmart_batch_duration_seconds_bucket{deployment="a",le="0.1"} 90.0',
              'modelmart_batch_duration_seconds_bucket{deployment="a",le="+Inf"} 100.0',
              'modelmart_requests_total{method="POST",route="/x",status="200"} 9.0',
              'modelmart_requests_total{method="POST",route="/x",status="502"} 1.0',
            ].join("\\n");
            const samples = m.parsePrometheus(text);
            const cumulative = m.buckets(samples, "modelmart_batch_duration_seconds", "a");
            return [m.quantile(0.5, cumulative), m.quantile(0.7, cumulative),
                    m.errorCounts(samples)];
        }"""
    )
    assert figures[0] == pytest.approx(0.01)
    assert figures[1] == pytest.approx(0.01 + 0.09 * 0.5)
    assert figures[2] == {"errors": 1, "all": 10}


def test_console_walkthrough(page: Page, server: LiveServer, tmp_path: Path) -> None:
    operator = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    acme = {"slug": "acme", "name": "Acme", "plan": "free", "owner_email": "owner@acme.example"}
    assert httpx.post(f"{server.url}/v1/orgs", headers=operator, json=acme).status_code == 201
    sign_in(page, server, OPERATOR_KEY)
    expect(page.get_by_role("heading", name="Catalogue and models")).to_be_visible()
    page.get_by_label("Search").fill("sentiment")
    expect(page.get_by_role("link", name="vader-sentiment")).to_be_visible()
    shoot(page, "01-catalogue")

    page.goto(f"{server.url}/console/#/usage")
    expect(page.get_by_text("No usage this month yet")).to_be_visible()

    page.goto(f"{server.url}/console/#/models/vader-sentiment")
    expect(page.get_by_role("heading", name="Model card")).to_be_visible()
    shoot(page, "02-model")
    page.get_by_label("Isolation").select_option("thread")
    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page.get_by_role("heading", name="Deployments")).to_be_visible()
    expect(page.locator("td .badge", has_text="ready")).to_be_visible()
    shoot(page, "03-deployments")
    row = page.get_by_role("row").filter(has_text="vader-sentiment")
    expect(row).to_contain_text("0 of 64")  # queue depth of the server's default limit
    row.get_by_label("Queue limit of vader-sentiment").fill("8")
    row.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("row").filter(has_text="vader-sentiment")).to_contain_text("0 of 8")

    page.get_by_role("link", name="Try it").click()
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".usage")).to_contain_text("items: 1")
    expect(page.locator(".output table")).to_contain_text("positive")
    expect(page.locator(".output")).to_contain_text("curl -s")
    shoot(page, "04-playground")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".usage")).to_contain_text("items: 1")
    page.get_by_role("link", name="Deployments").click()
    rate = page.get_by_role("img", name="vader-sentiment: rows per second")
    expect(rate.locator("polyline")).to_have_attribute(
        "points", re.compile(r"\S+ \S+"), timeout=15_000
    )
    shoot(page, "04-deployments-live")

    flowers = tmp_path / "flowers.csv"
    load_iris(as_frame=True).frame.to_csv(flowers, index=False)
    page.goto(f"{server.url}/console/#/datasets")
    page.get_by_label("Dataset name").fill("flowers")
    page.get_by_label("File").set_input_files(flowers)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text("Uploaded flowers v1: 150 rows")
    expect(page.get_by_role("heading", name="Preview of flowers v1")).to_be_visible()
    shoot(page, "05-datasets")
    page.get_by_label("Dataset", exact=True).select_option("flowers")
    page.get_by_label("Model name").fill("flowers-logistic")
    page.get_by_role("button", name="Start training").click()
    expect(page.locator(".badge", has_text="succeeded")).to_be_visible(timeout=90_000)
    expect(page.get_by_role("link", name="flowers-logistic v1")).to_be_visible()
    shoot(page, "06-training-job")
    page.get_by_role("link", name="flowers-logistic v1").click()
    page.get_by_role("button", name="Open report").click()
    report = page.frame_locator("iframe.report")
    expect(report.locator("body")).to_contain_text("accuracy")
    shoot(page, "07-report")

    page.get_by_label("Isolation").select_option("thread")
    page.get_by_role("button", name="Deploy", exact=True).click()
    trained = page.get_by_role("row").filter(has_text="flowers-logistic")
    expect(trained.locator(".badge", has_text="ready")).to_be_visible()
    trained.get_by_role("link", name="Try it").click()
    expect(page.get_by_role("heading", name=re.compile(r"^flowers-logistic · "))).to_be_visible()
    page.get_by_label("Instances (JSON list, one row per example)").fill("[[5.1, 3.5, 1.4, 0.2]]")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".output .billed")).to_have_text("items: 1, requests: 1")
    expect(page.locator(".output .energy")).to_contain_text(" J")
    [answer] = json.loads(page.locator(".output pre.predictions").inner_text())
    assert answer["label"] == "0"  # the first iris row is a setosa, class 0 in the CSV
    assert max(answer["probabilities"]) == answer["probabilities"][0]
    expect(page.locator(".output")).to_contain_text('mm.predict("flowers-logistic"')
    shoot(page, "07-playground-trained")

    page.goto(f"{server.url}/console/#/keys")
    page.get_by_label("Name").fill("web-app")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#secret code")
    expect(secret).to_have_text(re.compile(r"^mm_[0-9a-f]{12}_\S+$"))
    shoot(page, "08-keys")
    row = page.get_by_role("row").filter(has_text="web-app")
    row.get_by_label("PII policy of web-app").select_option("redact-input")
    expect(page.get_by_role("status")).to_contain_text("web-app: PII policy redact-input")
    page.reload()
    reloaded = page.get_by_role("row").filter(has_text="web-app")
    expect(reloaded.get_by_label("PII policy of web-app")).to_have_value("redact-input")
    row.get_by_role("button", name="Revoke").click()
    row.get_by_role("button", name="Confirm: revoke").click()
    expect(page.get_by_role("row").filter(has_text="web-app")).to_contain_text("revoked")
    expect(page.locator("#secret code")).to_have_count(0)

    page.get_by_label("Organisation").select_option(label="Acme")
    expect(page.get_by_role("heading", name="Keys of acme")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="owner@acme.example")).to_contain_text("active")

    page.get_by_label("Organisation").select_option(label="Operator")
    page.goto(f"{server.url}/console/#/usage")
    page.get_by_label("Group").select_option("model")
    expect(page.locator("table").first).to_contain_text("vader-sentiment")
    by_model = page.locator("table").first.get_by_role("row")
    billed = by_model.filter(has_text="flowers-logistic").filter(has_text="items")
    expect(billed.get_by_role("cell").last).to_have_text("1")
    expect(page.get_by_text("No usage this month yet")).to_have_count(0)
    shoot(page, "09-usage")

    page.goto(f"{server.url}/console/#/audit")
    expect(
        page.get_by_role("cell", name="DELETE /v1/orgs/{slug}/keys/{key_id}").first
    ).to_be_visible()
    shoot(page, "10-audit")

    page.goto(f"{server.url}/console/#/deployments")
    for name in ("flowers-logistic", "vader-sentiment"):
        row = page.get_by_role("row").filter(has_text=name)
        row.get_by_role("button", name="Undeploy").click()
        row.get_by_role("button", name="Confirm: undeploy").click()
        expect(page.get_by_role("row").filter(has_text=name)).to_have_count(0)
    expect(page.get_by_text("Nothing is deployed")).to_be_visible()


def deploy_by_api(server: LiveServer, model: str) -> None:
    response = httpx.post(
        f"{server.url}/v1/deployments",
        headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        json={"model": model, "isolation": "thread"},
        timeout=120,
    )
    assert response.status_code == 201, response.text


def test_playground_embeddings_faces_and_chat(
    page: Page, server: LiveServer, tmp_path: Path
) -> None:
    for model in ("minilm-int8", "face-detector", "smollm2-135m-instruct"):
        deploy_by_api(server, model)
    sign_in(page, server, OPERATOR_KEY)
    expect(page.get_by_role("heading", name="Catalogue and models")).to_be_visible()

    page.goto(f"{server.url}/console/#/playground/minilm-int8")
    page.get_by_role("button", name="Run").click()
    matrix = page.locator("table.matrix")
    expect(matrix).to_contain_text("Cosine similarity")
    expect(page.locator(".usage")).to_contain_text("prompt_tokens")
    cells = [float(text) for text in matrix.locator("td").all_inner_texts()]
    assert len(cells) == 9
    assert cells[0] == pytest.approx(1.0, abs=1e-3)  # a text with itself
    assert cells[1] > cells[2]  # the cat and the kitten, closer than the cat and the markets
    shoot(page, "11-playground-embeddings")

    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(photo)  # type: ignore[no-untyped-call]
    page.goto(f"{server.url}/console/#/playground/face-detector")
    page.get_by_label("Image").set_input_files(photo)
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("img", name=re.compile(r"^[1-9]\d* region"))).to_be_visible()
    expect(page.locator(".usage")).to_contain_text("images: 1")
    shoot(page, "12-playground-faces")

    page.goto(f"{server.url}/console/#/playground/smollm2-135m-instruct")
    page.get_by_label("Max tokens").fill("8")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".usage")).to_contain_text("completion_tokens")
    expect(page.locator(".output p.chat")).not_to_be_empty()
    shoot(page, "13-playground-chat")
