"""The project's admin site: Django's, plus admin pages that are not a model's changelist.

Installed through `StudioAdminConfig` in INSTALLED_APPS, so `django.contrib.admin.site`
(and every `@admin.register`) is this site.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.urls import URLPattern, URLResolver


class StudioAdminSite(admin.AdminSite):
    site_header = "Relevance Studio"
    site_title = "Relevance Studio"
    index_title = "Administration"

    def get_urls(self) -> list[URLResolver | URLPattern]:
        # Imported here: this module loads with INSTALLED_APPS, before models may be imported.
        from annotation.admin_import import admin_import_urls
        from modeling.admin_views import admin_run_urls

        # Before Django's own patterns, so "annotation/import/" is not read as a model URL.
        return [*admin_import_urls(), *admin_run_urls(), *super().get_urls()]


class StudioAdminConfig(AdminConfig):
    default_site = "relevance_site.admin_site.StudioAdminSite"
