"""Glance's own options: the API and registry servers, quotas, cache, scrubber, classic notifier.

Names, sections, types and defaults follow upstream Glance; where the seed era (2012-2014) and
current Glance disagree, the seed era's default wins unless Spyglass's Settings says otherwise.
Many options are accepted only so that existing files load; Spyglass may ignore them.
"""

from __future__ import annotations

from spyglass.config.opt import (
    Opt,
    bool_opt,
    dict_opt,
    float_opt,
    in_section,
    int_opt,
    list_opt,
    port_opt,
    str_opt,
)

_D = "DEFAULT"
_IMPORT_METHODS = ("glance-direct", "web-download", "copy-image", "glance-download")

_SERVER = [
    str_opt("bind_host", "0.0.0.0", "Address the server listens on."),
    port_opt("bind_port", 9292, "Port the server listens on (the registry's is 9191)."),
    int_opt("backlog", 4096, "Queued connections allowed on the listening socket.", min=1),
    int_opt("tcp_keepidle", 600, "Seconds before TCP keepalive probes start."),
    int_opt("workers", 1, "Worker processes serving requests.", min=0),
    int_opt(
        "graceful_shutdown_timeout",
        60,
        "Seconds a stopping server (SIGTERM) lets requests in flight finish; 0 waits for ever.",
        min=0,
    ),
    str_opt("cert_file", None, "TLS certificate the server presents."),
    str_opt("key_file", None, "Private key of cert_file."),
    str_opt("ca_file", None, "CA bundle used to verify client certificates."),
    int_opt("max_header_line", 16384, "Longest accepted request header line, in bytes."),
    bool_opt("http_keepalive", True, "Keep client connections open between requests."),
    int_opt("client_socket_timeout", 900, "Seconds an idle client connection is kept.", min=0),
    str_opt("public_endpoint", None, "URL advertised in version documents instead of the host's."),
    int_opt("max_request_id_length", 64, "Longest request id accepted from clients.", min=0),
    str_opt("secure_proxy_ssl_header", None, "Header a TLS-terminating proxy sets."),
    str_opt("pydev_worker_debug_host", None, "Host of a pydev debugger to attach to."),
    port_opt("pydev_worker_debug_port", 5678, "Port of that debugger."),
]

_API = [
    bool_opt("enable_v1_api", True, "Serve the v1 images API."),
    bool_opt("enable_v2_api", True, "Serve the v2 images API."),
    bool_opt("enable_v1_registry", True, "Serve the registry's v1 API."),
    bool_opt("enable_v2_registry", True, "Serve the registry's v2 (RPC) API."),
    str_opt("data_api", "glance.db.sqlalchemy.api", "Database layer module (classic)."),
    bool_opt("owner_is_tenant", True, "New images are owned by the project, not the user."),
    str_opt("admin_role", "admin", "Role that grants administrative rights."),
    bool_opt("allow_anonymous_access", False, "Let unauthenticated requests act as a guest."),
    bool_opt("allow_additional_image_properties", True, "Accept properties not in the schema."),
    int_opt("limit_param_default", 25, "Page size when a list request gives no limit.", min=1),
    int_opt("api_limit_max", 1000, "Largest page size a list request may ask for.", min=1),
    bool_opt("show_image_direct_url", False, "Show an image's first location to users."),
    bool_opt("show_multiple_locations", False, "Show and allow editing all locations."),
    str_opt(
        "location_strategy",
        "location_order",
        "How to order an image's locations.",
        choices=("location_order", "store_type"),
    ),
    str_opt("hashing_algorithm", "sha512", "hashlib algorithm for os_hash_value."),
    bool_opt("do_secure_hash", True, "Compute os_hash_value on upload."),
    int_opt("http_retries", 3, "Retries of web-download fetches."),
    str_opt(
        "metadata_encryption_key", None, "Key for encrypting location URIs in the DB.", secret=True
    ),
    str_opt("digest_algorithm", "sha256", "Digest used for signing (unused)."),
    str_opt("node_staging_uri", "file:///tmp/staging/", "Where interoperable imports stage data."),
    list_opt(
        "enabled_import_methods",
        _IMPORT_METHODS[:3],
        "Import methods offered to clients.",
        choices=_IMPORT_METHODS,
    ),
    str_opt("worker_self_reference_url", None, "URL other workers use to reach this one."),
    str_opt("property_protection_file", None, "File of property protection rules."),
    str_opt(
        "property_protection_rule_format",
        "roles",
        "Whether those rules name roles or policies.",
        choices=("roles", "policies"),
    ),
    dict_opt("enabled_backends", None, "Multi-store backends as id:type pairs."),
    list_opt(
        "known_stores",
        ("glance.store.filesystem.Store", "glance.store.http.Store"),
        "Store classes to load (classic).",
    ),
    bool_opt("send_identity_headers", False, "Pass identity headers to the registry."),
    bool_opt("sqlalchemy_debug", False, "Log every SQL statement (classic)."),
    bool_opt("db_auto_create", False, "Create the schema at startup (classic)."),
    bool_opt("db_enforce_mysql_charset", True, "Refuse MySQL tables not in utf8 (classic)."),
]

_QUOTAS = [
    int_opt(
        "image_size_cap",
        1099511627776,
        "Largest image accepted, in bytes.",
        min=1,
        max=9223372036854775808,
    ),
    str_opt("user_storage_quota", "0", "Storage per user, e.g. 10GB; 0 is unlimited."),
    int_opt("image_member_quota", 128, "Members per image; negative is unlimited."),
    int_opt("image_property_quota", 128, "Properties per image; negative is unlimited."),
    int_opt("image_tag_quota", 128, "Tags per image; negative is unlimited."),
    int_opt("image_location_quota", 10, "Locations per image; negative is unlimited."),
    bool_opt("use_keystone_limits", False, "Take quotas from Keystone unified limits."),
]

_REGISTRY = [
    str_opt("registry_host", "0.0.0.0", "Host of the registry server."),
    port_opt("registry_port", 9191, "Port of the registry server."),
    str_opt("registry_client_protocol", "http", "http or https to reach the registry."),
    str_opt("registry_client_key_file", None, "Client key for https to the registry."),
    str_opt("registry_client_cert_file", None, "Client certificate for https to the registry."),
    str_opt("registry_client_ca_file", None, "CA bundle to verify the registry."),
    bool_opt("registry_client_insecure", False, "Skip verifying the registry's certificate."),
    int_opt("registry_client_timeout", 600, "Seconds to wait for the registry.", min=1),
    str_opt(
        "registry_auth_token",
        None,
        "Shared secret API servers present to the registry (X-Registry-Auth-Token).",
        secret=True,
    ),
    bool_opt("use_user_token", True, "Call the registry with the user's token."),
    str_opt("admin_user", None, "Service user when not using the user's token.", secret=True),
    str_opt("admin_password", None, "Password of admin_user.", secret=True),
    str_opt("admin_tenant_name", None, "Project of admin_user.", secret=True),
    str_opt("auth_url", None, "Keystone URL for admin_user."),
    str_opt("auth_strategy", "noauth", "noauth or keystone, for admin_user."),
    str_opt("auth_region", None, "Keystone region for admin_user."),
]

_CACHE_SCRUB = [
    str_opt("image_cache_dir", None, "Directory of the image cache; unset disables it."),
    str_opt(
        "image_cache_driver",
        "sqlite",
        "Where cache metadata is kept.",
        choices=("sqlite", "xattr", "centralized_db"),
    ),
    str_opt("image_cache_sqlite_db", "cache.db", "File name of the sqlite cache index."),
    int_opt(
        "image_cache_max_size", 10737418240, "Cache size the pruner shrinks to, in bytes.", min=0
    ),
    int_opt(
        "image_cache_stall_time",
        86400,
        "Seconds before an unfinished cache file is removed.",
        min=0,
    ),
    bool_opt(
        "image_cache_verify_hits",
        False,
        "Check the MD5 of every whole-image cache hit as it is sent (Spyglass; slower hits).",
    ),
    float_opt(
        "cache_prefetcher_interval",
        0,
        "Seconds between runs of the queued-image prefetcher in the API server; 0 = never.",
        min=0,
    ),
    float_opt(
        "cache_pruner_interval",
        0,
        "Seconds between cache prunes in the API server; 0 = never (Spyglass).",
        min=0,
    ),
    float_opt(
        "cache_cleaner_interval",
        0,
        "Seconds between cache cleans in the API server; 0 = never (Spyglass).",
        min=0,
    ),
    bool_opt("delayed_delete", False, "Keep deleted images' data until the scrubber runs."),
    int_opt("scrub_time", 0, "Seconds a deleted image's data is kept.", min=0),
    int_opt("scrub_pool_size", 1, "Images the scrubber deletes in parallel.", min=1),
    str_opt("scrubber_datadir", "/var/lib/glance/scrubber", "Scrubber work directory (classic)."),
    int_opt("wakeup_time", 300, "Seconds between scrubber runs in daemon mode.", min=0),
    bool_opt("daemon", False, "Run the scrubber continuously."),
    bool_opt("cleanup_scrubber", False, "Also remove stale scrub records (classic)."),
    int_opt("cleanup_scrubber_time", 86400, "Age of stale scrub records (classic)."),
]

_NOTIFY = [
    str_opt(
        "notifier_strategy", "default", "Classic notifier: default/noop, logging, rabbit or qpid."
    ),
    str_opt("default_publisher_id", "image.localhost", "publisher_id of notifications."),
    list_opt("disabled_notifications", (), "Event types or categories not sent."),
    str_opt("rabbit_host", "localhost", "RabbitMQ host (classic notifier)."),
    port_opt("rabbit_port", 5672, "RabbitMQ port (classic notifier)."),
    bool_opt("rabbit_use_ssl", False, "Use TLS to RabbitMQ (classic notifier)."),
    str_opt("rabbit_userid", "guest", "RabbitMQ user (classic notifier)."),
    str_opt("rabbit_password", "guest", "RabbitMQ password (classic notifier).", secret=True),
    str_opt("rabbit_virtual_host", "/", "RabbitMQ virtual host (classic notifier)."),
    str_opt("rabbit_notification_exchange", "glance", "Exchange notifications go to."),
    str_opt("rabbit_notification_topic", "glance_notifications", "Routing key of notifications."),
    int_opt("rabbit_max_retries", 0, "Accepted; Spyglass retries until delivered (outbox)."),
    int_opt("rabbit_retry_backoff", 2, "Seconds added between retries (classic)."),
    int_opt("rabbit_retry_max_backoff", 30, "Longest wait between retries (classic)."),
    bool_opt("rabbit_durable_queues", False, "Declare durable queues (classic)."),
    list_opt("rabbit_hosts", None, "host:port RabbitMQ nodes, tried in turn (oslo legacy)."),
    bool_opt("rabbit_ha_queues", False, "Declare notification queues mirrored (x-ha-policy all)."),
    int_opt("rabbit_retry_interval", 1, "Accepted (oslo legacy); rabbit_retry_backoff sets waits."),
    bool_opt("amqp_durable_queues", False, "Durable exchange and queues (oslo legacy)."),
    bool_opt("amqp_auto_delete", False, "Auto-delete exchange and queues (oslo legacy)."),
    str_opt("kombu_ssl_version", "", "TLS version to RabbitMQ (accepted; the library decides)."),
    str_opt("kombu_ssl_keyfile", "", "Client key for TLS to RabbitMQ."),
    str_opt("kombu_ssl_certfile", "", "Client certificate for TLS to RabbitMQ."),
    str_opt("kombu_ssl_ca_certs", "", "CA bundle that verifies RabbitMQ's certificate."),
    int_opt("kombu_reconnect_delay", 1, "Accepted (legacy); rabbit_retry_backoff sets waits."),
    str_opt("qpid_notification_exchange", "glance", "Qpid exchange (classic notifier)."),
    str_opt("qpid_notification_topic", "glance_notifications", "Qpid topic (classic notifier)."),
    str_opt(
        "qpid_hostname",
        "localhost",
        "Qpid host (classic notifier).",
        deprecated=[("", "qpid_host")],
    ),
    port_opt("qpid_port", 5672, "Qpid port (classic notifier)."),
    str_opt("qpid_username", "", "Qpid user (classic notifier)."),
    str_opt("qpid_password", "", "Qpid password (classic notifier).", secret=True),
    str_opt("qpid_sasl_mechanisms", "", "Space-separated SASL mechanisms for Qpid."),
    int_opt("qpid_reconnect_timeout", 0, "Qpid reconnect timeout, seconds."),
    int_opt("qpid_reconnect_limit", 0, "Qpid reconnect attempts."),
    int_opt("qpid_reconnect_interval_min", 0, "Shortest wait between Qpid reconnects."),
    int_opt("qpid_reconnect_interval_max", 0, "Longest wait between Qpid reconnects."),
    int_opt("qpid_reconnect_interval", 0, "Wait between Qpid reconnects."),
    int_opt("qpid_heartbeat", 5, "Seconds between Qpid heartbeats."),
    str_opt("qpid_protocol", "tcp", "tcp or ssl to Qpid."),
    bool_opt("qpid_tcp_nodelay", True, "Disable Nagle's algorithm on the Qpid socket."),
    list_opt("qpid_hosts", None, "host:port Qpid brokers, tried in turn (oslo legacy)."),
    str_opt(
        "qpid_notification_address",
        "/exchange/{exchange}/{routing_key}",
        "AMQP 1.0 target of notifications (Spyglass); qpidd: {exchange}/{routing_key}.",
    ),
]

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")

_IMAGE_FORMAT = [
    list_opt(
        "container_formats",
        CONTAINER_FORMATS,
        "Container formats images may declare.",
        deprecated=[(_D, "container_formats")],
    ),
    list_opt(
        "disk_formats",
        DISK_FORMATS,
        "Disk formats images may declare.",
        deprecated=[(_D, "disk_formats")],
    ),
    list_opt(
        "vmdk_allowed_types",
        ("streamOptimized", "monolithicSparse"),
        "VMDK subformats accepted on upload.",
    ),
    bool_opt(
        "require_image_format_match", True, "Reject data whose format differs from disk_format."
    ),
    list_opt("gpt_safety_checks_nonfatal", (), "GPT safety checks that only warn."),
]

_TASK = [
    int_opt(
        "task_time_to_live",
        48,
        "Hours a finished task is kept.",
        deprecated=[(_D, "task_time_to_live")],
    ),
    str_opt("task_executor", "taskflow", "Task engine.", choices=("taskflow",)),
    str_opt("work_dir", None, "Scratch directory for tasks."),
    int_opt(
        "lease_seconds", 60, "Seconds a worker holds a task between renewals (Spyglass).", min=1
    ),
    int_opt(
        "max_attempts", 2, "Runs of a task whose worker died before it fails (Spyglass).", min=1
    ),
]

_TASKFLOW = [
    str_opt("engine_mode", "parallel", "How task steps run.", choices=("serial", "parallel")),
    int_opt("max_workers", 10, "Parallel task steps.", min=1),
    str_opt(
        "conversion_format",
        None,
        "Format imports are converted to.",
        choices=("qcow2", "raw", "vmdk"),
    ),
]

_IMPORT_FILTERING = [
    list_opt("allowed_schemes", ("http", "https"), "URL schemes web-download may fetch."),
    list_opt("disallowed_schemes", (), "URL schemes web-download refuses."),
    list_opt("allowed_hosts", (), "Hosts web-download may fetch from; empty is any."),
    list_opt("disallowed_hosts", (), "Hosts web-download refuses."),
    list_opt("allowed_ports", ("80", "443"), "Ports web-download may connect to."),
    list_opt("disallowed_ports", (), "Ports web-download refuses."),
    # Spyglass's own: these rules govern every outbound fetch (HTTP locations, v1 copy-from)
    list_opt(
        "allowed_networks",
        (),
        "Loopback/private/link-local networks (CIDR) fetches may reach; refused otherwise.",
    ),
    int_opt("max_redirects", 5, "Redirects followed per fetch, each checked again.", min=0),
    float_opt("connect_timeout", 10.0, "Seconds to connect to a remote server.", min=0),
    float_opt("read_timeout", 60.0, "Seconds without data from a remote before failing.", min=0),
]

REGISTRY_NAMES: frozenset[str] = frozenset(
    [o.name for o in _SERVER]
    + [
        "enable_v1_registry",
        "enable_v2_registry",
        "data_api",
        "owner_is_tenant",
        "admin_role",
        "allow_anonymous_access",
        "limit_param_default",
        "api_limit_max",
        "sqlalchemy_debug",
        "db_auto_create",
        "db_enforce_mysql_charset",
        "registry_auth_token",
        *(o.name for o in _NOTIFY),
    ]
)
"""``[DEFAULT]`` options of Glance's own that the registry server reads too."""

GLANCE_OPTIONS: tuple[Opt, ...] = (
    *in_section(_D, _SERVER + _API + _QUOTAS + _REGISTRY + _CACHE_SCRUB + _NOTIFY),
    *in_section("image_format", _IMAGE_FORMAT),
    *in_section("task", _TASK),
    *in_section("taskflow_executor", _TASKFLOW),
    *in_section("import_filtering_opts", _IMPORT_FILTERING),
    *in_section(
        "paste_deploy",
        [
            str_opt("flavor", None, "Classic pipeline name, e.g. keystone+cachemanagement."),
            str_opt("config_file", None, "Paste pipeline file (not used by Spyglass)."),
        ],
    ),
    *in_section(
        "store_type_location_strategy",
        [
            list_opt("store_type_preference", (), "Store types in preference order."),
        ],
    ),
    *in_section(
        "wsgi",
        [
            int_opt("task_pool_threads", 16, "Threads for background tasks.", min=1),
            str_opt("python_interpreter", None, "Interpreter for helper processes."),
        ],
    ),
    *in_section(
        "image_import_opts",
        [
            list_opt("image_import_plugins", (), "Plugins run on imported data."),
        ],
    ),
    *in_section(
        "image_conversion",
        [
            str_opt(
                "output_format",
                "raw",
                "Format the conversion plugin produces.",
                choices=("qcow2", "raw", "vmdk"),
            ),
            int_opt("timeout", 1800, "Seconds qemu-img may convert one image (Spyglass).", min=1),
        ],
    ),
    *in_section(
        "glance_download_properties",
        [
            list_opt(
                "extra_properties",
                ("hw_", "trait:", "os_distro", "os_secure_boot", "os_type"),
                "Property prefixes glance-download copies from the remote image.",
            ),
        ],
    ),
    *in_section(
        "glance_download_opts",
        [
            dict_opt(
                "region_endpoints",
                {},
                "Image service URL of each region glance-download may fetch from (Spyglass).",
            ),
        ],
    ),
    *in_section(
        "inject_metadata_properties",
        [
            list_opt("ignore_user_roles", ("admin",), "Roles whose imports get no injection."),
            dict_opt("inject", {}, "Properties added to imported images."),
        ],
    ),
    *in_section(
        "recovery",
        [
            float_opt(
                "upload_lease",
                60.0,
                "Seconds an upload's lease lasts (renewed while bytes flow); an image in "
                "saving whose lease has run out for twice this long is put back to queued.",
                min=1,
            ),
        ],
    ),
    *in_section(
        "metrics",
        [
            bool_opt(
                "enabled",
                False,
                "Count requests, bytes, cache hits and the notification backlog, and serve "
                "them in Prometheus's text format at /metrics (unauthenticated: restrict it).",
            ),
        ],
    ),
    *in_section(
        "image_signature",
        [
            str_opt(
                "certificate_dir",
                None,
                "Directory of signing certificates named <img_signature_certificate_uuid>.pem "
                "(Spyglass's local key manager).",
            ),
            str_opt(
                "trusted_ca_file",
                None,
                "PEM bundle of CAs signing certificates must chain to (unset: no chain check).",
            ),
            bool_opt(
                "check_certificate_validity",
                True,
                "Refuse signing certificates outside their validity period.",
            ),
        ],
    ),
)
"""Glance's own options, in their sections."""
