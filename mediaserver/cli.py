"""Command line: `mediaserver serve [--config FILE] [--host H] ...`."""

from __future__ import annotations

import argparse
import faulthandler
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mediaserver import __version__, app, logs
from mediaserver.config import Config, ConfigError, load
from mediaserver.store import Store, StoreError

if TYPE_CHECKING:
    import numpy as np

    from mediaserver.agents import Agent
    from mediaserver.harness import TalkResult
    from mediaserver.media.end_of_turn import TurnModel
    from mediaserver.services.local import LocalSpeech


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mediaserver", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mediaserver {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--config", type=Path, help="TOML config file")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--http-port", type=int, help="HTTP port (default 8080)")
    serve.add_argument("--sip-port", type=int, help="SIP port (default 5060)")
    serve.add_argument("--data-dir", help="directory for recordings and the call store")
    serve.add_argument(
        "--workers",
        type=int,
        help="a cluster: N media workers behind a Kamailio SIP edge (default 0: one process)",
    )
    inference = commands.add_parser(
        "inference", help="serve the models to other processes (OpenAI's API)"
    )
    inference.add_argument("--config", type=Path, help="TOML config file ([models], [inference])")
    inference.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    inference.add_argument("--port", type=int, help="HTTP port (default 8081)")
    call = commands.add_parser("call", help="call a number or SIP URI with the agent")
    call.add_argument("target", help="sip:user@host, or a number (called through [sip] trunk_host)")
    call.add_argument("--agent", default="default", help="agent name (default: default)")
    call.add_argument("--config", type=Path, help="TOML config file")
    call.add_argument("--ring-seconds", type=float, default=30.0, help="give up unanswered after")
    keys = commands.add_parser("keys", help="API keys: create, list, revoke")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create_key = key_commands.add_parser("create", help="print a new API key (shown once)")
    create_key.add_argument("--role", choices=("admin", "viewer"), required=True)
    create_key.add_argument("--name", default="", help="a note: who or what uses it")
    list_keys = key_commands.add_parser("list", help="the keys (ids and roles, never secrets)")
    revoke_key = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke_key.add_argument("key_id")
    tokens = commands.add_parser("tokens", help="call tokens for the softphone page")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True)
    create_token = token_commands.add_parser("create", help="print a new call token")
    create_token.add_argument("--agent", help="only for this agent (default: any)")
    create_token.add_argument("--ttl", type=int, help="seconds it stays valid")
    for sub in (create_key, list_keys, revoke_key, create_token):
        sub.add_argument("--config", type=Path, help="TOML config file")
        sub.add_argument("--data-dir", help="directory of the call store")
    talk = commands.add_parser("talk", help="run a conversation on a WAV of the caller's side")
    talk.add_argument("--agent", default="default", help="agent name (default: default)")
    talk.add_argument("--in", dest="wav_in", type=Path, required=True, help="the caller's WAV")
    talk.add_argument("--out", dest="wav_out", type=Path, help="write the agent's side here")
    talk.add_argument("--json", action="store_true", help="print the turns as JSON")
    talk.add_argument("--at", type=float, help="start the caller this many seconds in")
    talk.add_argument("--config", type=Path, help="TOML config file")
    talk.add_argument("--max-seconds", type=float, default=120.0, help="longest caller WAV")
    talk.add_argument("--deterministic", action="store_true", help="temperature 0, fixed seed")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(json_lines=False)  # `serve` switches to its configured format
    if args.command == "talk":
        return talk(args)
    if args.command == "call":
        return call(args)
    if args.command in ("keys", "tokens"):
        return credentials(args)
    if args.command == "inference":
        return inference(args)
    return serve(args)


def serve(args: argparse.Namespace) -> int:
    """mediaserver serve: check the config and the models, then run the server."""
    try:
        config = load(
            args.config,
            {
                "server": {
                    "host": args.host,
                    "http_port": args.http_port,
                    "sip_port": args.sip_port,
                    "data_dir": args.data_dir,
                },
                "cluster": {"workers": args.workers},
            },
        )
    except ConfigError as exc:
        print(f"mediaserver: config error: {exc}", file=sys.stderr)
        return 2
    logs.configure(json_lines=config.server.log_format == "json")
    faulthandler.enable()  # a crash in native code (PJSIP, a model) leaves its stack in the log
    from mediaserver.media import silero
    from mediaserver.media.end_of_turn import turn_model
    from mediaserver.modelset import model_set
    from mediaserver.services.factory import local_speech
    from models.store import ModelError

    try:
        if config.models.llm_elsewhere and config.cluster.workers:
            model_set(config.models)  # the inference role's STT and TTS, before listening
        elif config.models.backend == "local":
            local_speech(config.models)  # every model installed and intact, before listening
        turn_model(config.vad, config.models)  # loaded once, here: a bad file stops the start
        if config.vad.classifier == "silero":
            silero.load()
    except ModelError as exc:
        print(f"mediaserver: {exc}", file=sys.stderr)
        return 2
    try:
        if config.cluster.workers:
            from mediaserver.cluster import supervisor
            from mediaserver.cluster.kamailio_cfg import EdgeError
            from mediaserver.cluster.process import ChildError

            try:
                supervisor.run(config)
            except (EdgeError, ChildError) as exc:
                print(f"mediaserver: {exc}", file=sys.stderr)
                return 1
        else:
            app.run(config)
    except StoreError as exc:
        print(f"mediaserver: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"mediaserver: {exc}", file=sys.stderr)
        return 1
    return 0


def inference(args: argparse.Namespace) -> int:
    """mediaserver inference: one copy of the models, served over HTTP."""
    from mediaserver.inference import app as service
    from models.store import ModelError

    try:
        config = load(args.config, {"inference": {"host": args.host, "port": args.port}})
    except ConfigError as exc:
        print(f"mediaserver: config error: {exc}", file=sys.stderr)
        return 2
    logs.configure(json_lines=config.server.log_format == "json")
    faulthandler.enable()
    try:
        service.run(config)
    except ModelError as exc:
        print(f"mediaserver: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"mediaserver: {exc}", file=sys.stderr)
        return 1
    return 0


def credentials(args: argparse.Namespace) -> int:
    """mediaserver keys ... / tokens create: straight against the store."""
    from mediaserver.api.auth import CallTokens

    try:
        config = load(args.config, {"server": {"data_dir": args.data_dir}})
        store = Store.open(config.store_url)
    except (ConfigError, StoreError) as exc:
        print(f"mediaserver: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "tokens":
            tokens = CallTokens(
                store,
                config.api.token_ttl_seconds,
                config.api.token_secret,
                Path(config.server.data_dir).resolve(),
            )
            if args.ttl is not None and not 10 <= args.ttl <= 86400 * 30:
                print("mediaserver: --ttl: expected 10..2592000 seconds", file=sys.stderr)
                return 2
            print(tokens.issue(args.agent, args.ttl))
        elif args.keys_command == "create":
            print(store.create_key(args.role, args.name))
        elif args.keys_command == "list":
            for key in store.list_keys():
                revoked = f" revoked {key['revoked_at']:%Y-%m-%d}" if key["revoked_at"] else ""
                print(f"{key['id']}  {key['role']:6}  {key['name']}{revoked}")
        elif not store.revoke_key(args.key_id):
            print(f"mediaserver: no active key {args.key_id!r}", file=sys.stderr)
            return 1
    finally:
        store.close()
    return 0


class CliError(Exception):
    """A command cannot start; the message says why (exit status 2)."""


def _agent_and_speech(args: argparse.Namespace) -> tuple[Config, Agent, LocalSpeech]:
    """The config, the agent it asks for and its models (checked, not loaded)."""
    config, agent = _agent(args)
    from mediaserver.media.end_of_turn import turn_model
    from mediaserver.services.factory import local_speech
    from models.store import ModelError

    try:
        turn_model(config.vad, config.models)  # loaded once, checked before the call
        return config, agent, local_speech(config.models, agent.language)
    except ModelError as exc:
        raise CliError(str(exc)) from None


def _turns(config: Config) -> TurnModel | None:
    """[vad] end_of_turn's model (loaded once per process)."""
    from mediaserver.media.end_of_turn import turn_model

    return turn_model(config.vad, config.models)


def _agent(args: argparse.Namespace) -> tuple[Config, Agent]:
    """The config and the agent it asks for."""
    from mediaserver.agents import DEFAULT_AGENT, configured

    if args.agent != DEFAULT_AGENT.name:
        raise CliError(f"unknown agent {args.agent!r} (known: default)")
    try:
        config = load(args.config)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    agent = configured(DEFAULT_AGENT, config.agent, config.models)
    if getattr(args, "deterministic", False):
        agent = agent.deterministic()
    return config, agent


def talk(args: argparse.Namespace) -> int:
    """mediaserver talk: the offline harness (mediaserver/harness.py)."""
    import asyncio
    import json

    from mediaserver import harness

    try:
        config, agent = _agent(args)
        caller = harness.read_wav(args.wav_in, args.max_seconds)
        if config.models.backend == "remote":
            result = asyncio.run(_talk_remote(caller, config, agent, args.at))
        else:
            config, agent, speech = _agent_and_speech(args)
            speech.load(agent.system_prompt, agent.greeting)
            try:
                result = asyncio.run(
                    harness.talk(
                        caller, agent, speech, config.vad, at=args.at, turn_model=_turns(config)
                    )
                )
            finally:
                speech.close()
    except (CliError, harness.WavError) as exc:
        print(f"mediaserver: {exc}", file=sys.stderr)
        return 2
    if args.wav_out:
        harness.write_wav(args.wav_out, result.agent_audio)
    if args.json:
        print(json.dumps(result.as_dict(), indent=1))
    else:
        for turn in result.turns:
            cut = " (interrupted)" if turn.interrupted else ""
            print(f"caller: {turn.user_text}")
            print(f"agent:  {turn.agent_text}{cut}  [{turn.voice_to_voice_ms} ms]")
    return 0


async def _talk_remote(
    caller: np.ndarray, config: Config, agent: Agent, at: float | None
) -> TalkResult:
    """The harness on [models] backend = "remote": the same engine, models over HTTP."""
    from mediaserver import harness
    from mediaserver.services.remote_pool import RemotePool

    pool = RemotePool(config.models)
    try:
        await pool.start(agent)
        speech = await pool.for_agent(agent)
        return await harness.talk(
            caller, agent, speech, config.vad, at=at, turn_model=_turns(config)
        )
    finally:
        await pool.aclose()


def call(args: argparse.Namespace) -> int:
    """mediaserver call: one outbound call with the agent; prints the outcome."""
    import asyncio

    from mediaserver.agents import AgentBook
    from mediaserver.calls import Calls, OneSpeech
    from mediaserver.dialer import DialOptions
    from mediaserver.transports.sip import SipServer

    try:
        config, agent, speech = _agent_and_speech(args)
    except CliError as exc:
        print(f"mediaserver: {exc}", file=sys.stderr)
        return 2
    target = args.target
    if not target.startswith(("sip:", "sips:")):
        if not config.sip.trunk_host:
            print(
                "mediaserver: call a sip: URI, or set [sip] trunk_host to call numbers",
                file=sys.stderr,
            )
            return 2
        if not target.lstrip("+").replace("-", "").isdigit():
            print(f"mediaserver: {target!r} is neither a number nor a sip: URI", file=sys.stderr)
            return 2
        target = f"sip:{target}@{config.sip.trunk_host}"
    speech.load(agent.system_prompt, agent.greeting)

    async def run() -> tuple[str, int, str]:
        loop = asyncio.get_running_loop()
        plane = app.control_plane(config)
        calls = Calls(
            AgentBook(agent),
            OneSpeech(speech),
            config.vad,
            records=plane.records,
            data_dir=plane.data_dir,
            turn_model=_turns(config),
        )
        server = SipServer(config.sip, config.server.host, 0, calls, loop)
        calls.transports["sip"] = server
        await server.start()
        try:
            outcome, code, reason, _ = await calls.dial(
                target, agent, 0, DialOptions(ring_seconds=args.ring_seconds)
            )
            return outcome, code, reason
        finally:
            await calls.close()
            await server.stop()
            plane.close()

    try:
        outcome, code, reason = asyncio.run(run())
    except (OSError, StoreError) as exc:
        print(f"mediaserver: {exc}", file=sys.stderr)
        return 1
    finally:
        speech.close()
    print(f"{target}: {outcome} ({code} {reason})")
    return 0 if outcome == "answered" else 1


if __name__ == "__main__":
    sys.exit(main())
