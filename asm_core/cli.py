"""The ``asm`` command line: the same pipeline as the cloud, on one machine."""

from __future__ import annotations

import errno
import importlib.metadata
import sys
from collections.abc import Sequence

import click

from asm_core import __version__
from asm_core.commands import demo, detect, evaluation, monitoring, results, scan, synth
from asm_core.errors import AsmError

#: Commands other installed packages add to ``asm`` (entry points of this group): ``asm serve``
#: comes from the Lambda handlers' package, which the core never imports.
PLUGIN_GROUP = "asm_watch.commands"


class _CommandsWithPlugins(click.Group):
    """The core's commands and those of the ``asm_watch.commands`` entry points, each plugin
    imported only when it is run or listed."""

    def _plugins(self) -> dict[str, importlib.metadata.EntryPoint]:
        return {ep.name: ep for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        plugin = self._plugins().get(cmd_name)
        if found is not None or plugin is None:
            return found
        command = plugin.load()
        return command if isinstance(command, click.Command) else None


@click.group(cls=_CommandsWithPlugins, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asm")
def cli() -> None:
    """ASM Watch: find artisanal and small-scale mining in Sentinel-2 L2A imagery."""


for _command in (
    detect.detect,
    scan.scan,
    synth.synth,
    evaluation.evaluate_cmd,
    evaluation.evaluate_sites_cmd,
    monitoring.alerts_command,
    demo.demo,
    results.query,
    monitoring.sites,
    results.export_cmd,
    results.report,
):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: AsmError becomes a one-line message and exit code 2."""
    try:
        # without standalone mode, click returns the code of a command's Exit (130 for an
        # interrupted scan) instead of exiting with it
        code = cli.main(
            args=list(argv) if argv is not None else None, prog_name="asm", standalone_mode=False
        )
    except click.exceptions.Abort:
        click.echo("asm: interrupted", err=True)
        return 130
    except click.ClickException as e:
        click.echo(f"asm: error: {e.format_message()}", err=True)
        return e.exit_code
    except AsmError as e:
        click.echo(f"asm: error: {e}", err=True)
        return 2
    except OSError as e:  # a full disk, a read-only or missing folder: what and where
        where = f": {e.filename}" if e.filename else ""
        what = e.strerror or str(e)
        if e.errno in (errno.EEXIST, errno.ENOTDIR):  # a file stands where a folder must be
            what = "a file stands where a folder is needed"
        click.echo(f"asm: error: {what}{where}", err=True)
        return 2
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
