"""The ``--mqtt`` options that ``camera`` (and ``serve``) share, turned into :class:`MqttSettings`.

Each setting also reads an environment variable (the service's /etc/default/digit-edge sets
them); a password is never an option, only a file, $DIGIT_EDGE_MQTT_PASSWORD or a systemd
credential, so it never shows in ``ps`` or the shell's history.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from edge.mqtt import (
    DEFAULT_PREFIX,
    DEFAULT_QUEUE,
    BrokerUrl,
    MqttSettings,
    check_prefix,
    default_device_id,
    parse_url,
    read_password,
    sanitize_device_id,
)


def _url(_ctx: click.Context, _param: click.Parameter, value: str | None) -> BrokerUrl | None:
    try:
        return None if value is None else parse_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _prefix(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return check_prefix(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _device_id(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and sanitize_device_id(value) != value:
        raise click.BadParameter(f"{value!r}: letters, digits, _ and - only")
    return value


OPTIONS = (
    click.option(
        "--mqtt",
        "mqtt_url",
        metavar="URL",
        envvar="DIGIT_EDGE_MQTT",
        show_envvar=True,
        callback=_url,
        help="Publish every reading to this MQTT broker: mqtt://host[:port] or mqtts://host[:port] "
        "(TLS).",
    ),
    click.option(
        "--mqtt-user",
        envvar="DIGIT_EDGE_MQTT_USER",
        show_envvar=True,
        help="Broker user name; the password comes from --mqtt-password-file, "
        "$DIGIT_EDGE_MQTT_PASSWORD or the systemd credential mqtt-password.",
    ),
    click.option(
        "--mqtt-password-file",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="DIGIT_EDGE_MQTT_PASSWORD_FILE",
        show_envvar=True,
        help="A file whose first line is the broker password.",
    ),
    click.option(
        "--mqtt-ca-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        envvar="DIGIT_EDGE_MQTT_CA_FILE",
        show_envvar=True,
        help="mqtts://: the CA certificate (PEM) to trust (default: the system's CAs).",
    ),
    click.option(
        "--mqtt-prefix",
        default=DEFAULT_PREFIX,
        show_default=True,
        envvar="DIGIT_EDGE_MQTT_PREFIX",
        show_envvar=True,
        callback=_prefix,
        help="Topics are PREFIX/DEVICE-ID/reading and PREFIX/DEVICE-ID/status.",
    ),
    click.option(
        "--device-id",
        envvar="DIGIT_EDGE_DEVICE_ID",
        show_envvar=True,
        callback=_device_id,
        help="This device's name in topics and Home Assistant [default: the host name].",
    ),
    click.option(
        "--mqtt-queue",
        type=click.IntRange(1),
        default=DEFAULT_QUEUE,
        show_default=True,
        help="Readings kept while the broker is away; when full the oldest are dropped.",
    ),
    click.option(
        "--mqtt-on-change", is_flag=True, help="Publish a reading only when the label changes."
    ),
    click.option(
        "--mqtt-every",
        type=click.FloatRange(min=0.1),
        default=None,
        metavar="S",
        help="With --mqtt-on-change: also publish when S seconds passed without a change.",
    ),
    click.option(
        "--discovery/--no-discovery",
        default=True,
        show_default=True,
        help="Announce the digit sensor to Home Assistant (MQTT discovery).",
    ),
)
NAMES = (
    "mqtt_url", "mqtt_user", "mqtt_password_file", "mqtt_ca_file", "mqtt_prefix", "device_id",
    "mqtt_queue", "mqtt_on_change", "mqtt_every", "discovery",
)  # fmt: skip


def mqtt_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options to a click command, which receives them as one ``mqtt`` argument:
    :class:`MqttSettings`, or None without ``--mqtt``."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs["mqtt_url"] is None:
            check_nothing_without_url(click.get_current_context())
        kwargs["mqtt"] = settings(**{name: kwargs.pop(name) for name in NAMES})
        return f(*args, **kwargs)

    for option in reversed(OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def check_nothing_without_url(ctx: click.Context) -> None:
    """An MQTT option typed without ``--mqtt`` would be ignored, so it is a usage error.
    Environment variables are not: the service's defaults file may name a device that does
    not publish."""
    typed = [
        "/".join(param.opts + param.secondary_opts)
        for param in ctx.command.params
        if param.name in NAMES
        and param.name != "mqtt_url"
        and ctx.get_parameter_source(param.name) is click.core.ParameterSource.COMMANDLINE
    ]
    if typed:
        raise click.UsageError(f"{', '.join(typed)}: publishing options, they need --mqtt URL")


def settings(
    mqtt_url: BrokerUrl | None,
    mqtt_user: str | None,
    mqtt_password_file: Path | None,
    mqtt_ca_file: Path | None,
    mqtt_prefix: str,
    device_id: str | None,
    mqtt_queue: int,
    mqtt_on_change: bool,
    mqtt_every: float | None,
    discovery: bool,
) -> MqttSettings | None:
    """The settings of the options, or None without a URL; click.UsageError on a bad mix."""
    if mqtt_every is not None and not mqtt_on_change:
        raise click.UsageError("--mqtt-every goes with --mqtt-on-change")
    if mqtt_url is None:
        return None
    if mqtt_password_file is not None and mqtt_user is None:
        raise click.UsageError("--mqtt-password-file needs --mqtt-user")
    if mqtt_ca_file is not None and not mqtt_url.tls:
        raise click.UsageError("--mqtt-ca-file is for mqtts:// URLs")
    password = read_password(mqtt_password_file) if mqtt_user is not None else None
    if mqtt_user is not None and password is None:  # legal in MQTT, but rarely what was meant
        click.echo(
            f"digit-edge: note: no MQTT password found for user {mqtt_user!r} "
            "(--mqtt-password-file, $DIGIT_EDGE_MQTT_PASSWORD or the credential mqtt-password); "
            "connecting without one",
            err=True,
        )
    return MqttSettings(
        url=mqtt_url,
        device_id=device_id or default_device_id(),
        prefix=mqtt_prefix,
        user=mqtt_user,
        password=password,
        ca_file=mqtt_ca_file,
        queue=mqtt_queue,
        on_change=mqtt_on_change,
        every_s=mqtt_every,
        discovery=discovery,
    )
