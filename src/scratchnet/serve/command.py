"""The ``scratchnet serve`` command (registered in ``scratchnet.cli``); Starlette and uvicorn load only when it runs."""

from __future__ import annotations

import contextlib

import click

from .app import create_app


@click.command("serve")
@click.argument("models", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--store", type=click.Path(dir_okay=False), default=None, help="A tune store to show (read-only).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; 0.0.0.0 exposes the page.")
@click.option(
    "--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True, help="0: any free port."
)
def serve_command(models, store, host, port):
    """Serve a local page: draw a digit and watch every layer (Draw), Learn and Tune views."""
    import uvicorn  # only when serving: the command line starts without it

    if not models and not store:
        raise click.UsageError("name at least one MODEL.npz or a --store")
    app = create_app(list(models), store)
    names = ", ".join(app.state.models) or "none"

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.started:  # the URL once it is bound, with the real port (also for --port 0)
                bound = self.servers[0].sockets[0].getsockname()[1] if self.servers else port
                shown = f"[{host}]" if ":" in host else host
                click.echo(
                    f"scratchnet serve: http://{shown}:{bound}/ (models: {names}"
                    + (f"; store: {store}" if store else "")
                    + "); Ctrl-C stops it"
                )

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    server = Server(config)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn shuts down cleanly, then re-raises the signal
            server.run()
    except SystemExit:
        if not server.started:  # uvicorn could not bind (it logged why) and exits
            raise OSError(f"cannot serve on {host}:{port}; is the port in use? (--port 0 picks a free one)") from None
        raise
    click.echo("scratchnet serve: stopped")
