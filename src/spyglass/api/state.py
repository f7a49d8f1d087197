"""The services one running API server shares across requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from spyglass.api.v2.views import ViewOptions
from spyglass.config import Settings
from spyglass.services.download import DownloadService
from spyglass.services.images import ImageService
from spyglass.services.imports import ImportService
from spyglass.services.members import MemberService
from spyglass.services.metadefs import MetadefService
from spyglass.services.recovery import Recovery
from spyglass.services.stores import StoreService
from spyglass.services.tasks import TaskService
from spyglass.services.upload import UploadService

if TYPE_CHECKING:
    from spyglass.cache.management import CacheManager


@dataclass
class Services:
    settings: Settings
    images: ImageService
    members: MemberService
    uploads: UploadService
    downloads: DownloadService
    views: ViewOptions
    cache: CacheManager | None = None
    """The image cache's management, when ``image_cache_dir`` is set."""
    metadefs: MetadefService | None = None
    """The metadata definitions catalog."""
    stores: StoreService | None = None
    """Multi-store discovery and per-store deletes."""
    imports: ImportService | None = None
    """Staging and interoperable import."""
    recovery: Recovery | None = None
    """Puts images whose upload died with its server back to ``queued``."""
    tasks: TaskService | None = None
    """The tasks API."""
