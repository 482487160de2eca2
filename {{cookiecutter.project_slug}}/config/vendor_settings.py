"""How a vendor's settings are declared: each once, with the variable it is read from.

An entry of settings.VENDORS is `vendor(env, CLIENT, VendorSetting(...), ...)`. From it follow
the value each option gets, production's refusal to start without a required one
(vendors/checks.py), and the variables .env.example and app.json must name: a new vendor's
required settings go into app.json's env, and are set with `heroku config:set` before the
release that adds the vendor (the README's "Connect your vendor").
"""

from __future__ import annotations

from dataclasses import dataclass

import environ


@dataclass(frozen=True)
class VendorSetting:
    """One option of a vendor's client, read from one environment variable.

    A setting required in production has no default there: without its variable, production
    refuses to start. Elsewhere it is empty unless local settings fill it in. Otherwise the
    default's type (str, bool, int, float) is the type the variable is read as.
    """

    option: str
    variable: str
    default: str | bool | int | float = ""
    required_in_production: bool = False

    def __post_init__(self) -> None:
        if self.required_in_production and self.default != "":
            raise ValueError(f"{self.variable}: a setting required in production has no default")

    def read(self, env: environ.Env) -> str | bool | int | float:
        cast = {str: env.str, bool: env.bool, int: env.int, float: env.float}[type(self.default)]
        return cast(self.variable, default=self.default)


def vendor(env: environ.Env, client: str, *settings: VendorSetting) -> dict:
    """An entry of settings.VENDORS: the client (a class in the vendors package, built once per
    process by vendors/registry.py) with its options, and the declarations they came from."""
    return {
        "CLIENT": client,
        "OPTIONS": {setting.option: setting.read(env) for setting in settings},
        "SETTINGS": settings,
    }
