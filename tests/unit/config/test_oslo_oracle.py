"""Oracle check (style.md habit 9): oslo.config and our reader give the same values.

The same option table is registered with oslo.config, the same files are read by both, and every
option's value is compared. Skipped when oslo.config is not installed (it is a test-only extra).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from spyglass.config import load_settings, options
from spyglass.config.opt import Kind, Opt

cfg = pytest.importorskip("oslo_config.cfg")
types = pytest.importorskip("oslo_config.types")

WriteConf = Callable[[str, str], Path]


def _oslo_opt(opt: Opt, deprecated: Sequence[tuple[str | None, str]]) -> Any:
    kw: dict[str, Any] = {
        "default": list(opt.default) if isinstance(opt.default, tuple) else opt.default,
        "help": opt.help,
        "secret": opt.secret,
        "deprecated_opts": [cfg.DeprecatedOpt(n, group=s) for s, n in deprecated],
    }
    bounds = {"min": opt.min, "max": opt.max}
    if opt.kind is Kind.STR:
        return cfg.StrOpt(opt.name, choices=opt.choices, **kw)
    if opt.kind is Kind.INT:
        return cfg.IntOpt(opt.name, **bounds, **kw)
    if opt.kind is Kind.PORT:
        return cfg.PortOpt(opt.name, **kw)
    if opt.kind is Kind.FLOAT:
        return cfg.FloatOpt(opt.name, **bounds, **kw)
    if opt.kind is Kind.BOOL:
        return cfg.BoolOpt(opt.name, **kw)
    if opt.kind is Kind.LIST:
        return cfg.ListOpt(opt.name, item_type=types.String(choices=opt.choices), **kw)
    if opt.kind is Kind.DICT:
        return cfg.DictOpt(opt.name, **kw)
    return cfg.MultiStrOpt(opt.name, **kw)


def _oslo_conf(files: Sequence[Path], config_dir: Path | None) -> Any:
    conf = cfg.ConfigOpts()
    for opt in options.OPTIONS:
        group = None if opt.section == "DEFAULT" else opt.section
        conf.register_opt(_oslo_opt(opt, opt.deprecated), group=group)
    args = [a for f in files for a in ("--config-file", str(f))]
    if config_dir is not None:
        args += ["--config-dir", str(config_dir)]
    conf(args=args, project="spyglass-oracle", default_config_files=[], default_config_dirs=[])
    for backend, driver in (conf.enabled_backends or {}).items():
        for opt in options.store_options(driver):
            same_section = [(None, n) for s, n in opt.deprecated if s == opt.section]
            conf.register_opt(_oslo_opt(opt, same_section), group=backend)
    return conf


def _plain(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _compare(files: Sequence[Path], config_dir: Path | None = None) -> int:
    """Compare every option; return how many were compared."""
    conf = _oslo_conf(files, config_dir)
    ours = load_settings(files, config_dir)
    compared = 0
    wanted = [(o.section, o.name) for o in options.OPTIONS]
    for backend, driver in (conf.enabled_backends or {}).items():
        wanted += [(backend, o.name) for o in options.store_options(driver)]
    for section, name in wanted:
        group = conf if section == "DEFAULT" else conf[section]
        expected = _plain(group[name])
        if (section, name) == ("DEFAULT", "notifier_strategy") and expected == "default":
            expected = "noop"  # Settings reports the meaning of upstream's "default"
        assert ours.option(section, name) == expected, f"[{section}] {name}"
        compared += 1
    return compared


def test_fixture_files_read_the_same(seed_files: tuple[Path, Path]) -> None:
    files = list(seed_files)
    assert _compare(files) == len(options.OPTIONS)
    assert _compare(files[::-1]) == len(options.OPTIONS)


def test_modern_multi_store_files_with_a_config_dir_read_the_same(write_conf: WriteConf) -> None:
    main = write_conf(
        "glance-api.conf",
        "[DEFAULT]\n"
        "bind_port = 9393\n"
        "enabled_backends = fast:file, Cheap:rbd,web:http\n"
        "debug = True\n"
        "sql_connection = sqlite:///old.db\n"
        "enabled_import_methods = glance-direct,web-download,\n"
        "notification_driver = messagingv2\n"
        "[database]\n"
        "connection: mysql+pymysql://glance:p%40ss@127.0.0.1/glance?charset=utf8\n"
        "[glance_store]\n"
        "default_backend = fast\n"
        "filesystem_store_datadirs = /a:100\n"
        "[fast]\n"
        "filesystem_store_datadir = /fast\n"
        "weight = 3\n"
        "store_description = 'Fast local disk'\n"
        "[cheap]\n"
        "rbd_store_pool = cheap\n"
        "rbd_store_chunk_size = 16\n"
        "[Image_Format]\n"
        "disk_formats = raw,\n"
        "  qcow2\n"
        "[keystone_authtoken]\n"
        "admin_user = %SERVICE_USER%\n"
        "auth_uri = http://127.0.0.1:5000\n",
    )
    write_conf(
        "conf.d/10-db.conf",
        "[DEFAULT]\n"
        "filesystem_store_datadirs = /b:200\n"
        "notification_driver = log\n"
        "sql_idle_timeout = 30\n",
    )
    write_conf(
        "conf.d/20-late.conf",
        "[DEFAULT]\n"
        "bind_port = 9494\n"
        "bind_port = 9595\n"
        "sql_connection = sqlite:///late.db\n"
        "[oslo_messaging_notifications]\n"
        "driver = noop\n",
    )
    assert _compare([main], Path("conf.d")) > len(options.OPTIONS)
    settings = load_settings([main], Path("conf.d"))
    assert settings.bind_port == 9595
    assert settings.sql_connection == "sqlite:///late.db"
    assert settings.disk_formats == ("raw", "qcow2")
    assert settings.notification_driver == ("messagingv2", "log", "noop")


def test_seed_era_spellings_read_the_same(write_conf: WriteConf) -> None:
    conf = write_conf(
        "a.conf",
        "[DEFAULT]\n"
        "default_store = swift\n"
        "known_stores = glance.store.filesystem.Store,glance.store.swift.Store\n"
        "qpid_host = qpid.example\n"
        "vmware_api_insecure = yes\n"
        "os_region_name = RegionTwo\n"
        "container_formats = bare\n"
        "logfile = /var/log/glance/api.log\n"
        "policy_file = /etc/glance/policy.json\n"
        "[DATABASE]\n"
        "sql_max_retries = 3\n"
        "reconnect_interval = 7\n"
        "[Glance_Store]\n"
        "default_store = rbd\n"
        "[default]\n"
        "workers = 9\n",
    )
    _compare([conf])
    settings = load_settings([conf])
    assert (settings.default_store, settings.workers) == ("rbd", 1)
