from rest_framework.routers import SimpleRouter

from events.api import (
    EquipmentUsageViewSet,
    InventoryRecordViewSet,
    ProjectRecordViewSet,
    RevenueTransactionViewSet,
    UsageEventViewSet,
)

router = SimpleRouter()
router.register("analytics/events", UsageEventViewSet, basename="usage-event")
# The fact tables' basenames are their names in services.FACT_TABLES.
router.register("analytics/equipment-usage", EquipmentUsageViewSet, basename="equipment-usage")
router.register("analytics/inventory-records", InventoryRecordViewSet,
                basename="inventory-records")  # fmt: skip
router.register("analytics/project-records", ProjectRecordViewSet, basename="project-records")
router.register("analytics/revenue-transactions", RevenueTransactionViewSet,
                basename="revenue-transactions")  # fmt: skip
