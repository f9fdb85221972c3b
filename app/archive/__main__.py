"""CLI of the case archive (settings: CMR_* environment, as the gateway reads them).

    python -m app.archive index --manifest M [--archive A] [--reindex] [--batch-size 8]
    python -m app.archive stats [--archive A]
    python -m app.archive evaluate --manifest M [--archive A] [--out eval/archive.json]
    python -m app.archive seed --from SHIPPED [--archive A]

`index` encodes through the backend the gateway is configured with (CMR_BACKEND), skips study
keys already archived, and commits every batch; an archive of another model version is refused
unless --reindex, which deletes its embeddings first. `seed` copies a shipped archive to A
unless A exists (the deployment's init step).
"""

import argparse
import asyncio
import json
import sys
from pathlib import Path

from app.archive.evaluate import evaluate_archive
from app.archive.indexer import index_studies, read_manifest_studies
from app.archive.seed import seed_archive
from app.archive.stats import archive_stats
from app.archive.store import ArchiveOptions, SqliteArchive
from app.config import ServingSettings
from app.errors import CmrError
from app.model_card import load_model_card
from app.pipeline.service import Pipeline


async def _index(args: argparse.Namespace, settings: ServingSettings, path: Path) -> None:
    studies = read_manifest_studies(args.manifest)
    pipeline = Pipeline.from_settings(settings)
    archive = SqliteArchive.create(
        path,
        pipeline.card.version,
        pipeline.card.embed_dim,
        ArchiveOptions(exact_max=settings.archive_exact_max),
        reindex=args.reindex,
    )
    await pipeline.start()
    try:
        report = await index_studies(pipeline, archive, studies, args.batch_size)
    finally:
        await pipeline.close()
        archive.close()
    print(
        f"{report.indexed} indexed, {report.already} already archived, "
        f"{len(report.failed)} failed -> {path} (model {pipeline.card.version})"
    )
    for key, code in sorted(report.failed.items()):
        print(f"  {key}: {code}", file=sys.stderr)


async def _evaluate(args: argparse.Namespace, settings: ServingSettings, path: Path) -> None:
    studies = read_manifest_studies(args.manifest)
    pipeline = Pipeline.from_settings(settings)
    archive = SqliteArchive.open(
        path,
        pipeline.card.version,
        pipeline.card.embed_dim,
        ArchiveOptions(exact_max=settings.archive_exact_max),
    )
    await pipeline.start()
    try:
        result = await evaluate_archive(pipeline, archive, studies, args.k, args.similar)
    finally:
        await pipeline.close()
        archive.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(result.model_dump_json(indent=2) + "\n")
    print(f"phrase search precision@{args.k} (prevalence) / draft finding F1:")
    for label, search in result.phrase_search.items():
        f1 = result.draft_findings[label].f1
        print(
            f"  {label:<28} {search.precision:.2f} ({search.prevalence:.2f})"
            f"   F1 {'n/a' if f1 is None else f'{f1:.2f}'}"
        )
    print(f"  mean precision {result.mean_precision_at_k:.2f}, macro F1 {result.macro_f1:.2f}")
    print(f"-> {args.out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.archive", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    index = commands.add_parser("index", help="archive the studies of a manifest")
    index.add_argument("--manifest", type=Path, required=True)
    index.add_argument("--reindex", action="store_true", help="drop embeddings of another model")
    index.add_argument("--batch-size", type=int, default=8)
    stats = commands.add_parser("stats", help="what the archive holds")
    evaluate = commands.add_parser("evaluate", help="phrase search and draft findings")
    evaluate.add_argument("--manifest", type=Path, required=True)
    evaluate.add_argument("--out", type=Path, default=Path("eval/archive.json"))
    evaluate.add_argument("--k", type=int, default=10, help="precision@k of phrase search")
    evaluate.add_argument("--similar", type=int, default=5, help="similar cases per draft")
    seed = commands.add_parser("seed", help="copy a shipped archive unless one is there")
    seed.add_argument("--from", dest="source", type=Path, required=True)
    for command in (index, stats, evaluate, seed):
        command.add_argument("--archive", type=Path, help="default: CMR_ARCHIVE_PATH")
    args = parser.parse_args(argv)
    settings = ServingSettings()
    path = args.archive or settings.archive_path
    if path is None:
        parser.error("no archive: pass --archive or set CMR_ARCHIVE_PATH")
    try:
        if args.command == "index":
            asyncio.run(_index(args, settings, path))
        elif args.command == "evaluate":
            asyncio.run(_evaluate(args, settings, path))
        elif args.command == "seed":
            print("seeded" if seed_archive(args.source, path) else "kept the archive in place")
        else:
            result = archive_stats(path).model_dump()
            card = load_model_card(settings.model_repository)
            result["served_model_version"] = card.version
            print(json.dumps(result, indent=2))
    except (CmrError, FileNotFoundError, ValueError) as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
