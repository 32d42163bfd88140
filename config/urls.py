from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from accounts.urls import auth_urlpatterns
from accounts.urls import router as accounts_router
from analytics.admin_dashboard import analytics_dashboard
from analytics.urls import router as analytics_router
from config.api_router import ApiRouter
from config.health import healthz
from config.metrics import metrics
from delivery.urls import router as delivery_router
from events.urls import router as events_router
from reporting.urls import router as reporting_router
from reporting.views import signed_download

# One browsable API root for every app's viewsets, and one per group of them
# (business-intelligence/, analytics/, auth/). Paths work with and without a trailing slash, so
# the product descriptions' examples (POST …/report-templates) work as written.
api_router = ApiRouter(extra_groups={"auth": auth_urlpatterns})
api_router.trailing_slash = "/?"
for app_router in (
    accounts_router,
    reporting_router,
    delivery_router,
    events_router,
    analytics_router,
):
    api_router.registry.extend(app_router.registry)

api_v1 = [
    path("auth/", include(auth_urlpatterns)),
    path("", include(api_router.urls)),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index")),
    # Before admin/, whose catch-all would answer this path first. Not named "analytics-dashboard":
    # that is the API's /api/v1/analytics/dashboard (DRF's route name), which its root reverses.
    path(
        "admin/analytics/dashboard/",
        admin.site.admin_view(analytics_dashboard),
        name="admin-analytics-dashboard",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI and Redoc load their scripts from drf-spectacular-sidecar's static files.
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html"),
        name="redoc",
    ),
    path("api-auth/", include("rest_framework.urls")),
    path("healthz", healthz, name="healthz"),
    # A plain Django view, so it stays out of the OpenAPI schema (and schemathesis' runs).
    path("metrics", metrics, name="metrics"),
    path("r/<str:token>", signed_download, name="report-output-link"),
]

# Database, cache or broker unavailable: a 503 naming it instead of the 500 page.
handler500 = "config.outages.server_error"
