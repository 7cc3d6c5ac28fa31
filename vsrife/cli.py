"""Command line: `vsrife download`, `vsrife list`, `vsrife interpolate`.

Everything meant for a person goes to stderr; stdout carries video only (`vsrife interpolate ... -o -`).
"""

from __future__ import annotations

import argparse
import sys

from .registry import MODELS, VERSIONS, get_spec


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def cmd_download(args: argparse.Namespace) -> int:
    from .download import DownloadError, download

    versions = list(VERSIONS) if args.all else args.versions
    if not versions:
        _err("vsrife download: name at least one version (e.g. 4.25) or --all")
        return 2
    try:
        specs = [get_spec(v, "vsrife download") for v in versions]
    except ValueError as e:
        _err(str(e))
        return 2
    failed = 0
    for spec in specs:
        try:
            url = args.url.format(filename=spec.filename) if args.url else None
            path = download(spec, args.dir, url=url, force=args.force, progress=not args.quiet)
            _err(f"{spec.version}: {path}")
        except DownloadError as e:
            _err(f"vsrife download: {e}")
            failed += 1
    return 1 if failed else 0


def cmd_list(args: argparse.Namespace) -> int:
    from .weights import find_weights, model_dirs

    _err(f"model directories: {', '.join(str(d) for d in model_dirs())}")
    _err(f"{'version':<11} {'pad':>4} {'ensemble':>8}  weights")
    for v, spec in MODELS.items():
        found = find_weights(spec)
        _err(f"{v:<11} {spec.modulo:>4} {'yes' if spec.supports_ensemble else 'no':>8}  {found or '-'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vsrife", description="RIFE frame interpolation for VapourSynth")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("download", help="download and verify model weights")
    d.add_argument("versions", nargs="*", metavar="VERSION", help=f"one of {', '.join(VERSIONS)}")
    d.add_argument("--all", action="store_true", help="every release")
    d.add_argument("--dir", help="target directory (default: $VSRIFE_MODEL_DIR or the user cache)")
    d.add_argument("--url", help="URL template with {filename} (a mirror)")
    d.add_argument("--force", action="store_true", help="download even when a verified copy exists")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_download)

    ls = sub.add_parser("list", help="list releases and the weights found locally")
    ls.set_defaults(func=cmd_list)

    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
