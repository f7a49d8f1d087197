"""load_settings: the fixture files, precedence, per-backend sections, errors and overrides."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from spyglass.config import ConfigError, Settings, load_settings
from tests.unit.config.seed import line_of

WriteConf = Callable[[str, str], Path]


def test_no_files_gives_all_defaults() -> None:
    settings = load_settings()
    assert settings == Settings()
    assert settings.sources == ()
    assert settings.bind_port == 9292
    assert settings.option("glance_store", "swift_store_container") == "glance"
    assert settings.option("DEFAULT", "qpid_heartbeat") == 5
    assert settings.origin("DEFAULT", "bind_port") is None


def test_the_seed_fixture_files_load(seed_files: tuple[Path, Path]) -> None:
    api, registry = seed_files
    settings = load_settings([api, registry])
    assert settings.sources == (str(api), str(registry))
    assert settings.default_store == "file"
    assert settings.filesystem_store_datadir == "/var/lib/glance/images/"
    assert settings.registry_host == "0.0.0.0"
    assert settings.registry_port == 9191
    assert settings.registry_client_protocol == "http"
    assert settings.notifier_strategy == "noop"
    assert settings.sql_connection == "mysql://glance:openstack@127.0.0.1/glance"
    opt = settings.option
    assert opt("glance_store", "swift_store_large_object_size") == 5120
    assert opt("DEFAULT", "swift_store_large_object_size") == 5120  # the file's own spelling
    assert opt("glance_store", "swift_store_auth_version") == "1"
    assert opt("glance_store", "swift_store_create_container_on_put") is True
    assert opt("glance_store", "swift_enable_snet") is False
    assert opt("glance_store", "s3_store_access_key") == "<20-char AWS access key>"
    assert opt("glance_store", "s3_store_object_buffer_dir") is None  # commented out
    assert opt("glance_store", "rbd_store_chunk_size") == 8
    assert opt("DEFAULT", "rabbit_port") == 5672
    assert opt("DEFAULT", "rabbit_use_ssl") is False
    assert opt("DEFAULT", "qpid_hostname") == "localhost"  # written as qpid_host
    assert opt("DEFAULT", "qpid_username") == ""
    assert opt("DEFAULT", "qpid_tcp_nodelay") is True
    where = f"{registry}:{line_of(registry, 'sql_connection')}"
    assert settings.origin("database", "connection") == where
    assert settings.origin("DEFAULT", "sql_connection") == where


def test_the_fixture_files_load_silently(
    seed_files: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="spyglass.config"):
        load_settings(list(seed_files))
    assert caplog.records == []


def test_default_section_does_not_leak(write_conf: WriteConf) -> None:
    conf = write_conf(
        "a.conf",
        (
            "[DEFAULT]\n"
            "debug = true\n"
            "filesystem_store_datadir = /from/default\n"
            "enabled_backends = fast:file, cheap:file\n"
            "[glance_store]\n"
            "default_backend = fast\n"
            "[fast]\n"
            "filesystem_store_datadir = /fast\n"
        ),
    )
    settings = load_settings([conf])
    assert settings.debug is True
    assert settings.filesystem_store_datadir == "/from/default"
    assert settings.option("fast", "filesystem_store_datadir") == "/fast"
    assert settings.option("cheap", "filesystem_store_datadir") is None
    with pytest.raises(KeyError):
        settings.option("fast", "debug")
    with pytest.raises(KeyError):
        settings.option("fast", "rbd_store_pool")


def test_repeated_keys_accumulate_across_files(write_conf: WriteConf) -> None:
    one = write_conf(
        "1.conf",
        "[glance_store]\nfilesystem_store_datadirs = /a:1\nfilesystem_store_datadirs = /b:2\n",
    )
    two = write_conf("2.conf", "[DEFAULT]\nfilesystem_store_datadirs = /c\n")
    settings = load_settings([one, two])
    assert settings.option("glance_store", "filesystem_store_datadirs") == ("/a:1", "/b:2", "/c")
    assert settings.origin("glance_store", "filesystem_store_datadirs") == "2.conf:2"


def test_repeated_single_valued_key_keeps_the_last(write_conf: WriteConf) -> None:
    conf = write_conf("a.conf", "[DEFAULT]\nbind_port = 1\nbind_port = 2\n")
    assert load_settings([conf]).bind_port == 2


def test_percent_in_a_url_is_kept(write_conf: WriteConf) -> None:
    conf = write_conf("a.conf", "[database]\nconnection = mysql+pymysql://g:p%40ss@127.0.0.1/g\n")
    assert load_settings([conf]).sql_connection == "mysql+pymysql://g:p%40ss@127.0.0.1/g"


def test_later_files_override_earlier_ones(write_conf: WriteConf) -> None:
    one = write_conf("1.conf", "[DEFAULT]\nbind_port = 1000\nworkers = 4\n")
    two = write_conf("2.conf", "[DEFAULT]\nbind_port = 2000\n")
    settings = load_settings([one, two])
    assert (settings.bind_port, settings.workers) == (2000, 4)
    assert settings.origin("DEFAULT", "bind_port") == "2.conf:2"
    assert load_settings([two, one]).bind_port == 1000


def test_config_dir_is_read_after_files_in_sorted_order(write_conf: WriteConf) -> None:
    main = write_conf("glance-api.conf", "[DEFAULT]\nbind_port = 1\nworkers = 1\nbacklog = 1\n")
    write_conf("conf.d/20-b.conf", "[DEFAULT]\nworkers = 20\n")
    write_conf("conf.d/10-a.conf", "[DEFAULT]\nworkers = 10\nbind_port = 10\n")
    write_conf("conf.d/30-c.txt", "[DEFAULT]\nbacklog = 30\n")
    settings = load_settings([main], Path("conf.d"))
    assert (settings.bind_port, settings.workers, settings.backlog) == (10, 20, 1)
    assert settings.sources == ("glance-api.conf", "conf.d/10-a.conf", "conf.d/20-b.conf")


def test_deprecated_names_and_sections(write_conf: WriteConf) -> None:
    conf = write_conf(
        "a.conf",
        (
            "[DEFAULT]\n"
            "sql_connection = sqlite:///default.db\n"
            "sql_idle_timeout = 60\n"
            "notification_driver = messaging\n"
            "disk_formats = raw,qcow2\n"
            "policy_file = old.json\n"
            "[DATABASE]\n"
            "sql_connection = sqlite:///DATABASE.db\n"
            "[database]\n"
            "connection = sqlite:///database.db\n"
        ),
    )
    settings = load_settings([conf])
    assert settings.sql_connection == "sqlite:///database.db"  # the current spelling wins
    assert settings.option("database", "connection_recycle_time") == 60
    assert settings.notification_driver == ("messaging",)
    assert settings.disk_formats == ("raw", "qcow2")
    assert settings.option("oslo_policy", "policy_file") == "old.json"


def test_deprecated_spelling_in_a_later_file_wins(write_conf: WriteConf) -> None:
    # oslo.config asks the newest file first, whatever the spelling.
    one = write_conf("1.conf", "[database]\nconnection = sqlite:///one.db\n")
    two = write_conf("2.conf", "[DEFAULT]\nsql_connection = sqlite:///two.db\n")
    assert load_settings([one, two]).sql_connection == "sqlite:///two.db"


def test_glance_store_beats_default_in_the_same_file(write_conf: WriteConf) -> None:
    conf = write_conf(
        "a.conf",
        "[glance_store]\ndefault_store = rbd\n[DEFAULT]\n"
        "default_store = swift\nstores = file, rbd\n",
    )
    settings = load_settings([conf])
    assert settings.default_store == "rbd"
    assert settings.stores == ("file", "rbd")


def test_section_names_match_case_insensitively_except_default(write_conf: WriteConf) -> None:
    conf = write_conf("a.conf", "[Glance_Store]\ndefault_store = swift\n[default]\ndebug = true\n")
    settings = load_settings([conf])
    assert settings.default_store == "swift"
    assert settings.debug is False  # [default] is not [DEFAULT]


def test_unknown_options_warn_with_file_and_line(
    write_conf: WriteConf, caplog: pytest.LogCaptureFixture
) -> None:
    conf = write_conf(
        "a.conf",
        (
            "[DEFAULT]\n"
            "enabled_backends = fast:file\n"
            "no_such_option = 1\n"
            "[fast]\n"
            "filesystem_store_datadir = /fast\n"
            "weight = 5\n"
            "rbd_store_pool = images\n"
            "[mystery]\n"
            "x = 1\n"
            "[profiler]\n"
            "enabled = true\n"
            "[os_glance_staging_store]\n"
            "filesystem_store_datadir = /staging\n"
        ),
    )
    with caplog.at_level(logging.INFO, logger="spyglass.config"):
        settings = load_settings([conf])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "a.conf:3: unknown option [DEFAULT] no_such_option, ignored",
        "a.conf:7: unknown option [fast] rbd_store_pool, ignored",
        "a.conf:9: unknown option [mystery] x, ignored",
    ]
    assert all(r.name == "spyglass.config" for r in caplog.records)
    assert settings.option("fast", "weight") == 5
    assert settings.option("os_glance_staging_store", "filesystem_store_datadir") == "/staging"


def test_deprecated_spellings_are_logged_once_at_info(
    write_conf: WriteConf, caplog: pytest.LogCaptureFixture
) -> None:
    conf = write_conf("a.conf", "[DEFAULT]\nsql_connection = a\nsql_connection = b\n")
    with caplog.at_level(logging.INFO, logger="spyglass.config"):
        load_settings([conf])
    assert [r.getMessage() for r in caplog.records] == [
        "a.conf:2: [DEFAULT] sql_connection is a deprecated spelling of [database] connection",
    ]
    assert caplog.records[0].levelno == logging.INFO


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[DEFAULT]\n\nbind_port = abc\n",
            "a.conf:3: [DEFAULT] bind_port: 'abc' is not an integer",
        ),
        (
            "[DEFAULT]\nbind_port = 70000\n",
            "a.conf:2: [DEFAULT] bind_port: 70000 is above the maximum 65535",
        ),
        (
            "[DEFAULT]\nlimit_param_default = 0\n",
            "a.conf:2: [DEFAULT] limit_param_default: 0 is below the minimum 1",
        ),
        (
            "[DEFAULT]\ndebug = maybe\n",
            "a.conf:2: [DEFAULT] debug: 'maybe' is not a boolean (use true/false, yes/no, on/off "
            "or 1/0)",
        ),
        (
            "[DEFAULT]\nshow_image_direct_url = 2\n",
            "a.conf:2: [DEFAULT] show_image_direct_url: '2' is not a boolean (use true/false, "
            "yes/no, on/off or 1/0)",
        ),
        (
            "[Glance_Store]\ndefault_store = floppy\n",
            "a.conf:2: [Glance_Store] default_store: 'floppy' is not one of: file, filesystem, "
            "http, https, swift, swift+http, swift+https, swift+config, rbd, cinder, vsphere, s3, "
            "sheepdog, gridfs",
        ),
        (
            "[DEFAULT]\nsql_idle_timeout = soon\n",
            "a.conf:2: [DEFAULT] sql_idle_timeout: 'soon' is not an integer",
        ),
        (
            "[DEFAULT]\nenabled_backends = fast:file,cheap\n",
            "a.conf:2: [DEFAULT] enabled_backends: 'cheap' is not a key:value pair",
        ),
        (
            "[DEFAULT]\nenabled_backends = fast:floppy\n",
            "a.conf:2: [DEFAULT] enabled_backends: backend 'fast' has unknown store type 'floppy' "
            "(known: cinder, file, gridfs, http, rbd, s3, sheepdog, swift, vmware)",
        ),
        (
            "[DEFAULT]\nenabled_backends = fast:file\n[fast]\nfilesystem_store_chunk_size = 0\n",
            "a.conf:4: [fast] filesystem_store_chunk_size: 0 is below the minimum 1",
        ),
        (
            "[DEFAULT]\nenabled_backends = fast:file\n[glance_store]\ndefault_backend = slow\n",
            "a.conf:4: [glance_store] default_backend: 'slow' is not one of enabled_backends "
            "(fast)",
        ),
        (
            "[DEFAULT]\nenabled_import_methods = glance-direct,teleport\n",
            "a.conf:2: [DEFAULT] enabled_import_methods: 'teleport' is not one of: glance-direct, "
            "web-download, copy-image, glance-download",
        ),
        ("bind_port = 1\n", "a.conf:1: cannot parse line: 'bind_port = 1'"),
        ("[DEFAULT]\nbind_port 9292\n", "a.conf:2: cannot parse line: 'bind_port 9292'"),
    ],
)
def test_errors_are_one_line_naming_file_line_section_and_option(
    write_conf: WriteConf, text: str, message: str
) -> None:
    conf = write_conf("a.conf", text)
    with pytest.raises(ConfigError) as err:
        load_settings([conf])
    assert str(err.value) == message
    assert "\n" not in str(err.value)


def test_a_bad_value_overridden_by_a_later_file_is_harmless(write_conf: WriteConf) -> None:
    one = write_conf("1.conf", "[DEFAULT]\nbind_port = abc\n")
    two = write_conf("2.conf", "[DEFAULT]\nbind_port = 80\n")
    assert load_settings([one, two]).bind_port == 80


def test_missing_file_and_dir_are_named(write_conf: WriteConf) -> None:
    ok = write_conf("ok.conf", "[DEFAULT]\n")
    with pytest.raises(ConfigError, match=r"^missing\.conf: config file not found$"):
        load_settings([ok, Path("missing.conf")])
    with pytest.raises(ConfigError, match=r"^conf\.d: config directory not found$"):
        load_settings([ok], Path("conf.d"))


def test_empty_numbers_and_bools_mean_default(write_conf: WriteConf) -> None:
    conf = write_conf("a.conf", "[DEFAULT]\nbind_port =\nworkers = 3\ndebug =\npublic_endpoint =\n")
    settings = load_settings([conf])
    assert (settings.bind_port, settings.workers, settings.debug) == (9292, 3, False)
    assert settings.public_endpoint == ""


def test_overrides_apply_last_and_are_validated(write_conf: WriteConf) -> None:
    conf = write_conf("a.conf", "[DEFAULT]\nbind_port = 1000\nworkers = 4\n")
    settings = load_settings(
        [conf],
        overrides={
            "bind_port": 8080,
            "sql_connection": "sqlite:///x.db",
            "workers": None,
            "debug": "yes",
            "stores": ["file", "rbd"],
        },
    )
    assert settings.bind_port == 8080
    assert settings.workers == 4  # None: flag not given
    assert settings.debug is True
    assert settings.stores == ("file", "rbd")
    assert settings.sql_connection == "sqlite:///x.db"
    assert settings.option("DEFAULT", "sql_connection") == "sqlite:///x.db"
    assert settings.origin("DEFAULT", "bind_port") == "override"
    with pytest.raises(ConfigError, match=r"^override bind_prot: not a setting$"):
        load_settings(overrides={"bind_prot": 1})
    with pytest.raises(ConfigError, match=r"^override sources: not a setting$"):
        load_settings(overrides={"sources": ()})
    with pytest.raises(ConfigError, match=r"^override bind_port: 'abc' is not an integer$"):
        load_settings(overrides={"bind_port": "abc"})
    with pytest.raises(ConfigError, match=r"^override bind_port: 99999 is above the maximum"):
        load_settings(overrides={"bind_port": 99999})


def test_option_rejects_undeclared_names() -> None:
    settings = load_settings()
    with pytest.raises(KeyError):
        settings.option("DEFAULT", "no_such_option")
    with pytest.raises(KeyError):
        settings.option("nowhere", "bind_port")


def test_settings_is_frozen_and_constructible_directly() -> None:
    settings = Settings(bind_port=1, enabled_backends={"fast": "file"})
    assert settings.option("DEFAULT", "bind_port") == 1
    assert settings.option("fast", "filesystem_store_datadir") is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.bind_port = 2  # type: ignore[misc]
    assert dataclasses.replace(settings, workers=8).workers == 8
