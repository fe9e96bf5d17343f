"""MkDocs hook: let the documentation link to files the repository generates, outside ``docs/``.

Measured numbers live in generated files (``results/**/REPORT.md``, ``benchmarks/results/*``) and the
figures in ``figs/``; the pages link to them with repository-relative paths (``../results/REPORT.md``),
which work when the Markdown is read on a code host.  MkDocs only knows the files under ``docs/``, so
this hook adds the generated files the pages may link to as plain files of the site, under ``repo/``.
A link to a file that does not exist is still reported, and ``mkdocs build --strict`` fails on it.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files, InclusionLevel

#: Repository files the documentation may link to (globs relative to the repository root).
LINKABLE = (
    "results/REPORT.md",
    "results/summary.csv",
    "results/*/REPORT.md",
    "results/*/summary.csv",
    "benchmarks/results/*.json",
    "benchmarks/results/*.md",
    "figs/*.png",
    "figs/*/*.png",
    "data/mp18_comp_authors_test_ids.txt",
)


class RepositoryFile(File):
    """A repository file copied into the site as it is (a Markdown report is not rendered as a page)."""

    def is_documentation_page(self) -> bool:
        return False


def on_files(files: Files, config) -> Files:
    docs = Path(config["docs_dir"]).resolve()
    root = docs.parent
    for pattern in LINKABLE:
        for path in sorted(root.glob(pattern)):
            relative = path.relative_to(root).as_posix()
            # The source path is what a page's "../<relative>" link resolves to from docs/.
            files.append(RepositoryFile(f"../{relative}", str(docs), config["site_dir"],
                                        config["use_directory_urls"], dest_uri=f"repo/{relative}",
                                        inclusion=InclusionLevel.INCLUDED))
    return files
