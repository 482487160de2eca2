"""`make demo` bakes the default project and serves it with a working admin."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request


def test_the_demo_admin_accepts_the_printed_password(demo):
    base_url, user, password = demo
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    login_page = opener.open(f"{base_url}/admin/login/").read().decode()
    csrf_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)

    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": csrf_token,
            "username": user,
            "password": password,
            "next": "/admin/",
        }
    ).encode()
    request = urllib.request.Request(
        f"{base_url}/admin/login/?next=/admin/", data=form, headers={"Referer": base_url}
    )
    admin_index = opener.open(request).read().decode()

    assert "Site administration" in admin_index
    assert "Devices" in admin_index and "Observations" in admin_index
    devices_page = opener.open(f"{base_url}/admin/devices/device/").read().decode()
    assert "12 devices" in devices_page
    first_device = re.search(r'href="(/admin/devices/device/\d+/change/)', devices_page).group(1)
    device_page = opener.open(f"{base_url}{first_device}").read().decode()
    # The live refresh stored a status and readings; the seeded history is behind them.
    assert "temperature" in device_page and "°C" in device_page and "power" in device_page
    history = opener.open(f"{base_url}/admin/observations/attribute/").read().decode()
    assert "temperature" in history
