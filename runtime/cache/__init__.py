"""The cache core, free of Ray: kinds and TTLs, the memory and Redis tiers, freshness guard."""

from runtime.cache.guard import FillGuard
from runtime.cache.kinds import (
    CacheKind,
    CachePolicy,
    clock_version,
    robot_version,
)
from runtime.cache.memory import MemoryTier
from runtime.cache.redis_tier import RedisTier
from runtime.cache.stats import (
    CacheStats,
    MetricFamily,
    PushedMetrics,
    metric_families,
    prometheus_text,
)
from runtime.cache.tiered import FleetCache
from runtime.config import Settings

__all__ = [
    "CacheKind",
    "CachePolicy",
    "CacheStats",
    "FillGuard",
    "FleetCache",
    "MemoryTier",
    "MetricFamily",
    "PushedMetrics",
    "RedisTier",
    "clock_version",
    "metric_families",
    "policy_from_settings",
    "prometheus_text",
    "robot_version",
]


def policy_from_settings(settings: Settings) -> CachePolicy:
    """The cache policy a deployment's settings describe."""
    return CachePolicy(
        ttl_s={
            CacheKind.ROBOT: settings.cache_ttl_robot_s,
            CacheKind.ROBOT_LIST: settings.cache_ttl_robot_s,
            CacheKind.MODULE_HEALTH: settings.cache_ttl_module_health_s,
            CacheKind.PERFORMANCE: settings.cache_ttl_performance_s,
            CacheKind.CONFIG: settings.cache_ttl_config_s,
            CacheKind.API_KEY: settings.cache_ttl_api_key_s,
        },
        max_entries=settings.cache_max_entries,
        max_bytes=settings.cache_max_bytes,
        compress_min_bytes=settings.cache_compress_min_bytes,
    )
