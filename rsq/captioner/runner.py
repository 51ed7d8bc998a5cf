"""One `rsq caption` run: what the user asked for checked whole (`prepare`), then captioned on the local or the
Ray engine (`run`), or one prompt rendered (`dry_run_prompt`). Commands parse options into a `CaptionRun` and
print what comes back; nothing here prints."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from rsq.captioner.batch import run_job
from rsq.captioner.job import CaptionJob, JobSummary
from rsq.captioner.reading import prepare_request
from rsq.captioner.schema import MAX_VARIANTS
from rsq.errors import RsqError, check_range
from rsq.prompts import PromptTemplate, load_template
from rsq.sources import Listing, Skipped, TileRef

ENGINES = ("local", "ray")


@dataclass(frozen=True, kw_only=True)
class CaptionRun:
    """What a caption run is asked to do: tiles, model, template, job shape and engine; a bad value raises an
    `OptionError` on construction, before any tile is read or model loaded."""

    sources: list[str]
    spec: str
    prompt: str | None = None
    variants: int = 5
    batch_size: int = 8
    limit: int | None = None
    workers: int = 2
    params: dict[str, Any] = field(default_factory=dict)  # temperature, max_new_tokens, seed overrides
    backend_options: dict[str, Any] = field(default_factory=dict)
    engine: str = "local"
    address: str | None = None
    ray_workers: int | None = None
    ray_gpus_per_actor: float | None = None
    chip: tuple[int, int] | None = None
    data: Path | None = None

    def __post_init__(self) -> None:
        size, overlap = self.chip or (None, 0)
        for option, value, low, high in (
            ("variants", self.variants, 1, MAX_VARIANTS),
            ("batch_size", self.batch_size, 1, None),
            ("limit", self.limit, 1, None),
            ("workers", self.workers, 1, 64),
            ("ray_workers", self.ray_workers, 1, None),
            ("ray_gpus_per_actor", self.ray_gpus_per_actor, 0, 64),
            ("temperature", self.params.get("temperature"), 0, 2),
            ("max_new_tokens", self.params.get("max_new_tokens"), 1, None),
            ("chip", size, 16, 65536),
            ("overlap", overlap, 0, (size or 1) - 1),
        ):
            check_range(option, value, low, high)


@dataclass
class PreparedRun:
    """A run whose options were all checked: its job, its backend options and its tiles (listed lazily)."""

    run: CaptionRun
    job: CaptionJob
    options: dict[str, Any]
    refs: Iterable[TileRef]


@dataclass
class RunOutcome:
    """What a run did: the summary of the job, and the tiles the listing skipped before captioning."""

    summary: JobSummary
    skipped: list[Skipped]
    store: Path  # the store file written

    @property
    def failed(self) -> int:
        return self.summary.failed + len(self.skipped)


def prepare(run: CaptionRun) -> PreparedRun:
    """Check the model spec, template, engine and backend options and list the tiles, before any heavy work."""
    from rsq.captioner.backends import check_options, parse_spec

    if run.engine not in ENGINES:
        raise RsqError(f"--engine must be local or ray, not {run.engine!r}")
    scheme, _ = parse_spec(run.spec)
    template = load_template(run.prompt or ("human-captions" if scheme == "annotations" else "structured"))
    _check_template_fits(scheme, template)
    job = CaptionJob(
        template,
        variants=run.variants,
        params=run.params,
        batch_size=run.batch_size,
        workers=run.workers,
        chip=run.chip,
    )
    options = check_options(run.spec, run.backend_options)
    if scheme == "annotations":
        options["template"] = template
    return PreparedRun(run, job, options, _tile_refs(run.sources, scheme, run.spec, run.data))


def dry_run_prompt(prepared: PreparedRun) -> str:
    """The prompt the first readable tile would get; a RsqError says why when the first tile cannot be read."""
    from rsq.sources import open_tiles

    tiles, skipped = open_tiles(islice(prepared.refs, 1))
    if not tiles:
        why = f": {skipped[0].describe()}" if skipped else ""
        raise RsqError(f"no readable tile to render a prompt for{why}")
    request = prepare_request(tiles[0], prepared.job, needs_image=False)
    return request.prompt.text if request.prompt else f"(annotation template {prepared.job.template.version})"


def count_tiles(prepared: PreparedRun) -> int:
    """How many tiles the run lists (up to its limit), by one streaming pass that checks every manifest line."""
    refs, limit = prepared.refs, prepared.run.limit
    return refs.count(limit) if isinstance(refs, Listing) else len(list(refs)[:limit])


def run(
    prepared: PreparedRun,
    out: Path,
    on_todo: Callable[[int, int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RunOutcome:
    """Caption the run's tiles into the store at `out`, on its engine; resumable."""
    from rsq.captioner.backends import make_backend
    from rsq.captioner.store import CaptionStore

    run, refs, store = prepared.run, prepared.refs, CaptionStore(out)
    progress = {"on_todo": on_todo, "on_progress": on_progress}
    if run.engine == "ray":
        from rsq.captioner.ray_engine import run_job_on_ray

        summary = run_job_on_ray(
            refs,
            store,
            run.spec,
            prepared.options,
            prepared.job,
            limit=run.limit,
            address=run.address,
            actors=run.ray_workers,
            gpus_per_actor=run.ray_gpus_per_actor,
            **progress,
        )
    else:
        backend = make_backend(run.spec, **prepared.options)
        summary = run_job(refs, store, backend, prepared.job, limit=run.limit, **progress)
    return RunOutcome(summary, refs.skipped if isinstance(refs, Listing) else [], store.path)


def _tile_refs(sources: list[str], scheme: str, spec: str, data: Path | None) -> Iterable[TileRef]:
    """The tiles to caption, listed lazily (a `Listing`, which keeps the tiles it skipped); with no sources, an
    annotation file's own records."""
    from rsq.captioner.backends import parse_spec
    from rsq.sources.annotations import annotation_refs

    if sources:
        return Listing(sources, data)
    if scheme != "annotations":
        raise RsqError("give the tiles to caption (files, folders, globs, manifests, STAC, data:NAME)")
    path = Path(parse_spec(spec)[1]).expanduser()
    if not path.is_file():
        raise RsqError(f"annotation file {path} not found")
    return annotation_refs(path)


def _check_template_fits(scheme: str, template: PromptTemplate) -> None:
    if (scheme == "annotations") != (template.kind == "annotation"):
        wanted = (
            "an annotation template (human-captions, labels)"
            if scheme == "annotations"
            else "a VLM template (structured, brief)"
        )
        raise RsqError(f"{scheme}: models need {wanted}")
