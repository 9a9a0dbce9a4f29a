"""``runhub completion``: the shell completion script."""

from __future__ import annotations

import click


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    Install (bash):  runhub completion bash > ~/.local/share/bash-completion/completions/runhub
    Install (zsh):   runhub completion zsh > "${fpath[1]}/_runhub"
    Install (fish):  runhub completion fish > ~/.config/fish/completions/runhub.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None  # the choice only offers shells click supports
    root = ctx.find_root().command
    click.echo(cls(root, {}, "runhub", "_RUNHUB_COMPLETE").source())


COMMANDS = (completion,)
