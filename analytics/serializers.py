"""Query parameters and the response shapes of the analytics answers (for OpenAPI)."""

from rest_framework import serializers

from analytics.ranges import RangeError, range_resolve
from analytics.sections import PERIODS


class RangeQuerySerializer(serializers.Serializer):
    start_date = serializers.DateField(
        required=False, help_text="First local day; default: 29 days before end_date"
    )
    end_date = serializers.DateField(required=False, help_text="Last local day; default: today")

    def validate(self, attrs):
        try:
            start, end = range_resolve(
                organization=self.context["organization"],
                start_date=attrs.get("start_date"),
                end_date=attrs.get("end_date"),
            )
        except RangeError as error:
            raise serializers.ValidationError({error.field: error.reason}) from None
        return {**attrs, "start_date": start, "end_date": end}


class PeriodQuerySerializer(RangeQuerySerializer):
    period = serializers.ChoiceField(
        choices=PERIODS,
        default="daily",
        help_text="Series buckets: days, weeks from Monday, months",
    )


def _counts(help_text: str) -> serializers.DictField:
    return serializers.DictField(child=serializers.IntegerField(), help_text=help_text)


def _amounts(help_text: str) -> serializers.DictField:
    return serializers.DictField(child=_money(), help_text=help_text)


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=14, decimal_places=2, **kwargs)


def _percent(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text)


class HeaderSerializer(serializers.Serializer):
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    time_zone = serializers.CharField(help_text="Days, weeks and hours are local to it")
    is_mock = serializers.BooleanField(
        help_text="Generated demo data (ANALYTICS_USE_MOCK_DATA and no data yet)"
    )
    computed_at = serializers.DateTimeField(help_text="When this answer was computed")


class PeriodHeaderSerializer(HeaderSerializer):
    period = serializers.ChoiceField(choices=PERIODS)


class PeriodStartSerializer(serializers.Serializer):
    period_start = serializers.DateField(help_text="The day, the week's Monday or the month's 1st")


# --- usage -----------------------------------------------------------------------------------


class UsageTotalsSerializer(serializers.Serializer):
    events = serializers.IntegerField()
    logins = serializers.IntegerField()
    active_users = serializers.IntegerField(help_text="Distinct users over the whole range")


class UsagePeriodSerializer(PeriodStartSerializer):
    events = serializers.IntegerField()
    active_users = serializers.IntegerField(help_text="Distinct users in the period")
    logins = serializers.IntegerField()
    events_by_type = _counts("Events by event_type")
    events_by_category = _counts("Events by event_category")


class PeakHourSerializer(serializers.Serializer):
    hour = serializers.IntegerField(min_value=0, max_value=23, help_text="Local hour of the day")
    events = serializers.IntegerField()


class WeekdayHourSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(
        min_value=0, max_value=6, help_text="Local weekday, 0 is Monday"
    )
    hour = serializers.IntegerField(min_value=0, max_value=23, help_text="Local hour of the day")
    events = serializers.IntegerField()


class LoginPatternSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(min_value=0, max_value=6, help_text="0 is Monday")
    logins = serializers.IntegerField()
    mean_logins = serializers.FloatField(help_text="Per such day of the range up to today")


class UsageSectionSerializer(serializers.Serializer):
    totals = UsageTotalsSerializer()
    events_by_type = _counts("Events by event_type over the range")
    events_by_category = _counts("Events by event_category over the range")
    peak_hours = PeakHourSerializer(many=True, help_text="24 rows, hours 0 to 23")
    peak_hour = serializers.IntegerField(allow_null=True, help_text="The busiest local hour")
    peak_hours_by_weekday = WeekdayHourSerializer(
        many=True, help_text="168 rows: weekday 0 (Monday) to 6, each with hours 0 to 23"
    )
    login_patterns = LoginPatternSerializer(many=True, help_text="7 rows, Monday first")
    series = UsagePeriodSerializer(many=True)


class UsageSerializer(PeriodHeaderSerializer, UsageSectionSerializer):
    pass


# --- overview --------------------------------------------------------------------------------


class TopEventTypeSerializer(serializers.Serializer):
    event_type = serializers.CharField()
    events = serializers.IntegerField()


class OverviewSectionSerializer(serializers.Serializer):
    total_events = serializers.IntegerField()
    active_users = serializers.IntegerField()
    events_today = serializers.IntegerField()
    top_event_type = TopEventTypeSerializer(allow_null=True)
    revenue = _money()
    equipment_hours = serializers.FloatField()
    equipment_utilisation_percent = _percent("Of the opening hours of every machine used")
    inventory_cost = _money()
    active_projects = serializers.IntegerField(help_text="Open in the range, status active")


class OverviewSerializer(HeaderSerializer, OverviewSectionSerializer):
    pass


# --- inventory -------------------------------------------------------------------------------


class InventoryNumbersSerializer(serializers.Serializer):
    quantity_consumed = serializers.FloatField()
    cost_consumed = _money()
    mean_efficiency = _percent("Mean efficiency_score of the records")
    mean_waste_percentage = _percent("Mean waste_percentage of the records")
    reorders = serializers.IntegerField(help_text="Records with reorder_triggered")


class InventoryTotalsSerializer(InventoryNumbersSerializer):
    items = serializers.IntegerField()


class InventoryItemSerializer(InventoryNumbersSerializer):
    item_id = serializers.CharField()
    item_name = serializers.CharField()
    category = serializers.CharField()


class InventoryCategorySerializer(serializers.Serializer):
    category = serializers.CharField()
    quantity_consumed = serializers.FloatField()
    cost_consumed = _money()


class InventoryReorderSerializer(serializers.Serializer):
    item_id = serializers.CharField()
    item_name = serializers.CharField()
    reorders = serializers.IntegerField()


class InventoryPeriodSerializer(PeriodStartSerializer):
    quantity_consumed = serializers.FloatField()
    cost_consumed = _money()
    reorders = serializers.IntegerField()


class InventorySectionSerializer(serializers.Serializer):
    totals = InventoryTotalsSerializer()
    top_items = InventoryItemSerializer(many=True, help_text="The 10 costliest items")
    by_category = InventoryCategorySerializer(many=True)
    reorders = InventoryReorderSerializer(many=True, help_text="Items reordered, most first")
    series = InventoryPeriodSerializer(many=True)


class InventorySerializer(PeriodHeaderSerializer, InventorySectionSerializer):
    pass


# --- equipment -------------------------------------------------------------------------------


class EquipmentNumbersSerializer(serializers.Serializer):
    sessions = serializers.IntegerField(help_text="Sessions other than maintenance")
    minutes = serializers.IntegerField(help_text="Minutes of those sessions")
    maintenance_sessions = serializers.IntegerField(help_text='usage_type "maintenance"')
    maintenance_minutes = serializers.IntegerField()
    failed_sessions = serializers.IntegerField()
    mean_session_minutes = serializers.FloatField(allow_null=True)
    utilisation_percent = _percent("Minutes used over the opening minutes up to today")
    revenue = _money()
    cost = _money()


class EquipmentRowSerializer(EquipmentNumbersSerializer):
    equipment_id = serializers.CharField()
    equipment_name = serializers.CharField()
    equipment_type = serializers.CharField()
    revenue_per_hour = _money(allow_null=True)


class EquipmentTypeSerializer(serializers.Serializer):
    equipment_type = serializers.CharField()
    sessions = serializers.IntegerField()
    minutes = serializers.IntegerField()
    revenue = _money()


class EquipmentPeriodSerializer(PeriodStartSerializer):
    sessions = serializers.IntegerField()
    minutes = serializers.IntegerField()
    maintenance_sessions = serializers.IntegerField()
    revenue = _money()


class EquipmentSectionSerializer(serializers.Serializer):
    open_minutes = serializers.IntegerField(
        help_text="Opening minutes of one machine over the range up to today"
    )
    totals = EquipmentNumbersSerializer()
    equipment = EquipmentRowSerializer(many=True, help_text="Most used first")
    by_type = EquipmentTypeSerializer(many=True)
    series = EquipmentPeriodSerializer(many=True)


class EquipmentSerializer(PeriodHeaderSerializer, EquipmentSectionSerializer):
    pass


# --- projects --------------------------------------------------------------------------------


class ProjectTotalsSerializer(serializers.Serializer):
    projects = serializers.IntegerField(help_text="Open at some point in the range")
    completed = serializers.IntegerField()
    mean_duration_days = serializers.FloatField(
        allow_null=True, help_text="Start to end of the completed ones"
    )
    bom_cost = _money()
    mean_bom_cost = _money(allow_null=True)
    bom_items = serializers.IntegerField()


class MaterialSerializer(serializers.Serializer):
    item = serializers.CharField()
    quantity = serializers.FloatField()
    cost = _money(help_text="Quantity times unit cost over the projects")
    projects = serializers.IntegerField()


class ProjectPeriodSerializer(PeriodStartSerializer):
    started = serializers.IntegerField()
    completed = serializers.IntegerField()


class ProjectsSectionSerializer(serializers.Serializer):
    totals = ProjectTotalsSerializer()
    by_status = _counts("Projects by status")
    top_materials = MaterialSerializer(many=True, help_text="The 10 costliest BOM items")
    series = ProjectPeriodSerializer(many=True)


class ProjectsSerializer(PeriodHeaderSerializer, ProjectsSectionSerializer):
    pass


# --- revenue ---------------------------------------------------------------------------------


class RevenueTotalsSerializer(serializers.Serializer):
    amount = _money()
    transactions = serializers.IntegerField()
    mean_transaction = _money(allow_null=True)
    previous_amount = _money(help_text="The range of the same length just before")
    growth_percent = _percent("Against previous_amount; null when that was 0")


class RevenuePeriodSerializer(PeriodStartSerializer):
    amount = _money()
    transactions = serializers.IntegerField()
    by_source = _amounts("Amount by revenue_source")
    by_payment_method = _amounts("Amount by payment_method")
    growth_percent = _percent("Against the period before; null for the first")


class RevenueSectionSerializer(serializers.Serializer):
    totals = RevenueTotalsSerializer()
    by_source = _amounts("Amount by revenue_source")
    by_payment_method = _amounts("Amount by payment_method")
    series = RevenuePeriodSerializer(many=True)


class RevenueSerializer(PeriodHeaderSerializer, RevenueSectionSerializer):
    pass


class DashboardSerializer(PeriodHeaderSerializer):
    overview = OverviewSectionSerializer()
    usage = UsageSectionSerializer()
    inventory = InventorySectionSerializer()
    equipment = EquipmentSectionSerializer()
    projects = ProjectsSectionSerializer()
    revenue = RevenueSectionSerializer()
