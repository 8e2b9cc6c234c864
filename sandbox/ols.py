"""OpenLiteSpeed in the sandbox, as on the seed's server where it already serves a site (#14).

OLS is not in Debian. It is built once per machine from the sources in ../shared/ols (their
``build-ols.sh``, about 4 minutes on 2 cores) inside a copy of the release's base image, so that
it links that release's libraries, and the result is cached beside the images. The sandbox image
for that release then gets it as the official installer lays it out: /usr/local/lsws, the
``lsadm`` user, the systemd unit from OLS's own source (``lshttpd.service``, alias ``lsws``), and an
admin's site of its own: a virtual host with a docroot, an index page and a rewrite rule, on
http://127.0.0.1:8088 and https://127.0.0.1:8443 (a self-signed certificate).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

from sandbox.chroot import log, mounted, run_in

# ../shared/ols beside the repository, wherever it is cloned (CI clones it elsewhere): the first found.
_SOURCE_CANDIDATES = [
    Path(os.environ["MAILGUARD_OLS_SOURCES"]) if os.environ.get("MAILGUARD_OLS_SOURCES") else None,
    Path(__file__).resolve().parent.parent.parent / "shared" / "ols",
    Path("/work/shared/ols"),
]
SOURCES = next((p for p in _SOURCE_CANDIDATES if p and p.is_dir()), Path("../shared/ols"))
VERSION = "1.9.1"
PREFIX = "/usr/local/lsws"
HTTP_PORT, HTTPS_PORT = 8088, 8443
VHOST_CONF = f"{PREFIX}/conf/vhosts/Example/vhconf.conf"
SERVER_CONF = f"{PREFIX}/conf/httpd_config.conf"
CERTIFICATE, KEY = f"{PREFIX}/conf/example.crt", f"{PREFIX}/conf/example.key"
ADMIN_REWRITE = "RewriteRule ^/old-page$ /index.html [R=301,L]"  # the admin's own rule: must keep working
BUILD_PACKAGES = (
    "build-essential cmake perl golang-go libpcre2-dev libudns-dev libaio-dev libcap-dev zlib1g-dev "
    "libexpat1-dev libbrotli-dev libcrypt-dev libxml2-dev"  # libxml2-dev: missing from the sources' README
)
RUNTIME_PACKAGES = "libudns0 libaio1t64 libcrypt1 libstdc++6 openssl"

SERVER_CONFIG = f"""serverName                mail
user                      nobody
group                     nogroup
mime                      conf/mime.properties
disableWebAdmin           1
errorlog logs/error.log {{
  logLevel                INFO
}}
accessLog logs/access.log {{
}}
listener Default {{
  address                 127.0.0.1:{HTTP_PORT}
  secure                  0
  map                     Example *
}}
listener DefaultTLS {{
  address                 127.0.0.1:{HTTPS_PORT}
  secure                  1
  keyFile                 {KEY}
  certFile                {CERTIFICATE}
  map                     Example *
}}
virtualhost Example {{
  vhRoot                  /var/www/example/
  configFile              conf/vhosts/Example/vhconf.conf
  allowSymbolLink         1
  enableScript            1
  restrained              1
}}
"""

VHOST_CONFIG = f"""docRoot                   $VH_ROOT/html/
index {{
  useServer               0
  indexFiles              index.html
}}
context / {{
  location                $DOC_ROOT/
  allowBrowse             1
}}
accesslog $VH_ROOT/logs/access.log {{
}}
rewrite {{
  enable                  1
  rules                   <<<END_rules
{ADMIN_REWRITE}
  END_rules
}}
"""


def unit_text() -> str:
    """lshttpd.service as OLS's source ships it, for this prefix."""
    tarballs = sorted(SOURCES.glob("openlitespeed-*.tar.gz"))
    if not tarballs:
        raise RuntimeError(f"OpenLiteSpeed's sources are not in {SOURCES} (set MAILGUARD_OLS_SOURCES)")
    with tarfile.open(tarballs[0]) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("dist/admin/misc/lshttpd.service.in"))
        text = archive.extractfile(member).read().decode()  # type: ignore[union-attr]
    text = text.replace("%LSWS_CTRL%", f"{PREFIX}/bin/lswsctrl").replace("#Alias=lsws.service", "Alias=lsws.service")
    # The server writes its PID where lswsctrl looks, not where the template says.
    return text.replace("PIDFile=/var/run/openlitespeed.pid", "PIDFile=/tmp/lshttpd/lshttpd.pid")


def build(base: Path, cache: Path, release: str) -> Path:
    """The built prefix for ``release``, cached: ``cache/ols-<release>-<version>/lsws``."""
    built = cache / f"ols-{release}-{VERSION}"
    if (built / ".complete").exists():
        return built / "lsws"
    if not SOURCES.is_dir():
        raise RuntimeError(f"OpenLiteSpeed's sources are not at {SOURCES}")
    log(f"building OpenLiteSpeed {VERSION} for Debian {release} (once per machine; about 6 minutes)")
    started = time.monotonic()
    scratch = cache / f"ols-build-{release}"
    shutil.rmtree(scratch, ignore_errors=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(scratch)], check=True)
    shutil.copytree(SOURCES, scratch / "src", dirs_exist_ok=True)
    with mounted(scratch):
        run_in(scratch, f"apt-get update -qq && apt-get install -y -qq --no-install-recommends {BUILD_PACKAGES}")
        # Debian unstable's toolchain, for sources written before it: CMake 4 no longer configures
        # projects that ask for CMake below 3.5, and GCC 15's C23 reads "f()" as taking no
        # arguments. Older CMake ignores the first; C17 is what the older GCCs default to.
        build = "CMAKE_POLICY_VERSION_MINIMUM=3.5 CFLAGS=-std=gnu17"
        run_in(scratch, f"cd /src && {build} PREFIX={PREFIX} WORK=/var/tmp/ols-build sh ./build-ols.sh")
    shutil.rmtree(built, ignore_errors=True)
    built.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(scratch) + PREFIX, str(built / "lsws")], check=True)
    shutil.rmtree(scratch, ignore_errors=True)
    (built / ".complete").write_text(time.strftime("%F %T\n"))
    log(f"OpenLiteSpeed built in {time.monotonic() - started:.0f} s")
    return built / "lsws"


def install(root: Path, prefix: Path) -> None:
    """OLS into an image root, with the admin's site, as the official installer leaves it."""
    target = root / PREFIX.lstrip("/")
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(["cp", "-a", str(prefix), str(target)], check=True)
    for folder in ("conf/vhosts/Example", "admin/conf", "admin/html", "admin/logs", "admin/tmp", "logs", "tmp"):
        (target / folder).mkdir(parents=True, exist_ok=True)
    (target / "admin/conf/admin_config.conf").write_text(
        "listener adminListener {\n  address 127.0.0.1:7080\n  secure 0\n}\n"
    )
    (root / SERVER_CONF.lstrip("/")).write_text(SERVER_CONFIG)
    (root / VHOST_CONF.lstrip("/")).write_text(VHOST_CONFIG)
    site = root / "var/www/example"
    (site / "html").mkdir(parents=True, exist_ok=True)
    (site / "logs").mkdir(parents=True, exist_ok=True)
    (site / "html/index.html").write_text("<p>The admin's own site</p>\n")
    (root / "etc/systemd/system/lshttpd.service").write_text(unit_text())
    with mounted(root):
        run_in(
            root,
            f"""
        apt-get update -qq && apt-get install -y -qq --no-install-recommends {RUNTIME_PACKAGES}
        apt-get clean
        getent group lsadm >/dev/null || groupadd lsadm
        getent passwd lsadm >/dev/null || useradd -g lsadm -d / -r -s /sbin/nologin lsadm
        usermod -a -G nogroup lsadm
        chown -R lsadm:lsadm {PREFIX}/conf {PREFIX}/admin/conf
        chown -R nobody:nogroup /var/www/example/logs
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=mail.example.com \
            -keyout {KEY} -out {CERTIFICATE} 2>/dev/null
        systemctl enable lshttpd.service
        """,
        )
