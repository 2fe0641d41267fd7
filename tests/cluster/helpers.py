"""Deploying and calling models on the cluster test servers; loads bounded in count and time."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import ray

SETOSA = [5.1, 3.5, 1.4, 0.2]


def push_and_deploy(http: httpx.Client, model: str, artifact: Path, **deployment: object) -> None:
    assert http.post("/v1/registry/models", json={"name": model}).status_code == 201
    with artifact.open("rb") as file:
        pushed = http.post(
            f"/v1/registry/models/{model}/versions",
            files={"artifact": (artifact.name, file)},
            data={"metadata": "{}"},
        )
    assert pushed.status_code == 201, pushed.text
    deployed = http.post("/v1/deployments", json={"model": model, **deployment})
    assert deployed.status_code == 201, deployed.text


def predict(http: httpx.Client, deployment: str) -> httpx.Response:
    return http.post(f"/v1/models/{deployment}:predict", json={"instances": [SETOSA]})


def named_actors(namespace: str) -> list[str]:
    return sorted(
        actor["name"]
        for actor in ray.util.list_named_actors(all_namespaces=True)
        if actor["namespace"] == namespace
    )


def actor_nodes(namespace: str) -> dict[str, str]:
    """The node each instance actor of ``namespace`` runs on, by actor name."""
    return {
        name: ray.get(ray.get_actor(name, namespace=namespace).node_id.remote(), timeout=30)
        for name in named_actors(namespace)
    }


@dataclass
class Load:
    """Clients calling a deployment in a loop through some servers until stopped (and at
    most ``limit_s``), counting answers by status and when the failures came."""

    urls: list[str]
    deployment: str
    clients: int = 4
    limit_s: float = 150.0
    headers: dict[str, str] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[tuple[float, int, str, str | None]] = field(default_factory=list)
    successes: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self, url: str) -> None:
        deadline = time.monotonic() + self.limit_s
        with httpx.Client(base_url=url, timeout=30, headers=self.headers) as http:
            while not self._stop.is_set() and time.monotonic() < deadline:
                response = predict(http, self.deployment)
                now = time.monotonic()
                with self._lock:
                    self.statuses[response.status_code] += 1
                    if response.status_code == 200:
                        self.successes.append(now)
                    else:
                        code = response.json()["error"]["code"]
                        retry = response.headers.get("retry-after")
                        self.failures.append((now, response.status_code, code, retry))

    def __enter__(self) -> Load:
        # One request per server first: a server builds its route table on its first action
        # request, and two servers in one process building theirs at once can race.
        for url in self.urls:
            with httpx.Client(base_url=url, timeout=60, headers=self.headers) as http:
                warm = predict(http, self.deployment)
                assert warm.status_code == 200, warm.text
                self.statuses[200] += 1
        for n in range(self.clients):
            url = self.urls[n % len(self.urls)]
            thread = threading.Thread(target=self._run, args=(url,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def wait_for(self, answers: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        start = sum(self.statuses.values())
        while sum(self.statuses.values()) < start + answers and time.monotonic() < deadline:
            time.sleep(0.05)
