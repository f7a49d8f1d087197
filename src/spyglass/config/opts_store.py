"""glance_store's options: ``[glance_store]``, per-backend sections, and seed-era ``[DEFAULT]``.

Current Glance reads store options from ``[glance_store]`` (single store) or from a section named
after each backend id in ``enabled_backends`` (multi-store). Seed-era files put the same names in
``[DEFAULT]``; every option here is therefore also read from ``[DEFAULT]``, with ``[glance_store]``
preferred within a file. ``driver`` tells which backend type an option configures, so that a
per-backend section accepts exactly its driver's options (``"*"``: every driver's).
"""

from __future__ import annotations

from dataclasses import replace

from spyglass.config.opt import (
    Opt,
    bool_opt,
    dict_opt,
    in_section,
    int_opt,
    list_opt,
    multi_opt,
    port_opt,
    str_opt,
)

_STORE_TYPES = (
    "file",
    "filesystem",
    "http",
    "https",
    "swift",
    "swift+http",
    "swift+https",
    "swift+config",
    "rbd",
    "cinder",
    "vsphere",
    "s3",
    "sheepdog",
    "gridfs",
)

_GENERAL = [
    list_opt("stores", ("file", "http"), "Store types enabled in single-store mode."),
    str_opt(
        "default_store",
        "file",
        "Store new images go to in single-store mode.",
        choices=_STORE_TYPES,
    ),
    str_opt("default_backend", None, "Backend id new images go to in multi-store mode."),
    str_opt(
        "store_description", None, "Text shown for the backend in /v2/info/stores.", driver="*"
    ),
    int_opt("weight", 0, "Preference of the backend's locations when reading.", driver="*"),
]

_FILE = [
    str_opt("filesystem_store_datadir", None, "Directory image files are written to."),
    multi_opt("filesystem_store_datadirs", "dir:priority, repeatable; replaces the datadir."),
    str_opt("filesystem_store_metadata_file", None, "JSON file of metadata for new locations."),
    int_opt("filesystem_store_file_perm", 0, "Octal-as-decimal mode of new image files."),
    int_opt("filesystem_store_chunk_size", 65536, "Read size in bytes.", min=1),
    bool_opt("filesystem_thin_provisioning", False, "Write runs of zeros as holes."),
]

_HTTP = [
    str_opt("https_ca_certificates_file", None, "CA bundle for https locations."),
    bool_opt("https_insecure", True, "Skip certificate checks of https locations."),
    dict_opt("http_proxy_information", {}, "scheme:proxy pairs for http locations."),
]

_RBD = [
    int_opt("rbd_store_chunk_size", 8, "RADOS object size in MiB.", min=1),
    str_opt("rbd_store_pool", "images", "RADOS pool images are stored in."),
    str_opt("rbd_store_user", None, "cephx user."),
    str_opt("rbd_store_ceph_conf", "/etc/ceph/ceph.conf", "ceph.conf to read."),
    int_opt("rados_connect_timeout", -1, "Seconds to wait for the cluster; -1 waits forever."),
    bool_opt("rbd_thin_provisioning", False, "Skip writing runs of zeros."),
]

_S3 = [
    str_opt("s3_store_host", None, "S3 endpoint host or URL."),
    str_opt("s3_store_region_name", "", "S3 region."),
    str_opt("s3_store_access_key", None, "S3 access key.", secret=True),
    str_opt("s3_store_secret_key", None, "S3 secret key.", secret=True),
    str_opt("s3_store_bucket", None, "Bucket images are stored in."),
    bool_opt("s3_store_create_bucket_on_put", False, "Create the bucket when missing."),
    str_opt(
        "s3_store_bucket_url_format",
        "subdomain",
        "Bucket addressing style.",
        choices=("auto", "virtual", "path", "subdomain"),
    ),
    int_opt(
        "s3_store_large_object_size", 100, "Size in MiB from which uploads are multipart.", min=0
    ),
    int_opt("s3_store_large_object_chunk_size", 10, "Multipart part size in MiB."),
    int_opt("s3_store_thread_pools", 10, "Parts uploaded in parallel."),
    str_opt("s3_store_cacert", "", "CA bundle for the S3 endpoint."),
    str_opt("s3_store_object_buffer_dir", None, "Temporary directory for uploads (classic)."),
]

_SWIFT = [
    bool_opt("swift_enable_snet", False, "Use Rackspace ServiceNet (classic)."),
    str_opt("swift_store_auth_address", None, "Auth endpoint of Swift or Keystone."),
    str_opt("swift_store_user", None, "account:user or Keystone user.", secret=True),
    str_opt("swift_store_key", None, "Password or key of that user.", secret=True),
    str_opt("swift_store_auth_version", "2", "Auth protocol: 1 (swauth/tempauth), 2 or 3."),
    bool_opt("swift_store_auth_insecure", False, "Skip the auth endpoint's certificate check."),
    str_opt("swift_store_cacert", None, "CA bundle for Swift."),
    str_opt("swift_store_region", None, "Region picked from the service catalog."),
    str_opt("swift_store_endpoint", None, "Swift URL, bypassing the catalog."),
    str_opt(
        "swift_store_endpoint_type",
        "publicURL",
        "Catalog interface to use.",
        choices=("publicURL", "adminURL", "internalURL"),
    ),
    str_opt("swift_store_service_type", "object-store", "Catalog service type."),
    str_opt("swift_store_container", "glance", "Container (or prefix) images go to."),
    int_opt(
        "swift_store_large_object_size",
        5120,
        "Size in MiB from which uploads are segmented.",
        min=1,
    ),
    int_opt("swift_store_large_object_chunk_size", 200, "Segment size in MiB.", min=1),
    bool_opt("swift_store_create_container_on_put", False, "Create the container when missing."),
    bool_opt("swift_store_multi_tenant", False, "Store images in the owner's account."),
    int_opt(
        "swift_store_multiple_containers_seed",
        0,
        "Spread images over containers by id prefix length.",
        min=0,
        max=32,
    ),
    list_opt("swift_store_admin_tenants", (), "Projects granted access in multi-tenant mode."),
    bool_opt("swift_store_ssl_compression", True, "Allow TLS compression."),
    int_opt("swift_store_retry_get_count", 0, "Resumes of a failed download.", min=0),
    int_opt(
        "swift_store_expire_soon_interval",
        60,
        "Refresh tokens expiring within this many seconds.",
        min=0,
    ),
    bool_opt("swift_store_use_trusts", True, "Use Keystone trusts in multi-tenant mode."),
    bool_opt("swift_buffer_on_upload", False, "Buffer segments on disk to retry them."),
    str_opt("swift_upload_buffer_dir", None, "Directory for those buffers."),
    str_opt("default_swift_reference", "ref1", "Entry of swift_store_config_file to use."),
    str_opt("swift_store_config_file", None, "File of named Swift credentials."),
]

_CINDER = [
    str_opt("cinder_catalog_info", "volumev3::publicURL", "type:name:interface of Cinder."),
    str_opt("cinder_endpoint_template", None, "Cinder URL, bypassing the catalog."),
    str_opt(
        "cinder_os_region_name",
        None,
        "Region of Cinder.",
        deprecated=[("", "os_region_name"), ("DEFAULT", "os_region_name")],
    ),
    str_opt("cinder_ca_certificates_file", None, "CA bundle for Cinder."),
    int_opt("cinder_http_retries", 3, "Retries of failed Cinder calls.", min=0),
    int_opt("cinder_state_transition_timeout", 300, "Seconds to wait for a volume state.", min=0),
    bool_opt("cinder_api_insecure", False, "Skip Cinder's certificate check."),
    str_opt("cinder_store_auth_address", None, "Keystone URL of the Cinder service user."),
    str_opt("cinder_store_user_name", None, "Cinder service user."),
    str_opt("cinder_store_password", None, "Its password.", secret=True),
    str_opt("cinder_store_project_name", None, "Its project."),
    str_opt("cinder_store_user_domain_name", "Default", "Its domain."),
    str_opt("cinder_store_project_domain_name", "Default", "Its project's domain."),
    str_opt("rootwrap_config", "/etc/glance/rootwrap.conf", "rootwrap file for attachments."),
    str_opt("cinder_volume_type", None, "Volume type of new volumes."),
    bool_opt("cinder_use_multipath", False, "Attach volumes over multipath."),
    bool_opt("cinder_enforce_multipath", False, "Fail when multipath is unavailable."),
    str_opt("cinder_mount_point_base", "/var/lib/glance/mnt", "Where NFS volumes are mounted."),
    bool_opt("cinder_do_extend_attached", False, "Extend volumes while attached."),
]

_VMWARE = [
    str_opt("vmware_server_host", None, "vCenter or ESXi host."),
    str_opt("vmware_server_username", None, "Its user."),
    str_opt("vmware_server_password", None, "Its password.", secret=True),
    int_opt("vmware_api_retry_count", 10, "Retries of failed API calls.", min=1),
    int_opt("vmware_task_poll_interval", 5, "Seconds between task polls.", min=1),
    str_opt("vmware_store_image_dir", "/openstack_glance", "Datastore directory of images."),
    bool_opt(
        "vmware_insecure",
        False,
        "Skip the server's certificate check.",
        deprecated=[("", "vmware_api_insecure"), ("DEFAULT", "vmware_api_insecure")],
    ),
    str_opt("vmware_ca_file", None, "CA bundle for the server."),
    multi_opt("vmware_datastores", "datacenter:datastore:weight, repeatable."),
    str_opt("vmware_datacenter_path", "ha-datacenter", "Datacenter of the datastore (classic)."),
    str_opt("vmware_datastore_name", None, "Datastore images go to (classic)."),
]

_CLASSIC_ONLY = [
    str_opt("sheepdog_store_address", "localhost", "Sheepdog host (classic).", driver="sheepdog"),
    port_opt("sheepdog_store_port", 7000, "Sheepdog port (classic).", driver="sheepdog"),
    int_opt(
        "sheepdog_store_chunk_size", 64, "Sheepdog object size in MiB (classic).", driver="sheepdog"
    ),
    str_opt(
        "mongodb_store_uri",
        None,
        "MongoDB URI of the GridFS store (classic).",
        driver="gridfs",
        secret=True,
    ),
    str_opt("mongodb_store_db", None, "MongoDB database (classic).", driver="gridfs"),
]


def _for(driver: str, opts: list[Opt]) -> list[Opt]:
    return [o if o.driver else replace(o, driver=driver) for o in opts]


STORE_OPTIONS: tuple[Opt, ...] = tuple(
    in_section(
        "glance_store",
        _GENERAL
        + _for("file", _FILE)
        + _for("http", _HTTP)
        + _for("rbd", _RBD)
        + _for("s3", _S3)
        + _for("swift", _SWIFT)
        + _for("cinder", _CINDER)
        + _for("vmware", _VMWARE)
        + _CLASSIC_ONLY,
        also="DEFAULT",
    )
)
"""Every store option, declared in ``[glance_store]`` and also read from ``[DEFAULT]``."""

STORE_DRIVERS: frozenset[str] = frozenset(
    {"file", "http", "rbd", "s3", "swift", "cinder", "vmware", "sheepdog", "gridfs"}
)
"""Backend types ``enabled_backends`` may name."""

RESERVED_BACKENDS: dict[str, str] = {
    "os_glance_staging_store": "file",
    "os_glance_tasks_store": "file",
}
"""Backend sections Glance always reads, for its staging and task areas."""
