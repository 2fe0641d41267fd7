"""The one typed settings object, read once at start-up and passed down.

Every field can be set by a ``MODELMART_<FIELD>`` environment variable (for example
``MODELMART_DATA_DIR`` or ``MODELMART_DATABASE_URL``) or by a CLI flag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelmart.schemas.deployments import parse_cpu_list

MIB = 1024 * 1024


class Settings(BaseSettings):
    """Settings for one ModelMart server process."""

    model_config = SettingsConfigDict(env_prefix="MODELMART_", frozen=True, extra="forbid")

    data_dir: Path = Field(
        default=Path("modelmart-data"),
        description="Where the SQLite database, artifacts and unpacked model caches live.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means SQLite at <data_dir>/modelmart.db. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_request_bytes: int = Field(default=16 * MIB, gt=0, description="Inference body limit.")
    max_upload_bytes: int = Field(default=2048 * MIB, gt=0, description="Artifact upload limit.")
    max_unpacked_bytes: int = Field(
        default=2048 * MIB, gt=0, description="Limit on what an uploaded archive may expand to."
    )
    inference_timeout_s: float = Field(
        default=30.0, gt=0, description="Default time a batch may run before its worker is killed."
    )
    instance_start_timeout_s: float = Field(
        default=300.0, gt=0, description="Time a model instance may take to load."
    )
    training_workers: int = Field(
        default=1, ge=1, le=64, description="Training jobs run at once; the rest queue."
    )
    auth_enabled: bool = Field(
        default=True,
        description="Require an API key on every route but health checks and the API docs.",
    )
    bootstrap_api_key: SecretStr | None = Field(
        default=None,
        description="Owner key of the operator organisation made on first start; when unset "
        "a random one is made and printed once.",
    )
    redis_url: str = Field(
        default="",
        description="redis://host:port/db to share rate limits and monthly usage between "
        "server processes; empty keeps them in this process.",
    )
    ledger_fsync: bool = Field(
        default=False,
        description="SQLite only: flush the usage ledger to disk at every commit. Off, a "
        "served request's usage record survives the server being killed (kill -9) but not "
        "the machine losing power, and a request does not wait for a disk flush.",
    )
    log_level: str = "INFO"
    json_logs: bool = True
    max_queued_requests: int = Field(
        default=64,
        ge=1,
        description="Requests one deployment's batch queue holds; more are refused with 503 "
        "overloaded and a Retry-After.",
    )
    max_request_pixels: int = Field(
        default=100_000_000,
        gt=0,
        description="Pixels all images of one image-task request may declare together; "
        "more are refused with 413 image_too_large before decoding.",
    )
    max_dataset_columns: int = Field(
        default=2000,
        ge=1,
        description="Columns a dataset table may have; wider uploads are refused from their "
        "header line before parsing.",
    )
    max_unpack_ratio: float = Field(
        default=100.0,
        gt=1,
        description="How many times its own size an uploaded archive may expand to (at least "
        "64 MiB); checked from the sizes it declares and again while it is written.",
    )
    server_cpus: str = Field(
        default="",
        pattern=r"^[0-9,\- ]*$",
        description="CPUs the server process runs on, as a list such as '0' or '0-1,4'; "
        "deployments without cpus of their own run there too. Empty: any CPU. Pin a heavy "
        "deployment elsewhere (its cpus) to keep it off the cores requests are answered on.",
    )
    max_queue_wait_s: float = Field(
        default=30.0,
        gt=0,
        description="Longest a request waits in a deployment's queue before it is dropped "
        "(503 overloaded), so a backlog never turns into unbounded latency.",
    )
    cpu_watts_per_core: float = Field(
        default=10.0,
        gt=0,
        description="Watts one busy CPU core draws, for the energy-per-item estimate of model "
        "cards (measured CPU time per item x threads x this figure).",
    )
    explain_max_instances: int = Field(
        default=16,
        ge=1,
        description="Instances one :explain request may ask to explain; more are refused.",
    )
    explain_max_evaluations: int = Field(
        default=2048,
        ge=16,
        description="Model evaluations (probe rows) one explained instance may cost: bounds "
        "Kernel SHAP's coalitions x background rows, occlusion's windows and token occlusion's "
        "tokens.",
    )
    explain_probe_batch_rows: int = Field(
        default=512,
        ge=1,
        description="Probe rows sent to the deployment in one predict call while explaining.",
    )
    autoscale_interval_s: float = Field(
        default=1.0, gt=0, description="How often the autoscaler looks at deployments' load."
    )
    autoscale_downscale_delay_s: float = Field(
        default=30.0,
        ge=0,
        description="How long an autoscaled deployment's load must stay low before it loses "
        "instances (it gains them at once).",
    )
    scale_to_zero_after_s: float = Field(
        default=300.0,
        ge=0,
        description="Idle time (no request) after which a deployment with min_instances 0 "
        "stops its last instance; the next request waits for a cold start.",
    )
    deployment_sync_interval_s: float = Field(
        default=2.0,
        gt=0,
        description="How often this server reads the deployments table to serve, change or "
        "stop deployments that other servers sharing the database changed.",
    )
    energy_accounting: bool = Field(
        default=True,
        description="Measure the energy of every batch (RAPL where readable, else CPU time x "
        "cpu_watts_per_core) and report energy_joules in every inference usage. Off: every "
        "request reports 0 J (for measuring what the accounting costs).",
    )
    grid_intensity_g_per_kwh: float | None = Field(
        default=None,
        ge=0,
        description="Grams of CO2-equivalent per kWh of the grid this server draws from; set, "
        "every inference usage also reports co2e_grams. Unset: not reported.",
    )
    powercap_dir: Path = Field(
        default=Path("/sys/class/powercap"),
        description="Where Linux exposes the RAPL energy counters (intel-rapl:N/energy_uj).",
    )
    placement: Literal["local", "ray"] = Field(
        default="local",
        description="Where model instances run: 'local' on this machine, 'ray' as actors on "
        "the Ray cluster named by ray_address (see docs/cluster.md).",
    )
    ray_address: str = Field(
        default="",
        description="placement=ray: the cluster to join ('auto', host:6379 or "
        "ray://host:10001); empty starts a single-machine Ray inside this server.",
    )
    ray_namespace: str = Field(
        default="modelmart",
        description="placement=ray: the Ray namespace of this installation's instances; every "
        "server of one installation uses the same, two installations on one cluster differ.",
    )
    ray_object_store_mb: int = Field(
        default=0,
        ge=0,
        description="placement=ray with an empty ray_address: object store size of the Ray "
        "this server starts; 0 lets Ray choose (30% of memory).",
    )
    ray_instance_cpus: float = Field(
        default=1.0,
        gt=0,
        description="placement=ray: CPUs each model instance reserves on its node (also its "
        "thread count, unless the model version sets a threads parameter).",
    )
    ray_instance_memory_mb: int = Field(
        default=0,
        ge=0,
        description="placement=ray: memory each model instance reserves on its node; 0 "
        "reserves none.",
    )
    job_heartbeat_interval_s: float = Field(
        default=2.0,
        gt=0,
        description="How often this server records that it is alive, picks up cancels of its "
        "training jobs asked through other servers, and fails jobs whose server is gone.",
    )
    job_owner_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="A training job whose server has not recorded it is alive for this long "
        "is failed as 'server lost' by any other server sharing the database.",
    )

    @model_validator(mode="after")
    def _check_job_owner_timeout(self) -> Settings:
        # A few missed heartbeats (a slow database, a long pause) must not look like a death.
        if self.job_owner_timeout_s < 3 * self.job_heartbeat_interval_s:
            raise ValueError(
                f"job_owner_timeout_s ({self.job_owner_timeout_s}) must be at least three "
                f"times job_heartbeat_interval_s ({self.job_heartbeat_interval_s})"
            )
        return self

    @model_validator(mode="after")
    def _check_database_url(self) -> Settings:
        url = self.database_url
        if url and not url.startswith(("sqlite", "postgresql")):
            raise ValueError(
                f"database_url {url!r} is not supported; use sqlite:///path/to.db or "
                "postgresql+psycopg://user:pass@host/db"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite inside the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'modelmart.db').resolve()}"

    @field_validator("server_cpus")
    @classmethod
    def _cpu_list(cls, text: str) -> str:
        parse_cpu_list(text)  # ValueError names the part that is not a CPU range
        return text

    @property
    def server_cpu_ids(self) -> set[int]:
        """``server_cpus`` as CPU ids (empty: any CPU)."""
        return parse_cpu_list(self.server_cpus)

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def cache_dir(self) -> Path:
        """Unpacked copies of archived artifacts (model directories), keyed by digest."""
        return self.data_dir / "cache"
