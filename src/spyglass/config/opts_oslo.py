"""Options that upstream Glance gets from OpenStack libraries (oslo.db, oslo.log, oslo.messaging,
oslo.policy, oslo.concurrency, keystonemiddleware, oslo.middleware's CORS).

Spyglass replaces those libraries, but operators' files still name their options, so they are
declared here with the libraries' sections, defaults and renamed spellings. Sections that belong
to libraries Spyglass has no counterpart for are listed in :data:`PASSTHROUGH_SECTIONS`: their
options are accepted without being declared.
"""

from __future__ import annotations

from spyglass.config.opt import (
    Opt,
    bool_opt,
    float_opt,
    in_section,
    int_opt,
    list_opt,
    multi_opt,
    str_opt,
)

_D = "DEFAULT"

_DATABASE = [
    str_opt(
        "connection",
        None,
        "SQLAlchemy URL of the database.",
        secret=True,
        deprecated=[(_D, "sql_connection"), ("DATABASE", "sql_connection"), ("sql", "connection")],
    ),
    str_opt("slave_connection", None, "SQLAlchemy URL of a read replica.", secret=True),
    str_opt("asyncio_connection", None, "Async driver URL of the database.", secret=True),
    str_opt("asyncio_slave_connection", None, "Async driver URL of a replica.", secret=True),
    int_opt("mysql_wsrep_sync_wait", None, "Galera wsrep_sync_wait of new sessions."),
    str_opt("backend", "sqlalchemy", "Database layer.", deprecated=[(_D, "db_backend")]),
    bool_opt(
        "sqlite_synchronous",
        True,
        "Use SQLite's synchronous mode.",
        deprecated=[(_D, "sqlite_synchronous")],
    ),
    str_opt("sqlite_db", None, "SQLite file when connection is unset (classic)."),
    str_opt("mysql_sql_mode", "TRADITIONAL", "sql_mode set on MySQL sessions."),
    int_opt(
        "connection_recycle_time",
        3600,
        "Seconds before a pooled connection is replaced.",
        deprecated=[
            ("", "idle_timeout"),
            (_D, "sql_idle_timeout"),
            ("DATABASE", "sql_idle_timeout"),
            ("sql", "idle_timeout"),
        ],
    ),
    int_opt("min_pool_size", 1, "Smallest connection pool (classic)."),
    int_opt("max_pool_size", 5, "Connections kept in the pool; 0 is unlimited."),
    int_opt(
        "max_retries",
        10,
        "Connection attempts at startup; -1 retries forever.",
        deprecated=[(_D, "sql_max_retries"), ("DATABASE", "sql_max_retries")],
    ),
    int_opt(
        "retry_interval",
        10,
        "Seconds between those attempts.",
        deprecated=[(_D, "sql_retry_interval"), ("DATABASE", "reconnect_interval")],
    ),
    int_opt(
        "max_overflow",
        50,
        "Connections allowed beyond the pool.",
        deprecated=[(_D, "sql_max_overflow"), ("DATABASE", "sqlalchemy_max_overflow")],
    ),
    int_opt(
        "connection_debug",
        0,
        "SQL logging: 0 none, 100 everything.",
        min=0,
        max=100,
        deprecated=[(_D, "sql_connection_debug")],
    ),
    bool_opt(
        "connection_trace",
        False,
        "Add Python stack traces to SQL as comments.",
        deprecated=[(_D, "sql_connection_trace")],
    ),
    int_opt(
        "pool_timeout",
        None,
        "Seconds to wait for a pooled connection.",
        deprecated=[("DATABASE", "sqlalchemy_pool_timeout")],
    ),
    bool_opt("use_db_reconnect", False, "Retry transactions after a lost connection."),
    int_opt("db_retry_interval", 1, "Seconds between transaction retries."),
    bool_opt("db_inc_retry_interval", True, "Grow that interval up to db_max_retry_interval."),
    int_opt("db_max_retry_interval", 10, "Longest interval between transaction retries."),
    int_opt("db_max_retries", 20, "Transaction retries; -1 retries forever."),
    str_opt("connection_parameters", "", "Query parameters added to the connection URL."),
]

_LOGGING = [
    bool_opt("debug", False, "Log at DEBUG level."),
    bool_opt("verbose", False, "Log at INFO level (classic; INFO is now the default)."),
    str_opt(
        "log_file", None, "File to log to; unset logs to stderr.", deprecated=[("", "logfile")]
    ),
    str_opt(
        "log_dir", None, "Directory of log_file when it is relative.", deprecated=[("", "logdir")]
    ),
    str_opt(
        "log_config_append",
        None,
        "A logging configuration file, used as is.",
        deprecated=[("", "log_config"), ("", "log-config")],
    ),
    str_opt("log_date_format", "%Y-%m-%d %H:%M:%S", "strftime format of log timestamps."),
    str_opt("log_format", None, "Format of log lines (classic)."),
    bool_opt("use_syslog", False, "Log to syslog."),
    str_opt("syslog_log_facility", "LOG_USER", "Syslog facility."),
    bool_opt("use_journal", False, "Log to the systemd journal."),
    bool_opt("use_json", False, "Log JSON objects."),
    bool_opt("use_stderr", False, "Also log to stderr."),
    bool_opt("watch_log_file", False, "Reopen log_file when it is moved."),
    bool_opt("log_color", False, "Colour log levels on a terminal."),
    list_opt("default_log_levels", None, "logger=LEVEL pairs for library loggers."),
    bool_opt("publish_errors", False, "Send ERROR logs as notifications."),
    bool_opt("fatal_deprecations", False, "Fail on use of deprecated features."),
    str_opt("logging_context_format_string", None, "Line format with request context."),
    str_opt("logging_default_format_string", None, "Line format without request context."),
    str_opt("logging_debug_format_suffix", None, "Appended to DEBUG lines."),
    str_opt("logging_exception_prefix", None, "Prefix of traceback lines."),
    str_opt("logging_user_identity_format", None, "Format of the user identity in lines."),
    str_opt("instance_format", None, "Format of an instance reference in lines."),
    str_opt("instance_uuid_format", None, "Format of an instance UUID in lines."),
    int_opt("rate_limit_interval", 0, "Seconds of log rate limiting window."),
    int_opt("rate_limit_burst", 0, "Lines allowed per window; 0 disables limiting."),
    str_opt("rate_limit_except_level", "CRITICAL", "Level never rate limited."),
    str_opt(
        "log_rotation_type", "none", "none, size or interval.", choices=("interval", "size", "none")
    ),
    int_opt("max_logfile_count", 30, "Rotated log files kept."),
    int_opt("max_logfile_size_mb", 200, "Size in MiB that triggers rotation."),
    int_opt("log_rotate_interval", 1, "Time that triggers rotation."),
    str_opt("log_rotate_interval_type", "days", "Unit of log_rotate_interval."),
]

_MESSAGING_DEFAULT = [
    str_opt(
        "transport_url", None, "Messaging URL, e.g. rabbit://user:pass@host:5672/.", secret=True
    ),
    str_opt("control_exchange", "glance", "Default exchange of the messaging transport."),
    int_opt("rpc_response_timeout", 60, "Seconds to wait for an RPC reply."),
    int_opt("executor_thread_pool_size", 64, "Threads of the messaging executor."),
    bool_opt("rpc_ping_enabled", False, "Answer RPC ping calls."),
]

_NOTIFICATIONS = [
    multi_opt(
        "driver",
        "Notification drivers: messagingv2, messaging, log, noop, ...",
        deprecated=[(_D, "notification_driver")],
    ),
    str_opt("transport_url", None, "Messaging URL for notifications only.", secret=True),
    list_opt(
        "topics",
        ("notifications",),
        "Topics notifications are sent to.",
        deprecated=[("rpc_notifier2", "topics"), (_D, "notification_topics")],
    ),
    int_opt("retry", -1, "Send retries; -1 retries forever."),
]

_AUTHTOKEN = [
    str_opt(
        "www_authenticate_uri",
        None,
        "Keystone URL returned to unauthenticated clients.",
        deprecated=[("", "auth_uri")],
    ),
    str_opt("auth_version", None, "Identity API version for token validation."),
    str_opt("interface", "internal", "Catalog interface to reach Keystone by."),
    bool_opt("delay_auth_decision", False, "Let the app decide about invalid tokens."),
    int_opt("http_connect_timeout", None, "Seconds to connect to Keystone."),
    int_opt("http_request_max_retries", 3, "Retries of Keystone requests."),
    str_opt("cache", None, "Environment key of an external token cache."),
    str_opt("certfile", None, "Client certificate for Keystone."),
    str_opt("keyfile", None, "Key of that certificate."),
    str_opt("cafile", None, "CA bundle for Keystone."),
    bool_opt("insecure", False, "Skip Keystone's certificate check."),
    str_opt("region_name", None, "Region of the identity endpoint."),
    list_opt(
        "memcached_servers",
        None,
        "memcached host:port list for the token cache.",
        deprecated=[("", "memcache_servers")],
    ),
    int_opt("token_cache_time", 300, "Seconds a validated token is cached; -1 disables."),
    str_opt("memcache_security_strategy", None, "None, MAC or ENCRYPT for cached tokens."),
    str_opt("memcache_secret_key", None, "Key for that strategy.", secret=True),
    int_opt("memcache_pool_dead_retry", 300, "Seconds a dead memcached server is skipped."),
    int_opt("memcache_pool_maxsize", 10, "Connections per memcached server."),
    int_opt("memcache_pool_socket_timeout", 3, "Seconds of memcached socket timeout."),
    int_opt("memcache_pool_unused_timeout", 60, "Seconds an idle memcached connection lives."),
    int_opt("memcache_pool_conn_get_timeout", 10, "Seconds to wait for a pooled connection."),
    bool_opt("memcache_use_advanced_pool", True, "Use the advanced memcached pool."),
    bool_opt("memcache_sasl_enabled", False, "Authenticate to memcached with SASL."),
    str_opt("memcache_username", None, "memcached SASL user."),
    str_opt("memcache_password", None, "Its password.", secret=True),
    bool_opt("include_service_catalog", True, "Ask for the catalog with validated tokens."),
    str_opt("enforce_token_bind", "permissive", "Token binding policy."),
    list_opt("service_token_roles", ("service",), "Roles a service token must have."),
    bool_opt("service_token_roles_required", False, "Reject service tokens without them."),
    str_opt("service_type", None, "Service type of this API in the catalog."),
    str_opt(
        "auth_type",
        None,
        "Auth plugin of the service user, e.g. password.",
        deprecated=[("", "auth_plugin")],
    ),
    str_opt("auth_section", None, "Section holding the plugin's options."),
    str_opt("auth_url", None, "Keystone URL for the service user."),
    str_opt("username", None, "Service user."),
    str_opt("password", None, "Its password.", secret=True),
    str_opt("user_id", None, "Service user id."),
    str_opt("user_domain_name", None, "Its domain."),
    str_opt("user_domain_id", None, "Its domain id."),
    str_opt("project_name", None, "Service project."),
    str_opt("project_id", None, "Service project id."),
    str_opt("project_domain_name", None, "Its domain."),
    str_opt("project_domain_id", None, "Its domain id."),
    str_opt("system_scope", None, "System scope of the service user."),
    str_opt("trust_id", None, "Trust of the service user."),
    str_opt("auth_host", "127.0.0.1", "Keystone admin host (classic)."),
    int_opt("auth_port", 35357, "Keystone admin port (classic)."),
    str_opt("auth_protocol", "https", "http or https to Keystone (classic)."),
    str_opt("auth_admin_prefix", "", "Path prefix of Keystone's admin API (classic)."),
    str_opt("identity_uri", None, "Keystone admin URL (classic)."),
    str_opt("admin_token", None, "Shared admin token (classic).", secret=True),
    str_opt("admin_user", None, "Service user (classic)."),
    str_opt("admin_password", None, "Its password (classic).", secret=True),
    str_opt("admin_tenant_name", "admin", "Its project (classic)."),
    str_opt("signing_dir", None, "Cache of PKI signing certificates (classic)."),
]

_POLICY = [
    bool_opt("enforce_scope", True, "Check token scope against the rule's scope."),
    bool_opt("enforce_new_defaults", True, "Ignore deprecated default rules."),
    str_opt(
        "policy_file", "policy.json", "File of rule overrides.", deprecated=[(_D, "policy_file")]
    ),
    str_opt(
        "policy_default_rule",
        "default",
        "Rule used when a rule is missing.",
        deprecated=[(_D, "policy_default_rule")],
    ),
    list_opt(
        "policy_dirs",
        ("policy.d",),
        "Directories of more rule files.",
        deprecated=[(_D, "policy_dirs")],
    ),
    str_opt(
        "remote_content_type",
        "application/x-www-form-urlencoded",
        "Body type of http checks.",
        choices=("application/x-www-form-urlencoded", "application/json"),
    ),
    bool_opt("remote_ssl_verify_server_crt", False, "Verify the http check server."),
    str_opt("remote_ssl_ca_crt_file", None, "CA bundle for http checks."),
    str_opt("remote_ssl_client_crt_file", None, "Client certificate for http checks."),
    str_opt("remote_ssl_client_key_file", None, "Its key."),
    float_opt("remote_timeout", 60.0, "Seconds to wait for an http check.", min=0),
]

_CORS = [
    list_opt("allowed_origin", None, "Origins allowed to make CORS requests."),
    bool_opt("allow_credentials", True, "Allow credentials in CORS requests."),
    list_opt("expose_headers", (), "Headers exposed to CORS clients."),
    int_opt("max_age", 3600, "Seconds a preflight answer may be cached."),
    list_opt("allow_methods", ("GET", "PUT", "POST", "DELETE", "PATCH"), "Methods allowed."),
    list_opt("allow_headers", (), "Request headers allowed."),
]

LOGGING_NAMES: frozenset[str] = frozenset(o.name for o in _LOGGING)
"""The oslo.log options, which every Glance service reads from ``[DEFAULT]``."""

OSLO_OPTIONS: tuple[Opt, ...] = (
    *in_section("database", _DATABASE),
    *in_section(_D, _LOGGING + _MESSAGING_DEFAULT),
    *in_section("oslo_messaging_notifications", _NOTIFICATIONS),
    *in_section("keystone_authtoken", _AUTHTOKEN),
    *in_section("oslo_policy", _POLICY),
    *in_section(
        "oslo_concurrency",
        [
            str_opt(
                "lock_path",
                None,
                "Directory of inter-process lock files.",
                deprecated=[(_D, "lock_path")],
            ),
            bool_opt(
                "disable_process_locking",
                False,
                "Use thread locks only.",
                deprecated=[(_D, "disable_process_locking")],
            ),
        ],
    ),
    *in_section(
        "oslo_middleware",
        [
            bool_opt("enable_proxy_headers_parsing", False, "Trust X-Forwarded-* headers."),
        ],
    ),
    *in_section("cors", _CORS),
    *in_section(
        "healthcheck",
        [
            bool_opt("detailed", False, "List every check's result in /healthcheck answers."),
            list_opt(
                "backends",
                (),
                "oslo.middleware checks to run: disable_by_file, disable_by_files_ports, "
                "enable_by_files (the database, registry and stores are always checked).",
            ),
            list_opt("allowed_source_ranges", (), "Networks the probe answers (empty: all)."),
            bool_opt("ignore_proxied_requests", False, "Do not answer requests via a proxy."),
            str_opt("disable_by_file_path", None, "A file whose presence fails the probe."),
            list_opt("disable_by_file_paths", (), "port:path pairs, per listening port."),
            list_opt("enable_by_file_paths", (), "Files that must all exist for the probe."),
            str_opt("path", "/healthcheck", "Path of the probe (fixed at /healthcheck)."),
        ],
    ),
)
"""Library options Glance's files use, in their sections."""

PASSTHROUGH_SECTIONS: frozenset[str] = frozenset(
    {
        "barbican",
        "barbican_service_user",
        "key_manager",
        "vault",
        "os_brick",
        "oslo_limit",
        "oslo_messaging_rabbit",
        "oslo_messaging_amqp",
        "oslo_messaging_kafka",
        "oslo_messaging_zmq",
        "matchmaker_redis",
        "oslo_reports",
        "profiler",
        "ssl",
        "glance_client_opts",
        "glance_download_opts",
    }
)
"""Sections of libraries Spyglass does not replace: their options are accepted unchecked."""
