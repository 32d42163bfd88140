import django_filters

from reporting.models import ReportAccessLog, ReportExecution, ReportUsageMetric


class ReportExecutionFilter(django_filters.FilterSet):
    queued_after = django_filters.IsoDateTimeFilter(field_name="queued_at", lookup_expr="gte")
    queued_before = django_filters.IsoDateTimeFilter(field_name="queued_at", lookup_expr="lt")

    class Meta:
        model = ReportExecution
        fields = ["status", "template", "trigger", "requested_by"]


class ReportAccessLogFilter(django_filters.FilterSet):
    after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ReportAccessLog
        fields = ["action", "user", "template", "execution", "output"]


class ReportUsageMetricFilter(django_filters.FilterSet):
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte")

    class Meta:
        model = ReportUsageMetric
        fields = ["template", "date"]
