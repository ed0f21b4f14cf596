"""A Kamailio registrar for the tests: digest auth with one password for
every user, a location table in memory, INVITEs routed to registered users;
the users named in `refuse` are answered 403 Forbidden."""

from __future__ import annotations

import glob
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=1
disable_tcp=yes
listen=udp:127.0.0.1:{port}
mpath="{modules}/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
modparam("usrloc", "db_mode", 0)
request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("REGISTER")) {{
        if ($fU =~ "{refuse}") {{
            xlog("L_INFO", "REGISTER $fU: refused\\n");
            sl_send_reply("403", "Forbidden");
            exit;
        }}
        if (!pv_auth_check("$fd", "{password}", "0", "1")) {{
            xlog("L_INFO", "REGISTER $fU: challenged\\n");
            auth_challenge("$fd", "0");
            exit;
        }}
        xlog("L_INFO", "REGISTER $fU: accepted\\n");
        save("location");
        exit;
    }}
    if (is_method("INVITE|ACK|BYE|CANCEL") && lookup("location")) {{
        t_relay();
        exit;
    }}
    if (!is_method("ACK")) sl_send_reply("404", "Not Found");
}}
"""


@contextmanager
def kamailio(root: Path, port: int, password: str, refuse: tuple[str, ...] = ()) -> Iterator[Path]:
    """Run Kamailio on 127.0.0.1:`port`; yield its log file."""
    modules = glob.glob("/usr/lib/*/kamailio/modules")
    if not modules:
        raise RuntimeError("Kamailio's modules are not installed (Debian package kamailio)")
    config = root / "kamailio.cfg"
    refused = "^(" + "|".join(refuse) + ")$" if refuse else "^$"
    config.write_text(
        CONFIG.format(port=port, modules=modules[0], password=password, refuse=refused)
    )
    log = root / "kamailio.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["kamailio", "-f", str(config), "-DD", "-E", "-m", "32", "-M", "4", "-Y", str(root)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 10
        while "INFO: <core>" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kamailio did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
