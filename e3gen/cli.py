"""The `e3gen` command line: build, info, demo, debug (and the commands other modules register)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional


def _cmd_build(args) -> int:
    from e3gen.build import build

    # `--out ""` is a mistake to report, not the default folder (build() refuses it).
    report = build(args.lmax, args.out, force=args.force, check=args.check)
    print(report.format() if report.stage_seconds else f"up to date: {report.path} (use --force to rebuild)")
    if args.check:
        if report.differences:
            print(f"check FAILED: {report.path} differs from a fresh build:", *report.differences, sep="\n  ")
            return 1
        print(f"check passed: {report.path} is byte-for-byte what this e3gen builds")
    return 0


def _cmd_info(args) -> int:
    import e3gen
    from e3gen import store

    from e3gen.runtime.loader import build_dir

    print(f"e3gen {e3gen.__version__}")
    failed = False  # a shipped or pointed-at build that fails is an error at runtime: exit 1
    roots = [("shipped", store.shipped_root()), ("cache", store.cache_root())]
    if build_dir() is not None:
        roots.insert(0, ("E3GEN_BUILD_DIR", build_dir()))
    for label, root in roots:
        builds = store.list_builds(root)
        print(f"{label} builds in {root}:" if builds else f"{label} builds in {root}: none")
        for path in builds:
            status = store.verify_build(path)
            summary = (status.manifest or {}).get("summary", {})
            detail = (
                f"{summary.get('coupling_paths', '?')} coupling paths, {summary.get('nonzero_terms', '?')} terms"
                if status.manifest
                else ""
            )
            print(f"  lmax={status.lmax:<3} {status.describe():<8} {detail}")
            if not status.ok:
                print(f"           rebuild with: {store.rebuild_command(path, status.lmax)}")
                failed = failed or label != "cache"
    return 1 if failed else 0


def _cmd_demo(args) -> int:
    from e3gen.examples import tetris

    return tetris.demo(seed=args.seed, plot=args.plot)


def _lmax(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--lmax needs an integer such as 3, got {text!r}") from None


def parser() -> argparse.ArgumentParser:
    import e3gen

    p = argparse.ArgumentParser(prog="e3gen", description="Compiler for E(3)-equivariant kernels (e3nn conventions).")
    p.add_argument("--version", action="version", version=f"e3gen {e3gen.__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="derive, verify and generate the kernels for one lmax")
    b.add_argument("--lmax", type=_lmax, required=True, help="largest l to generate (0..12)")
    b.add_argument("--out", help="folder that receives lmax<L>/ (default: the shipped e3gen.generated folder)")
    b.add_argument("--check", action="store_true", help="compare a fresh build with the one on disk; write nothing")
    b.add_argument("--force", action="store_true", help="rebuild even if an up-to-date build is there")
    b.set_defaults(run=_cmd_build)

    i = sub.add_parser("info", help="list the builds e3gen can load and whether they verify")
    i.set_defaults(run=_cmd_info)

    d = sub.add_parser("demo", help="verify the shipped build, then train and check the tetris example (seconds, CPU)")
    from e3gen.debug.cli import seed_type  # argparse only

    d.add_argument("--seed", type=seed_type, default=0, help="seed of the initial weights (default 0)")
    d.add_argument("--plot", metavar="FILE", help="also draw loss and accuracy per step to FILE (needs matplotlib)")
    d.set_defaults(run=_cmd_demo)

    o = sub.add_parser("doctor", help="is E3GEN_AS_E3NN on, is its start-up hook installed, which e3nn would Python import")
    o.set_defaults(run=lambda args: __import__("e3gen.compat.doctor").compat.doctor.main())

    # `e3gen bench ...` is dispatched to e3gen.bench.main before parsing (it owns its options);
    # the entry here only lists it in --help.
    sub.add_parser("bench", help="time e3gen against e3nn in one process (see `e3gen bench --help`)")

    from e3gen.debug.cli import configure as configure_debug  # argparse only; torch loads when it runs

    configure_debug(sub.add_parser("debug", help="per-layer, per-irrep equivariance and float32 precision report "
                                                 "of the demo model (or --model module:function)"))

    from e3gen.plots import configure_show  # argparse only; numpy loads, torch and matplotlib when it runs

    configure_show(sub.add_parser("show", help="draw the spherical harmonics (sh) or a Clebsch-Gordan block (cg)"))
    return p


def main(argv: Optional[List[str]] = None) -> int:
    from e3gen.build import BuildArgumentError
    from e3gen.store import BuildError

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        from e3gen.bench import main as bench_main

        return bench_main(argv[1:])
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (BuildArgumentError, BuildError) as error:
        print(f"e3gen {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"e3gen {args.command}: error: {error.strerror or error} ({error.filename})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
